//! Loading: built-in backends, then `backends/*.json` (sorted by name), then `config.toml`,
//! merged into one [`Config`].
//!
//! Owns: merge order and file digests. Must not: write anything, or skip a file it cannot read
//! (a malformed file is an error, never ignored).

use sha2::{Digest, Sha256};

use super::backend_file::{parse_backend_json, read_small_file, BackendFile};
use super::home::{mode_of, Home};
use super::toml_file::parse_config_toml;
use super::validate::validate_name;
use super::{BackendSource, Config, ConfigError, SourceFile};

/// Loads the effective configuration, reading environment variables from the process.
pub fn load(home: &Home) -> Result<Config, ConfigError> {
    load_with_env(home, &|k| std::env::var(k).ok())
}

/// Loads the effective configuration, reading environment variables through `env`.
pub fn load_with_env(
    home: &Home,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut config = Config::builtin(home.dir().to_path_buf(), env);

    for (path, name) in backend_file_paths(home)? {
        let Some(text) = read_small_file(&path)? else {
            continue; // removed between listing and reading
        };
        let file = parse_backend_json(&path, &name, &text)?;
        config.files.push(SourceFile {
            sha256: redacted_sha256(&text, &file),
            path: path.clone(),
        });
        let backend = file.to_config(BackendSource::BackendFile(path), env);
        config.backends.insert(name, backend);
    }

    let toml_path = home.config_toml();
    if let Some(text) = read_small_file(&toml_path)? {
        let parsed = parse_config_toml(&toml_path, &text)?;
        if parsed.has_stored_key {
            if let Some(mode) = mode_of(&toml_path) {
                if mode & 0o077 != 0 {
                    return Err(ConfigError::InsecureFile {
                        path: super::error::display_path(&toml_path),
                        mode,
                    });
                }
            }
        }
        let secrets_text = crate::redact::mask_whole(
            &text,
            parsed
                .backends
                .iter()
                .flat_map(|b| b.stored_secrets())
                .map(|s| s.expose()),
        );
        config.files.push(SourceFile {
            path: toml_path.clone(),
            sha256: hex::encode(Sha256::digest(secrets_text.as_bytes())),
        });
        for b in parsed.backends {
            let backend = b.to_config(BackendSource::ConfigToml(toml_path.clone()), env);
            config.backends.insert(b.name.clone(), backend);
        }
        config.default_backend = parsed.default_backend;
        config.aliases = parsed.aliases;
        config.routes = parsed.routes;
        if let Some(l) = parsed.limits {
            config.limits = l;
        }
        config.prices = parsed.prices;
        config.models = parsed.models;
        config.cluster = parsed.cluster.map(|mut c| {
            c.read_password(env);
            c
        });
        if let Some(h) = parsed.history {
            config.history = h;
        }
    }
    Ok(config)
}

/// `backends/*.json`, sorted by file name; hidden files (temp files) and other extensions are
/// skipped; a `.json` whose name breaks the naming rule is an error.
fn backend_file_paths(home: &Home) -> Result<Vec<(std::path::PathBuf, String)>, ConfigError> {
    let dir = home.backends_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ConfigError::io(&dir, "list", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ConfigError::io(&dir, "list", e))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            return Err(ConfigError::invalid(
                &entry.path(),
                "has a file name that is not UTF-8: rename or remove it",
            ));
        };
        if file_name.starts_with('.') {
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".json") else {
            continue;
        };
        let path = entry.path();
        validate_name("backend", stem).map_err(|e| {
            ConfigError::invalid(
                &path,
                format!("{e}; rename the file to `<valid-name>.json`"),
            )
        })?;
        out.push((path, stem.to_string()));
    }
    out.sort();
    Ok(out)
}

/// SHA-256 of a file with every stored key replaced by `***`: stable for digests, and no raw
/// credential is hashed into anything dario prints.
fn redacted_sha256(text: &str, file: &BackendFile) -> String {
    let masked = crate::redact::mask_whole(text, file.stored_secrets().iter().map(|s| s.expose()));
    hex::encode(Sha256::digest(masked.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Credential, Secret};
    use crate::protocol::Protocol;

    fn env_with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn write(path: &std::path::Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn empty_home_gives_builtins() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("none"));
        let c = load_with_env(&home, &|_| None).unwrap();
        assert_eq!(c.backends.len(), 2);
        assert_eq!(
            c.backends["anthropic"].base_url,
            "https://api.anthropic.com"
        );
        assert_eq!(c.backends["anthropic"].credential, Credential::Passthrough);
        assert_eq!(c.backends["openai"].base_url, "https://api.openai.com/v1");
        assert!(c.files.is_empty());
        let c = load_with_env(&home, &env_with(&[("ANTHROPIC_API_KEY", "sk-ant-x")])).unwrap();
        assert_eq!(
            c.backends["anthropic"].credential,
            Credential::KeyEnv {
                var: "ANTHROPIC_API_KEY".into(),
                value: Some(Secret::new("sk-ant-x"))
            }
        );
        // An empty variable counts as unset.
        let c = load_with_env(&home, &env_with(&[("OPENAI_API_KEY", "")])).unwrap();
        assert_eq!(c.backends["openai"].credential, Credential::Passthrough);
    }

    #[test]
    fn files_merge_in_order_and_replace_builtins() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().to_path_buf());
        write(
            &home.backend_file("anthropic"),
            r#"{"name":"anthropic","protocol":"anthropic","base_url":"http://127.0.0.1:9999/v1","passthrough":true}"#,
        );
        write(
            &home.backend_file("groq"),
            r#"{"provider":"openai","name":"groq","apiKey":"gsk_canary","baseUrl":"https://api.groq.com/openai/v1"}"#,
        );
        write(&home.backends_dir().join(".tmp-x.part"), "garbage");
        write(&home.backends_dir().join("notes.txt"), "garbage");
        write(
            &home.config_toml(),
            "default_backend = \"groq\"\n[backends.groq]\nbase_url = \"http://127.0.0.1:1/v1\"\n",
        );
        let c = load_with_env(&home, &|_| None).unwrap();
        assert_eq!(c.backends["anthropic"].base_url, "http://127.0.0.1:9999");
        assert!(matches!(
            c.backends["anthropic"].source,
            BackendSource::BackendFile(_)
        ));
        // config.toml comes last and wins.
        assert_eq!(c.backends["groq"].base_url, "http://127.0.0.1:1/v1");
        assert!(matches!(
            c.backends["groq"].source,
            BackendSource::ConfigToml(_)
        ));
        assert_eq!(c.default_backend.as_deref(), Some("groq"));
        let names: Vec<_> = c
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["anthropic.json", "groq.json", "config.toml"]);
        assert!(c.files.iter().all(|f| f.sha256.len() == 64));
    }

    #[test]
    fn file_digests_do_not_hash_raw_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().to_path_buf());
        let a = r#"{"name":"x","base_url":"http://h/v1","key":"sk-one"}"#;
        let b = r#"{"name":"x","base_url":"http://h/v1","key":"sk-two"}"#;
        write(&home.backend_file("x"), a);
        let d1 = load_with_env(&home, &|_| None).unwrap();
        write(&home.backend_file("x"), b);
        let d2 = load_with_env(&home, &|_| None).unwrap();
        assert_eq!(d1.files[0].sha256, d2.files[0].sha256);
        assert_ne!(
            d1.files[0].sha256,
            hex::encode(Sha256::digest(a.as_bytes()))
        );
        assert_eq!(d1.digest(), d2.digest());
        // A non-secret change changes both digests.
        write(
            &home.backend_file("x"),
            r#"{"name":"x","base_url":"http://h2/v1","key":"sk-two"}"#,
        );
        let d3 = load_with_env(&home, &|_| None).unwrap();
        assert_ne!(d3.files[0].sha256, d2.files[0].sha256);
        assert_ne!(d3.digest(), d2.digest());
        // An environment variable being set or not does not change the digest.
        let d4 = load_with_env(&home, &env_with(&[("OPENAI_API_KEY", "k")])).unwrap();
        assert_eq!(d4.digest(), d3.digest());
    }

    #[test]
    fn malformed_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().to_path_buf());
        write(&home.backends_dir().join("bad name.json"), "{}");
        let e = load_with_env(&home, &|_| None).unwrap_err().to_string();
        assert!(
            e.contains("bad name.json") && e.contains("invalid backend name"),
            "{e}"
        );
        std::fs::remove_file(home.backends_dir().join("bad name.json")).unwrap();
        write(&home.backend_file("x"), "{\"name\": ");
        let e = load_with_env(&home, &|_| None).unwrap_err().to_string();
        assert!(e.contains("x.json:1:"), "{e}");
        std::fs::remove_file(home.backend_file("x")).unwrap();
        write(&home.config_toml(), "[routes]\n");
        let e = load_with_env(&home, &|_| None).unwrap_err().to_string();
        assert!(e.contains("config.toml:1:"), "{e}");
        write(&home.config_toml(), &"#".repeat(2 * 1024 * 1024));
        assert!(load_with_env(&home, &|_| None).is_err());
        std::fs::write(home.config_toml(), [b'a', b'=', 0xff, b'\n']).unwrap();
        let e = load_with_env(&home, &|_| None).unwrap_err().to_string();
        assert!(e.contains("UTF-8"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn stored_key_in_config_toml_needs_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().to_path_buf());
        let text = "[backends.x]\nbase_url = \"http://h/v1\"\nkey = \"sk-canary\"\n";
        write(&home.config_toml(), text);
        std::fs::set_permissions(home.config_toml(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let e = load_with_env(&home, &|_| None).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("config.toml"), "{e}");
        assert!(!e.contains("canary"));
        std::fs::set_permissions(home.config_toml(), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let c = load_with_env(&home, &|_| None).unwrap();
        assert_eq!(c.backends["x"].protocol, Protocol::OpenAi);
        assert_eq!(
            c.backends["x"].credential.secret().unwrap().expose(),
            "sk-canary"
        );
        // Without a stored key, a readable config.toml is fine.
        write(
            &home.config_toml(),
            "[backends.x]\nbase_url = \"http://h/v1\"\n",
        );
        std::fs::set_permissions(home.config_toml(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert!(load_with_env(&home, &|_| None).is_ok());
    }
}
