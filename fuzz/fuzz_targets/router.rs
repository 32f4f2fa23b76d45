//! The model-name router on arbitrary model names, against a table with every kind of rule
//! (override-free: prefixes, routes with globs, backend model globs, aliases, families, default):
//! a decision or an error, never a panic, and a decision names a configured backend.
#![no_main]

use std::sync::OnceLock;

use dario::config::{self, Home};
use dario::routing::RouteTable;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
default_backend = "local"
[aliases]
fast = "groq:llama-3.3-70b-versatile"
smart = "claude-opus-*"
[[routes]]
model = "claude-*"
backend = "anthropic"
upstream_model = "claude-sonnet-4-5"
fallbacks = ["groq"]
[[routes]]
model = "*-mini*"
backend = "openai"
[backends.groq]
protocol = "openai"
base_url = "https://api.groq.com/openai/v1"
key_env = "GROQ_API_KEY"
models = ["llama-*", "qwen-*", "*:free"]
[backends.local]
protocol = "openai"
base_url = "http://127.0.0.1:11434/v1"
models = ["*?*", "mistral*"]
"#;

fn table() -> &'static (RouteTable, Vec<String>) {
    static TABLE: OnceLock<(RouteTable, Vec<String>)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dario-fuzz-router-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let home = Home::at(dir.clone());
        std::fs::write(home.config_toml(), CONFIG).unwrap();
        let cfg = config::load_with_env(&home, &|_| None).expect("the fuzz config loads");
        let names = cfg.backends.keys().cloned().collect();
        let _ = std::fs::remove_dir_all(&dir);
        (RouteTable::new(&cfg, None), names)
    })
}

fuzz_target!(|data: &[u8]| {
    let model = String::from_utf8_lossy(data);
    let (table, backends) = table();
    if let Ok(d) = table.resolve(&model) {
        assert!(
            backends.contains(&d.backend),
            "{model:?} routed to an unknown backend {}",
            d.backend
        );
    }
});
