//! Dangling references: a `[[routes]]` backend or fallback, or `default_backend`, naming a
//! backend that does not exist. Such a configuration sends every matching model to an error
//! (or nowhere), so `dario proxy` refuses it at start and on reload, naming file, line and the
//! backends that do exist.
//!
//! Owns: finding those references and their positions in `config.toml`. Must not: be called on
//! the async runtime (it reads `config.toml` again for the positions).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{display_path, line_col};
use super::{known_provider, Config, ConfigError};

/// The parts of `config.toml` that name backends, with their positions.
#[derive(Debug, Default, Deserialize)]
struct Refs {
    default_backend: Option<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<RefRoute>>,
}

#[derive(Debug, Deserialize)]
struct RefRoute {
    backend: Option<Spanned<String>>,
    #[serde(default)]
    fallbacks: Vec<Spanned<String>>,
}

/// Every reference to a backend that does not exist, each an error naming `config.toml`, the
/// line and column, the configured backends and the fix. Empty when all references resolve.
pub fn reference_problems(config: &Config) -> Vec<ConfigError> {
    let exists = |name: &str| config.backends.contains_key(name);
    let configured = config
        .backends
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let toml_path = config_toml_path(config);
    let text = std::fs::read_to_string(&toml_path).unwrap_or_default();
    let refs: Refs = toml::from_str(&text).unwrap_or_default();
    let at = |span: Option<Range<usize>>, message: String| match span {
        Some(span) => {
            let (line, column) = line_col(&text, span.start);
            ConfigError::Toml {
                path: display_path(&toml_path),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Invalid {
            path: display_path(&toml_path),
            message,
        },
    };
    let mut out = Vec::new();
    for (i, r) in config.routes.iter().enumerate() {
        let raw = refs.routes.get(i).map(|s| s.get_ref());
        let label = format!("[[routes]] #{} (model = \"{}\")", i + 1, r.model);
        if !exists(&r.backend) {
            let span = raw
                .and_then(|raw| raw.backend.as_ref().map(Spanned::span))
                .or_else(|| refs.routes.get(i).map(Spanned::span));
            out.push(at(
                span,
                format!(
                    "{label}: backend `{}` is not configured (configured: {configured}): {}, \
                     or name one of those",
                    r.backend,
                    add_hint(&r.backend)
                ),
            ));
        }
        for (j, f) in r.fallbacks.iter().enumerate() {
            if exists(f) {
                continue;
            }
            let span = raw
                .and_then(|raw| raw.fallbacks.get(j).map(Spanned::span))
                .or_else(|| refs.routes.get(i).map(Spanned::span));
            out.push(at(
                span,
                format!(
                    "{label}: fallback `{f}` is not configured (configured: {configured}): {}, \
                     or remove it from `fallbacks`",
                    add_hint(f)
                ),
            ));
        }
    }
    if let Some(d) = config.default_backend.as_deref().filter(|d| !exists(d)) {
        out.push(at(
            refs.default_backend.as_ref().map(Spanned::span),
            format!(
                "default_backend `{d}` is not configured (configured: {configured}): {}, or \
                 name one of those",
                add_hint(d)
            ),
        ));
    }
    out
}

/// `Ok` when every backend reference resolves, else the first problem (all of them are listed
/// by [`reference_problems`] and `dario doctor`).
pub fn check_references(config: &Config) -> Result<(), ConfigError> {
    match reference_problems(config).into_iter().next() {
        None => Ok(()),
        Some(first) => Err(first),
    }
}

/// The command that adds a backend of that name.
pub fn add_hint(name: &str) -> String {
    match known_provider(name) {
        Some(p) => match p.key_env {
            Some(var) => format!("add it with `dario backend add {name} --key-env {var}`"),
            None => format!("add it with `dario backend add {name}`"),
        },
        None => format!("add it with `dario backend add {name} --base-url <url>`"),
    }
}

fn config_toml_path(config: &Config) -> PathBuf {
    config
        .files
        .iter()
        .map(|f| f.path.clone())
        .find(|p| p.file_name() == Some(std::ffi::OsStr::new("config.toml")))
        .unwrap_or_else(|| Path::new(&config.home).join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_with_env, Home};

    #[test]
    fn dangling_backends_and_fallbacks_name_file_line_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().to_path_buf());
        std::fs::write(
            home.config_toml(),
            "default_backend = \"local\"\n\n[[routes]]\nmodel = \"claude-*\"\nbackend = \"anthropic\"\nfallbacks = [\"openrouter\"]\n",
        )
        .unwrap();
        let cfg = load_with_env(&home, &|_| None).unwrap();
        let problems: Vec<String> = reference_problems(&cfg)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("config.toml:6:")
                && problems[0].contains("fallback `openrouter`")
                && problems[0].contains("configured: anthropic, openai")
                && problems[0]
                    .contains("dario backend add openrouter --key-env OPENROUTER_API_KEY"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("config.toml:1:") && problems[1].contains("`local`"),
            "{}",
            problems[1]
        );
        assert!(check_references(&cfg).is_err());

        std::fs::write(
            home.config_toml(),
            "[[routes]]\nmodel = \"claude-*\"\nbackend = \"anthropic\"\nfallbacks = [\"openai\"]\n",
        )
        .unwrap();
        let cfg = load_with_env(&home, &|_| None).unwrap();
        assert!(check_references(&cfg).is_ok());
    }
}
