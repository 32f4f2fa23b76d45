//! The Claude Code sub-agent: template (embedded from `agents/dario.md`), install/remove/status
//! (SPEC §9).
//!
//! Owns: rendering the template, classifying an installed file (current / stale / locally
//! modified / no marker / newer), and writing or removing exactly one file (plus `dario.md.bak`
//! when `--force` replaces a locally modified file). Must not: touch any other file, remove the
//! agents directory, or print anything (the CLI and the MCP server render what this returns).
//!
//! ## How an installed file is classified
//! The file's SHA-256 is compared with the hash of what this binary renders, then with
//! [`RELEASED`], a table of the hashes every released version of dario rendered.
//! 1. No file → [`State::NotInstalled`].
//! 2. Same bytes as this binary renders → [`State::Current`].
//! 3. No `<!-- dario-sub-agent-version: X -->` marker → [`State::NoMarker`] (not ours, or the
//!    marker was deleted): never overwritten or removed without `--force`.
//! 4. Bytes are what the marker's version wrote, i.e. the hash is listed in [`RELEASED`], or the
//!    bytes equal this binary's template rendered with the marker's version (the template text
//!    did not change since that release, only the marker did) → untouched since:
//!    [`State::Stale`] when that version is not newer than this binary, [`State::Newer`] otherwise.
//! 5. Otherwise, marker names a version newer than this binary → [`State::Newer`] (we cannot
//!    tell whether it was edited; a newer dario owns it).
//! 6. Otherwise → [`State::LocallyModified`]: whatever its marker says, the bytes are not what
//!    any known dario wrote, so they are the user's edits.
//!
//! `install` overwrites only `NotInstalled` (creates) and `Stale` (updates); `Current` is left
//! unchanged; everything else needs `--force`, which first saves the old file as `dario.md.bak`
//! (replacing an older `.bak`). Comparison is byte-exact: an editor that only changed line endings
//! has modified the file.

use std::fs;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The template as it sits in the repository; `{{version}}` is replaced by [`crate::VERSION`].
pub const TEMPLATE: &str = include_str!("../../agents/dario.md");

/// The text before the version in the marker line.
pub const MARKER_PREFIX: &str = "<!-- dario-sub-agent-version:";

/// The file name Claude Code loads the agent from.
pub const FILE_NAME: &str = "dario.md";

/// The file `--force` keeps the replaced file in. Claude Code loads only `*.md`, so the backup is
/// never loaded as a second agent.
pub const BACKUP_FILE_NAME: &str = "dario.md.bak";

/// SHA-256 (hex) of the file each released version of dario installed: `(version, sha256)`.
///
/// The current build's own rendering is always recognised as well (it is hashed at run time), so
/// this table lists *past* releases only. When cutting a release, append
/// `(version, sha256 of render())` — `dario subagent status --json` prints it as `template_sha256`.
/// A version may appear more than once.
pub const RELEASED: &[(&str, &str)] = &[];

const VERSION_PLACEHOLDER: &str = "{{version}}";

/// The sub-agent file this binary installs.
pub fn render() -> String {
    TEMPLATE.replace(VERSION_PLACEHOLDER, crate::VERSION)
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of [`render()`].
pub fn template_sha256() -> String {
    sha256_hex(render().as_bytes())
}

/// The version written in a file's marker line, if it has one.
pub fn marker_version(content: &str) -> Option<String> {
    content.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(MARKER_PREFIX)?;
        let version = rest.strip_suffix("-->")?.trim();
        (!version.is_empty()).then(|| version.to_string())
    })
}

/// Which file to manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `$CLAUDE_CONFIG_DIR/agents/dario.md`, default `~/.claude/agents/dario.md`.
    User,
    /// `./.claude/agents/dario.md` (relative to the current directory).
    Project,
}

/// Claude Code's configuration directory: `$CLAUDE_CONFIG_DIR` when set and non-empty, else
/// `~/.claude`. `None` when neither is known.
pub fn claude_config_dir() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::home_dir().map(|home| home.join(".claude")),
    }
}

/// The sub-agent file for `scope`.
pub fn target(scope: Scope) -> Result<PathBuf, SubagentError> {
    match scope {
        Scope::User => claude_config_dir()
            .map(|dir| dir.join("agents").join(FILE_NAME))
            .ok_or(SubagentError::NoHome),
        Scope::Project => std::env::current_dir()
            .map(|cwd| cwd.join(".claude").join("agents").join(FILE_NAME))
            .map_err(|source| SubagentError::Io {
                action: "read the current directory",
                path: PathBuf::from("."),
                source,
            }),
    }
}

/// What is at the target path, relative to what this binary would install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    NotInstalled,
    /// Byte-identical to what this binary installs.
    Current,
    /// Written by an earlier dario (`version`) and not edited since.
    Stale {
        version: String,
    },
    /// Edited after dario wrote it; `marker` is the version its marker line names.
    LocallyModified {
        marker: String,
    },
    /// The file has no dario marker line.
    NoMarker,
    /// Written by a newer dario than this binary.
    Newer {
        version: String,
    },
}

impl State {
    /// A short human description.
    pub fn describe(&self) -> String {
        match self {
            State::NotInstalled => "not installed".to_string(),
            State::Current => format!("current ({})", crate::VERSION),
            State::Stale { version } => {
                format!(
                    "stale (written by dario {version}, this is {})",
                    crate::VERSION
                )
            }
            State::LocallyModified { marker } => {
                format!("locally modified (edited after dario {marker} wrote it)")
            }
            State::NoMarker => {
                "no dario version marker (not written by dario, or the marker was removed)"
                    .to_string()
            }
            State::Newer { version } => {
                format!(
                    "written by a newer dario ({version}, this is {})",
                    crate::VERSION
                )
            }
        }
    }

    /// The command that brings this state to `Current`, if one is needed.
    pub fn fix(&self, scope: Scope) -> Option<String> {
        let project = if scope == Scope::Project {
            " --project"
        } else {
            ""
        };
        match self {
            State::Current => None,
            State::NotInstalled | State::Stale { .. } => {
                Some(format!("dario subagent install{project}"))
            }
            State::LocallyModified { .. } | State::NoMarker | State::Newer { .. } => Some(format!(
                "dario subagent install{project} --force   (keeps the old file as {BACKUP_FILE_NAME})"
            )),
        }
    }
}

/// The state of one target, as `dario subagent status` and the MCP `subagent_status` tool report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Status {
    pub scope: Scope,
    pub path: PathBuf,
    #[serde(flatten)]
    pub state: State,
    /// The version this binary installs.
    pub current_version: &'static str,
    /// SHA-256 of what this binary installs.
    pub template_sha256: String,
}

/// What the MCP `subagent_status` tool returns: every relevant target with its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SubagentReport {
    /// The version this binary installs.
    pub current_version: String,
    /// The user-level file, then the project-level one when it exists.
    pub targets: Vec<Status>,
    /// A human line per target: `user: <path> — <state>` (+ the fix when one is needed).
    pub summary: Vec<String>,
}

/// [`statuses`] wrapped for the MCP tool (an object, with readable lines).
pub fn report() -> Result<SubagentReport, SubagentError> {
    let targets = statuses()?;
    let summary = targets
        .iter()
        .map(|s| {
            let which = match s.scope {
                Scope::User => "user",
                Scope::Project => "project",
            };
            match s.state.fix(s.scope) {
                Some(fix) => format!(
                    "{which}: {} — {} → {fix}",
                    s.path.display(),
                    s.state.describe()
                ),
                None => format!("{which}: {} — {}", s.path.display(), s.state.describe()),
            }
        })
        .collect();
    Ok(SubagentReport {
        current_version: crate::VERSION.to_string(),
        targets,
        summary,
    })
}

/// Classify the file at `path` (see the module documentation for the rules).
pub fn status_of(scope: Scope, path: &Path) -> Result<Status, SubagentError> {
    let state = match read_existing(path)? {
        None => State::NotInstalled,
        Some(bytes) => classify(&bytes),
    };
    Ok(Status {
        scope,
        path: path.to_path_buf(),
        state,
        current_version: crate::VERSION,
        template_sha256: template_sha256(),
    })
}

/// Status of the target of `scope`.
pub fn status(scope: Scope) -> Result<Status, SubagentError> {
    status_of(scope, &target(scope)?)
}

/// The user-level status, plus the project-level one when `./.claude/agents/dario.md` exists.
pub fn statuses() -> Result<Vec<Status>, SubagentError> {
    let mut out = vec![status(Scope::User)?];
    if let Ok(project) = target(Scope::Project) {
        let project_status = status_of(Scope::Project, &project)?;
        if project_status.state != State::NotInstalled {
            out.push(project_status);
        }
    }
    Ok(out)
}

fn classify(bytes: &[u8]) -> State {
    let hash = sha256_hex(bytes);
    if hash == template_sha256() {
        return State::Current;
    }
    let Some(marker) = std::str::from_utf8(bytes).ok().and_then(marker_version) else {
        return State::NoMarker;
    };
    let known = RELEASED
        .iter()
        .find(|(_, sha)| *sha == hash)
        .map(|(version, _)| version.to_string())
        .or_else(|| {
            (TEMPLATE.replace(VERSION_PLACEHOLDER, &marker).as_bytes() == bytes)
                .then(|| marker.clone())
        });
    if let Some(version) = known {
        return if is_newer(&version, crate::VERSION) {
            State::Newer { version }
        } else {
            State::Stale { version }
        };
    }
    if is_newer(&marker, crate::VERSION) {
        State::Newer { version: marker }
    } else {
        State::LocallyModified { marker }
    }
}

/// `a > b` for dotted numeric versions (`0.10.1 > 0.9.3`); a pre-release suffix sorts before the
/// release. Unparseable versions are never "newer".
fn is_newer(a: &str, b: &str) -> bool {
    fn parse(v: &str) -> Option<(Vec<u64>, bool)> {
        let (core, pre) = match v.split_once(['-', '+']) {
            Some((core, _)) => (core, true),
            None => (v, false),
        };
        let nums = core
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        Some((nums, pre))
    }
    match (parse(a), parse(b)) {
        (Some((na, pa)), Some((nb, pb))) => match na.cmp(&nb) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => !pa && pb,
        },
        _ => false,
    }
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InstallOutcome {
    Created,
    /// Replaced an older file; `backup` is set when `--force` saved the old one.
    Updated {
        previous: State,
        backup: Option<PathBuf>,
    },
    Unchanged,
}

/// Result of `install`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallReport {
    pub path: PathBuf,
    #[serde(flatten)]
    pub outcome: InstallOutcome,
    pub version: &'static str,
}

/// Write the sub-agent to `path` (see the module documentation for when it refuses).
pub fn install_at(path: &Path, force: bool) -> Result<InstallReport, SubagentError> {
    let write_path = resolve_symlink(path)?;
    let existing = read_existing(&write_path)?;
    let content = render();
    let outcome = match existing {
        None => {
            if let Some(dir) = write_path.parent() {
                fs::create_dir_all(dir).map_err(|source| SubagentError::Io {
                    action: "create the directory",
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            write_atomic(&write_path, content.as_bytes())?;
            InstallOutcome::Created
        }
        Some(bytes) => match classify(&bytes) {
            State::Current => InstallOutcome::Unchanged,
            previous @ State::Stale { .. } => {
                write_atomic(&write_path, content.as_bytes())?;
                InstallOutcome::Updated {
                    previous,
                    backup: None,
                }
            }
            previous => {
                if !force {
                    return Err(SubagentError::Refused {
                        path: path.to_path_buf(),
                        state: previous.describe(),
                        next: format!(
                            "nothing was changed; re-run with --force to replace it (the current file is kept as {BACKUP_FILE_NAME})"
                        ),
                    });
                }
                let backup = write_path.with_file_name(BACKUP_FILE_NAME);
                write_atomic(&backup, &bytes)?;
                write_atomic(&write_path, content.as_bytes())?;
                InstallOutcome::Updated {
                    previous,
                    backup: Some(backup),
                }
            }
        },
    };
    Ok(InstallReport {
        path: path.to_path_buf(),
        outcome,
        version: crate::VERSION,
    })
}

/// Install into the target of `scope`.
pub fn install(scope: Scope, force: bool) -> Result<InstallReport, SubagentError> {
    install_at(&target(scope)?, force)
}

/// What `remove` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RemoveOutcome {
    Removed { previous: State },
    NothingToRemove,
}

/// Remove the sub-agent file at `path`. Files dario did not write unchanged (locally modified,
/// no marker) are kept unless `force`. Never removes the directory or any other file; a symlink
/// is removed itself, not its target.
pub fn remove_at(path: &Path, force: bool) -> Result<RemoveOutcome, SubagentError> {
    let Some(bytes) = read_existing(path)? else {
        return Ok(RemoveOutcome::NothingToRemove);
    };
    let previous = classify(&bytes);
    if matches!(previous, State::LocallyModified { .. } | State::NoMarker) && !force {
        return Err(SubagentError::Refused {
            path: path.to_path_buf(),
            state: previous.describe(),
            next: "nothing was removed; re-run with --force to delete it anyway".to_string(),
        });
    }
    fs::remove_file(path).map_err(|source| SubagentError::Io {
        action: "remove",
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        // Best effort: the removal is already visible; this makes it durable.
        let _ = crate::atomic_file::sync_dir(dir);
    }
    Ok(RemoveOutcome::Removed { previous })
}

/// Remove the target of `scope`.
pub fn remove(scope: Scope, force: bool) -> Result<RemoveOutcome, SubagentError> {
    remove_at(&target(scope)?, force)
}

/// Errors of the sub-agent lifecycle. Messages say what failed and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SubagentError {
    #[error("cannot find the home directory: set HOME, or CLAUDE_CONFIG_DIR to Claude Code's configuration directory")]
    NoHome,
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is {state}: {next}", path.display())]
    Refused {
        path: PathBuf,
        state: String,
        next: String,
    },
}

fn read_existing(path: &Path) -> Result<Option<Vec<u8>>, SubagentError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink reads as "not found" but is still something we must not clobber.
            if fs::symlink_metadata(path).is_ok() {
                Err(SubagentError::Io {
                    action: "read (it is a symlink to a missing file)",
                    path: path.to_path_buf(),
                    source: err,
                })
            } else {
                Ok(None)
            }
        }
        Err(source) => Err(SubagentError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A symlinked `dario.md` (dotfile managers) is written through, so the link survives.
fn resolve_symlink(path: &Path) -> Result<PathBuf, SubagentError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|source| SubagentError::Io {
                action: "follow the symlink",
                path: path.to_path_buf(),
                source,
            })
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// Replaces `path` atomically with a file of mode 0644 (`atomic_file::write`).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SubagentError> {
    crate::atomic_file::write(path, bytes, 0o644).map_err(|e| SubagentError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_current_version_into_the_marker() {
        let text = render();
        assert!(!text.contains(VERSION_PLACEHOLDER));
        assert_eq!(marker_version(&text).as_deref(), Some(crate::VERSION));
        assert!(text.starts_with("---\nname: dario\n"));
    }

    #[test]
    fn marker_parsing() {
        assert_eq!(
            marker_version("x\n<!-- dario-sub-agent-version: 0.0.9 -->\n").as_deref(),
            Some("0.0.9")
        );
        assert_eq!(
            marker_version("<!--dario-sub-agent-version:1.2.3-->"),
            None,
            "prefix must match exactly"
        );
        assert_eq!(marker_version("<!-- dario-sub-agent-version:  -->"), None);
        assert_eq!(marker_version("no marker"), None);
    }

    #[test]
    fn version_order() {
        assert!(is_newer("0.10.0", "0.9.9"));
        assert!(is_newer("1.0.0", "1.0.0-rc.1"));
        assert!(!is_newer("1.0.0-rc.1", "1.0.0"));
        assert!(!is_newer("0.1.0", "0.1.0"));
        assert!(!is_newer("banana", "0.1.0"));
        assert!(!is_newer("0.0.9", "0.1.0"));
    }

    #[test]
    fn classification_rules() {
        let current = render();
        assert_eq!(classify(current.as_bytes()), State::Current);
        let edited = current.replace("Keep it short.", "Keep it very short.");
        assert_eq!(
            classify(edited.as_bytes()),
            State::LocallyModified {
                marker: crate::VERSION.to_string()
            }
        );
        // Same template, older marker: what 0.0.1 wrote if the template did not change since.
        let older = TEMPLATE.replace(VERSION_PLACEHOLDER, "0.0.1");
        assert_eq!(
            classify(older.as_bytes()),
            State::Stale {
                version: "0.0.1".to_string()
            }
        );
        // An older marker whose bytes no release produced is treated as the user's edit.
        let older_edited = older.replace("Keep it short.", "Keep it very short.");
        assert_eq!(
            classify(older_edited.as_bytes()),
            State::LocallyModified {
                marker: "0.0.1".to_string()
            }
        );
        let newer = TEMPLATE.replace(VERSION_PLACEHOLDER, "999.0.0");
        assert_eq!(
            classify(newer.as_bytes()),
            State::Newer {
                version: "999.0.0".to_string()
            }
        );
        assert_eq!(classify(b"---\nname: dario\n---\nmine\n"), State::NoMarker);
    }

    #[test]
    fn released_table_is_well_formed() {
        for (version, sha) in RELEASED {
            assert!(!version.is_empty());
            assert_eq!(sha.len(), 64, "{version}: sha256 must be 64 hex digits");
            assert!(sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }
}
