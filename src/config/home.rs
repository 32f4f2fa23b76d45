//! `Home`: where dario keeps its files (`DARIO_HOME`, else `~/.dario`).
//!
//! Owns: the layout of the home directory and creating it with mode 0700. Must not: change the
//! mode of a directory that already exists (doctor reports loose permissions instead).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// dario's home directory and the paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `DARIO_HOME` when set (and not empty), else `~/.dario`.
    pub fn resolve() -> Result<Home, ConfigError> {
        Home::resolve_with_env(&|k| std::env::var(k).ok())
    }

    /// As [`Home::resolve`], reading variables through `env` (for tests).
    pub fn resolve_with_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Home, ConfigError> {
        if let Some(dir) = env("DARIO_HOME").filter(|d| !d.trim().is_empty()) {
            let dir = PathBuf::from(dir);
            let dir = if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .map_err(|e| ConfigError::io(&dir, "resolve DARIO_HOME", e))?
                    .join(dir)
            };
            return Ok(Home { dir });
        }
        let home = dirs::home_dir().ok_or(ConfigError::NoHome)?;
        Ok(Home {
            dir: home.join(".dario"),
        })
    }

    /// A home at an explicit directory.
    pub fn at(dir: PathBuf) -> Home {
        Home { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<home>/backends`, one `<name>.json` per backend.
    pub fn backends_dir(&self) -> PathBuf {
        self.dir.join("backends")
    }

    /// `<home>/config.toml`.
    pub fn config_toml(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// `<home>/backends/<name>.json` (the name is not validated here).
    pub fn backend_file(&self, name: &str) -> PathBuf {
        self.backends_dir().join(format!("{name}.json"))
    }

    /// Creates the home directory (and `backends/`) with mode 0700 when missing. An existing
    /// directory keeps its mode: dario never loosens it, and never changes it behind the user's
    /// back (`dario doctor` reports a loose mode).
    pub fn ensure(&self) -> Result<(), ConfigError> {
        create_private_dir(&self.dir)?;
        create_private_dir(&self.backends_dir())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(ConfigError::invalid(
                dir,
                "exists but is not a directory: move it away or set DARIO_HOME elsewhere",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ConfigError::io(dir, "inspect", e)),
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| ConfigError::io(dir, "create directory", e))
}

/// Unix permission bits of a path (`None` elsewhere or when it cannot be read).
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_prefers_dario_home() {
        let h = Home::resolve_with_env(&|k| (k == "DARIO_HOME").then(|| "/tmp/dh".to_string()))
            .unwrap();
        assert_eq!(h.dir(), Path::new("/tmp/dh"));
        assert_eq!(h.backends_dir(), Path::new("/tmp/dh/backends"));
        assert_eq!(h.config_toml(), Path::new("/tmp/dh/config.toml"));
        assert_eq!(
            h.backend_file("groq"),
            Path::new("/tmp/dh/backends/groq.json")
        );
        if let Some(home) = dirs::home_dir() {
            let h = Home::resolve_with_env(&|_| None).unwrap();
            assert_eq!(h.dir(), home.join(".dario"));
            let h = Home::resolve_with_env(&|_| Some(String::new())).unwrap();
            assert_eq!(h.dir(), home.join(".dario"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn ensure_creates_0700_and_leaves_existing_modes_alone() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("h"));
        home.ensure().unwrap();
        assert_eq!(mode_of(home.dir()), Some(0o700));
        assert_eq!(mode_of(&home.backends_dir()), Some(0o700));
        // An existing directory keeps its mode (tighter or looser).
        std::fs::set_permissions(home.dir(), std::fs::Permissions::from_mode(0o750)).unwrap();
        home.ensure().unwrap();
        assert_eq!(mode_of(home.dir()), Some(0o750));
        // A file where the directory should be is an error.
        let f = tmp.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(Home::at(f).ensure().is_err());
    }
}
