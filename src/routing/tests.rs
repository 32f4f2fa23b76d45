//! Unit tests of SPEC §4, one group per rule, plus the template.

use std::path::PathBuf;

use super::*;
use crate::config::{BackendConfig, Config, Credential, RouteRule};

fn base() -> Config {
    Config::builtin(PathBuf::from("/h"), &|_| None)
}

fn compat(name: &str, models: &[&str]) -> BackendConfig {
    let mut b = BackendConfig::new(
        name,
        Protocol::OpenAi,
        format!("http://127.0.0.1:1/{name}/v1"),
        Credential::None,
    );
    b.models = models.iter().map(|m| m.to_string()).collect();
    b
}

fn anth(name: &str) -> BackendConfig {
    BackendConfig::new(
        name,
        Protocol::Anthropic,
        "http://127.0.0.1:2",
        Credential::Passthrough,
    )
}

fn route(model: &str, backend: &str) -> RouteRule {
    RouteRule {
        model: model.into(),
        backend: backend.into(),
        upstream_model: None,
        fallbacks: vec![],
    }
}

fn r(config: &Config, model: &str) -> RouteDecision {
    RouteTable::new(config, None)
        .resolve(model)
        .unwrap_or_else(|e| panic!("{model}: {e}"))
}

fn err(config: &Config, model: &str) -> RouteError {
    RouteTable::new(config, None).resolve(model).unwrap_err()
}

// ---- rule 1: override ----------------------------------------------------------------------

#[test]
fn override_forces_model_and_reports_inner_rule() {
    let c = base().with_backend(compat("groq", &[]));
    let t = RouteTable::new(&c, Some("groq:llama-3.3-70b-versatile"));
    let d = t.resolve("claude-sonnet-4-5").unwrap();
    assert_eq!(d.requested_model, "claude-sonnet-4-5");
    assert_eq!(d.backend, "groq");
    assert_eq!(d.upstream_model, "llama-3.3-70b-versatile");
    assert_eq!(d.rule, RuleKind::Override);
    assert_eq!(
        d.override_rule,
        Some(RuleKind::Prefix {
            prefix: "groq".into()
        })
    );
    let t = RouteTable::new(&c, Some("opus"));
    let d = t.resolve("gpt-4o").unwrap();
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("anthropic", "claude-opus-5-5")
    );
    assert_eq!(d.alias.as_deref(), Some("opus"));
    // A blank override is no override.
    let t = RouteTable::new(&c, Some("  "));
    assert_eq!(t.resolve("gpt-4o").unwrap().rule.step(), 5);
}

// ---- rule 2: prefixes ----------------------------------------------------------------------

#[test]
fn prefix_keeps_the_rest_verbatim() {
    let c = base()
        .with_backend(compat("openrouter", &[]))
        .with_backend(compat("local", &[]));
    let d = r(&c, "openrouter:meta-llama/llama-3.1-70b");
    assert_eq!(d.backend, "openrouter");
    assert_eq!(d.upstream_model, "meta-llama/llama-3.1-70b");
    assert_eq!(
        d.rule,
        RuleKind::Prefix {
            prefix: "openrouter".into()
        }
    );
    let d = r(&c, "local:llama3:8b");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("local", "llama3:8b")
    );
    // Case-insensitive on the left side only.
    let d = r(&c, "OpenRouter:Meta-Llama/X");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("openrouter", "Meta-Llama/X")
    );
}

#[test]
fn unknown_left_side_is_not_a_prefix() {
    let c = base().with_backend(compat("local", &[]));
    let d = r(&c, "llama3:8b");
    // Not a prefix: the whole name goes to the default backend.
    assert_eq!(d.backend, "local");
    assert_eq!(d.upstream_model, "llama3:8b");
    assert_eq!(d.rule, RuleKind::Default);
}

#[test]
fn configured_names_are_prefixes_and_win_over_fixed_words() {
    let c = base()
        .with_backend(compat("my.server", &[]))
        .with_backend(compat("claude", &[]));
    let d = r(&c, "my.server:qwen2.5-coder:32b");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("my.server", "qwen2.5-coder:32b")
    );
    // A backend named `claude` takes the word from the Anthropic meaning.
    assert_eq!(r(&c, "claude:x").backend, "claude");
    assert_eq!(r(&c, "anthropic:x").backend, "anthropic");
}

#[test]
fn anthropic_words_expand_builtin_aliases() {
    let c = base();
    let d = r(&c, "claude:opus");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("anthropic", "claude-opus-5-5")
    );
    assert_eq!(d.alias.as_deref(), Some("opus"));
    assert_eq!(d.alias_chain, vec!["claude:opus", "claude-opus-5-5"]);
    let d = r(&c, "Anthropic:sonnet1m");
    assert_eq!(d.upstream_model, "claude-sonnet-5-5");
    assert_eq!(d.anthropic_beta.as_deref(), Some(CONTEXT_1M_BETA));
    let d = r(&c, "claude:claude-3-7-sonnet-latest");
    assert_eq!(d.upstream_model, "claude-3-7-sonnet-latest");
    assert_eq!(d.alias, None);
    // On an OpenAI backend an alias after the prefix is just a model name.
    let d = r(&c, "openai:opus");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("openai", "opus")
    );
}

#[test]
fn compat_words_fall_back_to_the_default_compat_backend() {
    // `compat:` with no backend of that name: the single compat backend takes it.
    let c = base().with_backend(compat("local-server", &[]));
    let d = r(&c, "compat:llama-3.3-70b-versatile");
    assert_eq!(
        (d.backend.as_str(), d.upstream_model.as_str()),
        ("local-server", "llama-3.3-70b-versatile")
    );
    assert_eq!(r(&c, "local:x").backend, "local-server");
    // `openai:` is always the openai backend.
    assert_eq!(r(&c, "openai:gpt-4o").backend, "openai");
    // No compat backend at all.
    let e = err(&base(), "local:llama3:8b");
    assert!(matches!(e, RouteError::NoCompatBackend { ref prefix, .. } if prefix == "local"));
    assert!(
        e.to_string().contains("dario backend add local --base-url"),
        "{e}"
    );
    // default_backend decides among several.
    let mut c = base()
        .with_backend(compat("a", &[]))
        .with_backend(compat("b", &[]));
    assert!(matches!(
        err(&c, "compat:x"),
        RouteError::NoCompatBackend { .. }
    ));
    c.default_backend = Some("b".into());
    assert_eq!(r(&c, "compat:x").backend, "b");
}

#[test]
fn a_known_provider_prefix_without_its_backend_is_an_error_naming_the_backends() {
    // Issue 17 #8: `groq:`/`openrouter:` used to go silently to the default backend.
    let c = base().with_backend(compat("local", &[]));
    for model in [
        "groq:llama-3.3-70b-versatile",
        "OpenRouter:meta-llama/x",
        "deepseek:deepseek-chat",
    ] {
        let e = err(&c, model);
        assert!(
            matches!(e, RouteError::UnknownPrefixBackend { .. }),
            "{model}: {e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("configured: anthropic, local, openai")
                && text.contains("dario backend add"),
            "{text}"
        );
    }
    assert!(err(&c, "groq:x")
        .to_string()
        .contains("--key-env GROQ_API_KEY"));
    // An ollama-style tag whose left side names no provider is still a plain model name.
    assert_eq!(r(&c, "llama3:8b").backend, "local");
    // With the backend configured, the prefix selects it.
    let c = c.with_backend(compat("groq", &[]));
    assert_eq!(r(&c, "groq:x").backend, "groq");
}

#[test]
fn empty_models_are_errors() {
    let c = base().with_backend(compat("groq", &[]));
    assert!(matches!(err(&c, ""), RouteError::EmptyModel { .. }));
    let e = err(&c, "groq:");
    assert!(e.to_string().contains("after the prefix `groq:`"), "{e}");
}

// ---- rule 3: routes ------------------------------------------------------------------------

#[test]
fn routes_first_match_wins_with_rename_and_fallbacks() {
    let mut c = base()
        .with_backend(compat("openrouter", &[]))
        .with_backend(anth("corp"));
    c.routes = vec![
        RouteRule {
            model: "claude-*".into(),
            backend: "corp".into(),
            upstream_model: Some("claude-sonnet-4-5".into()),
            fallbacks: vec!["anthropic".into(), "openrouter".into()],
        },
        route("claude-opus-*", "openrouter"),
        route("gpt-*", "openrouter"),
    ];
    let d = r(&c, "claude-opus-4-1");
    assert_eq!(d.backend, "corp");
    assert_eq!(d.protocol, Protocol::Anthropic);
    assert_eq!(d.upstream_model, "claude-sonnet-4-5");
    assert_eq!(d.fallbacks, vec!["anthropic", "openrouter"]);
    assert_eq!(
        d.rule,
        RuleKind::Route {
            index: 0,
            pattern: "claude-*".into()
        }
    );
    let d = r(&c, "GPT-4o");
    assert_eq!(
        d.rule,
        RuleKind::Route {
            index: 2,
            pattern: "gpt-*".into()
        }
    );
    assert_eq!(d.upstream_model, "GPT-4o");
    // Aliases expand, then the expansion meets the routes.
    let d = r(&c, "sonnet");
    assert_eq!(d.backend, "corp");
    assert_eq!(d.alias.as_deref(), Some("sonnet"));
}

#[test]
fn routes_to_missing_backends_are_clear_errors() {
    let mut c = base();
    c.routes = vec![route("x-*", "nope")];
    let e = err(&c, "x-1");
    assert!(matches!(e, RouteError::UnknownBackend { ref backend, .. } if backend == "nope"));
    assert!(e.to_string().contains("[[routes]] #1"), "{e}");
    let mut c = base();
    c.routes = vec![RouteRule {
        fallbacks: vec!["gone".into()],
        ..route("x-*", "openai")
    }];
    let e = err(&c, "x-1").to_string();
    assert!(e.contains("`gone`") && e.contains("fallbacks"), "{e}");
}

// ---- rule 4: backend globs -----------------------------------------------------------------

#[test]
fn backend_model_globs() {
    let c = base()
        .with_backend(compat("groq", &["llama-*", "qwen-*"]))
        .with_backend(compat("local", &["qwen-*"]));
    let d = r(&c, "qwen-2.5");
    // Backends in name order: groq before local.
    assert_eq!(d.backend, "groq");
    assert_eq!(
        d.rule,
        RuleKind::BackendModels {
            pattern: "qwen-*".into()
        }
    );
    // A backend glob beats the families.
    let c = base().with_backend(compat("proxy", &["gpt-4o*"]));
    assert_eq!(r(&c, "gpt-4o-mini").backend, "proxy");
    assert_eq!(r(&c, "gpt-5").backend, "openai");
    // Routes beat backend globs.
    let mut c = c;
    c.routes = vec![route("gpt-4o", "openai")];
    assert_eq!(r(&c, "gpt-4o").backend, "openai");
}

// ---- rule 5: aliases and families ----------------------------------------------------------

#[test]
fn builtin_aliases_expand_to_current_ids() {
    let c = base();
    for (alias, id) in [
        ("opus", "claude-opus-5-5"),
        ("sonnet", "claude-sonnet-5-5"),
        ("haiku", "claude-haiku-5-5"),
    ] {
        let d = r(&c, alias);
        assert_eq!(
            (d.backend.as_str(), d.upstream_model.as_str()),
            ("anthropic", id)
        );
        assert_eq!(d.alias.as_deref(), Some(alias));
        assert_eq!(d.anthropic_beta, None);
        assert_eq!(
            d.rule,
            RuleKind::Family {
                family: "claude-*".into()
            }
        );
    }
    let d = r(&c, "opus1m");
    assert_eq!(d.upstream_model, "claude-opus-5-5");
    assert_eq!(d.anthropic_beta.as_deref(), Some("context-1m-2025-08-07"));
    let d = r(&c, "sonnet1m");
    assert_eq!(d.upstream_model, "claude-sonnet-5-5");
    assert_eq!(d.anthropic_beta.as_deref(), Some("context-1m-2025-08-07"));
    // Aliases are case-sensitive: `Sonnet` is not one (and no default backend exists).
    assert!(matches!(err(&c, "Sonnet"), RouteError::NoRoute { .. }));
}

#[test]
fn configured_aliases_override_builtins_and_may_carry_prefixes() {
    let mut c = base().with_backend(compat("groq", &[]));
    c.aliases
        .insert("fast".into(), "groq:llama-3.3-70b-versatile".into());
    c.aliases
        .insert("sonnet".into(), "claude-sonnet-4-0".into());
    c.aliases.insert("best".into(), "opus1m".into());
    let d = r(&c, "fast");
    assert_eq!(d.backend, "groq");
    assert_eq!(d.upstream_model, "llama-3.3-70b-versatile");
    assert_eq!(d.alias.as_deref(), Some("fast"));
    assert_eq!(
        d.rule,
        RuleKind::Prefix {
            prefix: "groq".into()
        }
    );
    let d = r(&c, "sonnet");
    assert_eq!(d.upstream_model, "claude-sonnet-4-0");
    // Chains keep the beta of the built-in alias and record every step.
    let d = r(&c, "best");
    assert_eq!(d.upstream_model, "claude-opus-5-5");
    assert_eq!(d.alias_chain, vec!["best", "opus1m", "claude-opus-5-5"]);
    assert_eq!(d.anthropic_beta.as_deref(), Some(CONTEXT_1M_BETA));
    // Routed to a non-Anthropic backend the beta is dropped.
    let mut c2 = c.clone();
    c2.routes = vec![route("claude-opus-*", "groq")];
    assert_eq!(r(&c2, "best").anthropic_beta, None);
}

#[test]
fn alias_loops_are_errors() {
    let mut c = base();
    c.aliases.insert("a".into(), "b".into());
    c.aliases.insert("b".into(), "a".into());
    let e = err(&c, "a");
    assert_eq!(
        e,
        RouteError::AliasLoop {
            chain: vec!["a".into(), "b".into(), "a".into()]
        }
    );
    assert!(e.to_string().contains("a → b → a"));
}

#[test]
fn families() {
    let c = base();
    for m in [
        "claude-sonnet-4-5",
        "Claude-3-Opus",
        "claude-haiku-4-5-20251001",
    ] {
        let d = r(&c, m);
        assert_eq!(d.backend, "anthropic", "{m}");
        assert_eq!(d.protocol, Protocol::Anthropic);
        assert_eq!(d.upstream_model, m);
    }
    for m in [
        "gpt-4o",
        "o1",
        "o1-mini",
        "o3-mini",
        "o4-mini",
        "chatgpt-4o-latest",
        "text-embedding-3-small",
        "davinci-002",
    ] {
        let d = r(&c, m);
        assert_eq!(d.backend, "openai", "{m}");
        assert_eq!(d.protocol, Protocol::OpenAi);
    }
    // `o2…`, `claude` alone and `gpt4` are not families.
    for m in ["o2-x", "claude", "gpt4"] {
        assert!(matches!(err(&c, m), RouteError::NoRoute { .. }), "{m}");
    }
    // A configured `anthropic` replaces the built-in and keeps the family.
    let c = base().with_backend(anth("anthropic"));
    assert_eq!(r(&c, "claude-x").backend, "anthropic");
}

// ---- rule 6: default -----------------------------------------------------------------------

#[test]
fn default_backend_rules() {
    // The single OpenAI-compatible backend that is not `openai`.
    let c = base().with_backend(compat("local", &[]));
    let d = r(&c, "qwen2.5-coder");
    assert_eq!(d.backend, "local");
    assert_eq!(d.rule, RuleKind::Default);
    // Several: none, and the error says which.
    let c = c.with_backend(compat("groq", &[]));
    let e = err(&c, "qwen2.5-coder");
    let msg = e.to_string();
    assert!(msg.contains("`qwen2.5-coder`"), "{msg}");
    assert!(msg.contains("groq, local"), "{msg}");
    assert!(
        msg.contains("dario backend add <name> --model 'qwen2.5-coder'"),
        "{msg}"
    );
    assert!(msg.contains("[[routes]]"), "{msg}");
    // The setting decides (and may name an Anthropic backend).
    let mut c = c.with_backend(anth("corp"));
    c.default_backend = Some("corp".into());
    let d = r(&c, "qwen2.5-coder");
    assert_eq!(
        (d.backend.as_str(), d.protocol),
        ("corp", Protocol::Anthropic)
    );
    // A default naming nothing is a clear error.
    c.default_backend = Some("gone".into());
    let e = err(&c, "x").to_string();
    assert!(e.contains("`gone`") && e.contains("default_backend"), "{e}");
    // Anthropic-protocol backends never become the implicit default.
    let c = base().with_backend(anth("corp"));
    assert!(matches!(err(&c, "x"), RouteError::NoRoute { .. }));
}

// ---- template ------------------------------------------------------------------------------

#[test]
fn template_lists_the_table_and_shadowed_rules() {
    let mut c = base()
        .with_backend(compat("groq", &["llama-*", "llama-3*"]))
        .with_backend(compat("local", &["*"]));
    c.routes = vec![
        route("claude-*", "anthropic"),
        route("claude-sonnet-*", "groq"),
        route("mistral-*", "missing"),
    ];
    c.aliases.insert("fast".into(), "groq:llama-3.3".into());
    c.aliases.insert("opus".into(), "claude-opus-4-1".into());
    c.default_backend = Some("local".into());
    let t = RouteTable::new(&c, Some("sonnet")).template();
    assert_eq!(t.override_model.as_deref(), Some("sonnet"));
    assert_eq!(t.routes.len(), 3);
    assert_eq!(t.routes[0].number, 1);
    assert_eq!(t.backend_globs.len(), 3);
    assert_eq!(t.default_backend.as_deref(), Some("local"));
    let prefix = |p: &str| t.prefixes.iter().find(|x| x.prefix == p).unwrap().clone();
    assert_eq!(prefix("groq").kind, "backend");
    assert_eq!(prefix("claude").backend.as_deref(), Some("anthropic"));
    assert_eq!(prefix("compat").backend.as_deref(), Some("local"));
    assert_eq!(prefix("openrouter").backend, None);
    assert_eq!(prefix("openrouter").kind, "provider_not_configured");
    let opus: Vec<_> = t.aliases.iter().filter(|a| a.name == "opus").collect();
    assert_eq!(opus.len(), 2);
    assert!(opus.iter().any(|a| a.source == "built-in" && a.overridden));
    assert!(t.families.iter().any(|f| f.pattern == "claude-*"));

    let kinds = |k: &str| -> Vec<String> {
        t.shadowed
            .iter()
            .filter(|s| s.kind == k)
            .map(|s| s.rule.clone())
            .collect()
    };
    assert_eq!(
        kinds("route"),
        vec!["[[routes]] #2 `claude-sonnet-*` → groq"]
    );
    assert_eq!(
        kinds("backend_glob"),
        vec!["backend `groq` models `llama-3*`"]
    );
    // `local` models `*` swallows every alias and every family except `claude-*` (a route).
    assert!(kinds("alias").iter().any(|a| a.contains("`fast`")));
    assert_eq!(kinds("family").len(), FAMILIES.len());
    assert!(t
        .shadowed
        .iter()
        .any(|s| s.kind == "family" && s.by.contains("[[routes]] #1")));
    assert_eq!(kinds("default").len(), 1);
    assert!(
        t.problems.iter().any(|p| p.contains("`missing`")),
        "{:?}",
        t.problems
    );

    let plain = RouteTable::new(&base(), None).template();
    assert!(plain.shadowed.is_empty(), "{:?}", plain.shadowed);
    assert!(plain.problems.is_empty());
    assert!(plain.default_backend.is_none());
    assert_ne!(plain.digest(), t.digest());
    assert_eq!(plain.digest(), RouteTable::new(&base(), None).digest());
}

#[test]
fn decisions_serialise_for_json_output() {
    let d = r(&base(), "sonnet1m");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["backend"], "anthropic");
    assert_eq!(v["protocol"], "anthropic");
    assert_eq!(v["rule"]["rule"], "family");
    assert_eq!(v["anthropic_beta"], CONTEXT_1M_BETA);
}

/// Issue 17 #8: a known provider's own model names reach its backend, and none claims a built-in
/// family (those stay with anthropic/openai). (The provider table lives in `config`; matching is
/// routing's.)
#[test]
fn known_providers_models_match_their_own_names_only() {
    // Issue 17 #8: a provider's own model names reach its backend.
    let deepseek = crate::config::known_provider("deepseek").unwrap();
    assert!(deepseek
        .models
        .iter()
        .any(|p| glob::matches(p, "deepseek-chat")));
    let groq = crate::config::known_provider("groq").unwrap();
    assert!(groq
        .models
        .iter()
        .any(|p| glob::matches(p, "llama-3.3-70b-versatile")));
    let ollama = crate::config::known_provider("ollama").unwrap();
    assert!(ollama
        .models
        .iter()
        .any(|p| glob::matches(p, "qwen2.5-coder:7b")));
    for p in crate::config::KNOWN_PROVIDERS {
        for m in p.models {
            // None claims a built-in family (those stay with anthropic/openai).
            for family in ["claude-sonnet-5-5", "gpt-4o", "o3-mini"] {
                assert!(!glob::matches(m, family), "{}: {m}", p.name);
            }
        }
    }
}
