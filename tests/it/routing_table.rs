//! The routing table built from files on disk (config::load → RouteTable), the SPEC §3 example
//! config, the template, and properties of prefix routing over arbitrary names.

use std::path::Path;

use dario::config::{self, Home};
use dario::protocol::Protocol;
use dario::routing::{RouteError, RouteTable, RuleKind, CONTEXT_1M_BETA};
use proptest::prelude::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

const SPEC_EXAMPLE: &str = r#"
default_backend = "local"
[aliases]
fast = "groq:llama-3.3-70b-versatile"
[[routes]]
model = "claude-*"
backend = "anthropic"
upstream_model = "claude-sonnet-4-5"
fallbacks = ["openrouter"]
[backends.groq]
protocol = "openai"
base_url = "https://api.groq.com/openai/v1"
key_env = "GROQ_API_KEY"
models = ["llama-*", "qwen-*"]
[[backends.pool.deployments]]
alias = "east"
base_url = "https://east.example/v1"
key_env = "POOL_KEY_EAST"
"#;

fn spec_home() -> (tempfile::TempDir, Home) {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().to_path_buf());
    write(&home.config_toml(), SPEC_EXAMPLE);
    write(
        &home.backend_file("local"),
        r#"{"name":"local","protocol":"openai","base_url":"http://127.0.0.1:11434/v1"}"#,
    );
    write(
        &home.backend_file("openrouter"),
        r#"{"provider":"openai","name":"openrouter","apiKey":"sk-or-x","baseUrl":"https://openrouter.ai/api/v1"}"#,
    );
    (tmp, home)
}

#[test]
fn spec_example_routes_as_documented() {
    let (_tmp, home) = spec_home();
    let cfg =
        config::load_with_env(&home, &|k| (k == "GROQ_API_KEY").then(|| "gsk".into())).unwrap();
    let t = RouteTable::new(&cfg, None);

    let d = t.resolve("claude-opus-4-1").unwrap();
    assert_eq!(d.backend, "anthropic");
    assert_eq!(d.upstream_model, "claude-sonnet-4-5");
    assert_eq!(d.fallbacks, vec!["openrouter"]);

    let d = t.resolve("fast").unwrap();
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("groq", "llama-3.3-70b-versatile")
    );
    assert_eq!(d.protocol, Protocol::OpenAi);

    let d = t.resolve("qwen-2.5-32b").unwrap();
    assert_eq!(d.backend, "groq");
    assert_eq!(
        d.rule,
        RuleKind::BackendModels {
            pattern: "qwen-*".into()
        }
    );

    let d = t.resolve("mixtral").unwrap();
    assert_eq!(
        (d.backend.as_str(), d.rule.clone()),
        ("local", RuleKind::Default)
    );

    // The pool is a backend of its own; its URL comes from its first deployment.
    let d = t.resolve("pool:gpt-oss-120b").unwrap();
    assert_eq!(d.backend, "pool");
    assert_eq!(cfg.backends["pool"].base_url, "https://east.example/v1");
    assert_eq!(cfg.backends["pool"].deployments.len(), 1);

    // The 1m alias expands, then meets the `claude-*` route: its rename wins, the beta stays.
    let d = t.resolve("sonnet1m").unwrap();
    assert_eq!(d.upstream_model, "claude-sonnet-4-5");
    assert_eq!(d.anthropic_beta.as_deref(), Some(CONTEXT_1M_BETA));
}

#[test]
fn template_of_the_spec_example() {
    let (_tmp, home) = spec_home();
    let cfg = config::load_with_env(&home, &|_| None).unwrap();
    let t = RouteTable::new(&cfg, None).template();
    assert_eq!(t.default_backend.as_deref(), Some("local"));
    assert_eq!(t.routes.len(), 1);
    assert_eq!(t.backend_globs.len(), 2);
    assert!(t
        .aliases
        .iter()
        .any(|a| a.name == "fast" && a.source == "config"));
    assert!(t
        .prefixes
        .iter()
        .any(|p| p.prefix == "pool" && p.kind == "backend"));
    // `claude-*` route covers the family of the same name; nothing else is shadowed.
    assert_eq!(t.shadowed.len(), 1, "{:?}", t.shadowed);
    assert_eq!(t.shadowed[0].kind, "family");
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    // Digest is stable across loads and follows edits.
    let again = RouteTable::new(&config::load_with_env(&home, &|_| None).unwrap(), None);
    assert_eq!(again.digest(), t.digest());
    assert_eq!(
        config::load_with_env(&home, &|_| None).unwrap().digest(),
        cfg.digest()
    );
    write(
        &home.config_toml(),
        &SPEC_EXAMPLE.replace("default_backend = \"local\"", ""),
    );
    let cfg2 = config::load_with_env(&home, &|_| None).unwrap();
    assert_ne!(cfg2.digest(), cfg.digest());
    assert_ne!(RouteTable::new(&cfg2, None).digest(), t.digest());
    // JSON for template_info: serialisable, no secret.
    let json = serde_json::to_string(&t).unwrap();
    assert!(!json.contains("sk-or-x"));
    assert!(!serde_json::to_string(&cfg).unwrap().contains("sk-or-x"));
    assert!(!cfg.digest().contains("sk-or-x"));
}

#[test]
fn dangling_references_show_as_problems_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().to_path_buf());
    write(
        &home.config_toml(),
        "default_backend = \"nowhere\"\n[aliases]\nx = \"ghost:m\"\n[[routes]]\nmodel = \"a-*\"\nbackend = \"gone\"\nfallbacks = [\"also-gone\"]\n",
    );
    let cfg = config::load_with_env(&home, &|_| None).unwrap();
    let t = RouteTable::new(&cfg, None);
    let problems = t.template().problems;
    assert!(
        problems.iter().any(|p| p.contains("`gone`")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("`also-gone`")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("`nowhere`")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("alias `x`")),
        "{problems:?}"
    );
    assert!(matches!(
        t.resolve("a-1"),
        Err(RouteError::UnknownBackend { .. })
    ));
    let e = t.resolve("zzz").unwrap_err();
    assert!(e.to_string().contains("`nowhere`"), "{e}");
}

fn prop_table() -> RouteTable {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().to_path_buf());
    write(
        &home.config_toml(),
        "[backends.groq]\nkey_env = \"GROQ_API_KEY\"\n[backends.local]\nbase_url = \"http://127.0.0.1:1/v1\"\n",
    );
    let cfg = config::load_with_env(&home, &|_| None).unwrap();
    RouteTable::new(&cfg, None)
}

proptest! {
    /// `<configured backend>:<rest>` always goes to that backend with `rest` verbatim, whatever
    /// `rest` holds (slashes, colons, dots), and the left side is case-insensitive.
    #[test]
    fn configured_prefix_keeps_rest_verbatim(
        backend in prop::sample::select(vec!["groq", "GROQ", "Local", "local", "openai"]),
        rest in "[a-zA-Z0-9./:_-]{1,40}",
    ) {
        let t = prop_table();
        let d = t.resolve(&format!("{backend}:{rest}")).unwrap();
        prop_assert_eq!(d.backend, backend.to_ascii_lowercase());
        prop_assert_eq!(d.upstream_model, rest);
        prop_assert_eq!(d.rule.step(), 2);
    }

    /// Routing never panics and every success names an existing backend with a non-empty model.
    #[test]
    fn resolve_is_total(model in "\\PC{0,30}") {
        let t = prop_table();
        if let Ok(d) = t.resolve(&model) {
            prop_assert!(["anthropic", "openai", "groq", "local"].contains(&d.backend.as_str()));
            prop_assert!(!d.upstream_model.is_empty());
        }
    }
}
