//! `ConfigError`: everything that can go wrong reading or writing dario's files.
//!
//! Owns: the wording of configuration errors (file, line, column, problem, next step). Must not:
//! ever carry a credential value — messages built from parser output go through
//! [`sanitize_message`] first.

use std::path::Path;

/// An error of the configuration layer. Every message names the file (when there is one) and
/// says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `DARIO_HOME` nor a user home directory is known.
    #[error("cannot locate dario's home directory: set DARIO_HOME to a directory dario may use")]
    NoHome,

    /// A file system operation failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// `config.toml` does not parse or does not fit the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Toml {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// A backend JSON file does not parse or does not fit the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// A file parsed but says something dario cannot accept.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },

    /// A file holding a stored key is readable by other users.
    #[error(
        "{path} holds a `key` but other users may read it (mode {mode:04o}): run `chmod 600 {path}` \
         (or use `key_env` instead of `key`)"
    )]
    InsecureFile { path: String, mode: u32 },

    /// A backend (or deployment) name breaks the naming rule.
    #[error(
        "invalid {what} name `{name}`: {reason} (use 1–64 letters, digits, `.`, `_`, `-`, \
         starting with a letter or digit)"
    )]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    /// A value given on the command line (or in code) is not acceptable.
    #[error("{0}")]
    InvalidValue(String),

    /// `remove_backend` found no file for that name.
    #[error("no backend file for `{name}` in {dir}: see `dario backend list`")]
    BackendNotFound { name: String, dir: String },
}

impl ConfigError {
    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        ConfigError::Io {
            path: display_path(path),
            action,
            source,
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: display_path(path),
            message: message.into(),
        }
    }
}

/// A path as shown to the user: the home directory abbreviated to `~`.
pub fn display_path(path: &Path) -> String {
    if let Some(home) = dirs::home_dir() {
        if !home.as_os_str().is_empty() && home != Path::new("/") {
            if let Ok(rest) = path.strip_prefix(&home) {
                return if rest.as_os_str().is_empty() {
                    "~".to_string()
                } else {
                    format!("~/{}", rest.display())
                };
            }
        }
    }
    path.display().to_string()
}

/// 1-based line and column of a byte offset in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Removes values a parser may have echoed into its message, so that a credential written into
/// the wrong place never reaches the terminal: serde's `string "…"` becomes `a string`, and any
/// quoted or back-ticked token that looks like a key (long, or `sk-…`) becomes `***`.
pub(crate) fn sanitize_message(message: &str) -> String {
    // 1. serde's `Unexpected::Str` rendering: `string "value"`.
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find("string \"") {
        out.push_str(&rest[..pos]);
        out.push_str("a string");
        let after = &rest[pos + "string \"".len()..];
        // Skip to the closing quote (serde escapes inner quotes with a backslash).
        let mut end = after.len();
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i + 1;
                break;
            }
        }
        rest = &after[end.min(after.len())..];
    }
    out.push_str(rest);

    // 2. Quoted or back-ticked tokens that look like keys.
    let mut result = String::with_capacity(out.len());
    let mut chars = out.char_indices().peekable();
    let bytes = out.as_str();
    while let Some((i, c)) = chars.next() {
        if c == '`' || c == '"' {
            if let Some(close) = bytes[i + 1..].find(c) {
                let token = &bytes[i + 1..i + 1 + close];
                if looks_like_key(token) {
                    result.push(c);
                    result.push_str("***");
                    result.push(c);
                } else {
                    result.push(c);
                    result.push_str(token);
                    result.push(c);
                }
                // Advance past the closing delimiter.
                let stop = i + 1 + close;
                while let Some(&(j, _)) = chars.peek() {
                    if j > stop {
                        break;
                    }
                    chars.next();
                }
                continue;
            }
        }
        result.push(c);
    }
    result
}

fn looks_like_key(token: &str) -> bool {
    let t = token.trim();
    crate::redact::looks_like_key(t)
        || t.len() >= 32
        || t.starts_with("sk-")
        || t.starts_with("gsk_")
        || t.to_ascii_lowercase().starts_with("bearer ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n  ccc";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 15), (3, 3));
        assert_eq!(line_col(text, 999), (3, 6));
    }

    #[test]
    fn sanitize_drops_echoed_strings_and_key_shapes() {
        let m = sanitize_message("invalid type: string \"sk-ant-secret\\\"x\", expected a boolean");
        assert_eq!(m, "invalid type: a string, expected a boolean");
        let m = sanitize_message("unknown variant `sk-proj-abc`, expected `anthropic` or `openai`");
        assert_eq!(m, "unknown variant `***`, expected `anthropic` or `openai`");
        let m = sanitize_message("unknown field `backnd`, expected one of `a`, `b`");
        assert_eq!(m, "unknown field `backnd`, expected one of `a`, `b`");
    }

    #[test]
    fn display_path_abbreviates_home() {
        if let Some(home) = dirs::home_dir() {
            if home != Path::new("/") {
                assert_eq!(
                    display_path(&home.join(".dario/config.toml")),
                    "~/.dario/config.toml"
                );
            }
        }
        assert_eq!(
            display_path(Path::new("/nonexistent-root-x/a")),
            "/nonexistent-root-x/a"
        );
    }
}
