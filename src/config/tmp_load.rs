//! TEMPORARY: built-in backends only, until the config module lands.
use super::*;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub struct Home(pub PathBuf);

impl Home {
    pub fn resolve() -> Result<Home, ConfigError> {
        Ok(Home(dirs::home_dir().unwrap_or_default().join(".dario")))
    }
}

pub fn load(home: &Home) -> Result<Config, ConfigError> {
    let mut backends = BTreeMap::new();
    for (name, url, proto, var) in [
        (
            "anthropic",
            "https://api.anthropic.com",
            Protocol::Anthropic,
            "ANTHROPIC_API_KEY",
        ),
        (
            "openai",
            "https://api.openai.com/v1",
            Protocol::OpenAi,
            "OPENAI_API_KEY",
        ),
    ] {
        let credential = match std::env::var(var) {
            Ok(v) if !v.is_empty() => Credential::KeyEnv {
                var: var.into(),
                value: Some(Secret::new(v)),
            },
            _ => Credential::Passthrough,
        };
        backends.insert(
            name.to_string(),
            BackendConfig {
                name: name.into(),
                protocol: proto,
                base_url: url.into(),
                credential,
                models: vec![],
                headers: vec![],
                deployments: vec![],
                source: BackendSource::BuiltIn,
            },
        );
    }
    Ok(Config {
        home: home.0.clone(),
        default_backend: None,
        aliases: BTreeMap::new(),
        routes: vec![],
        backends,
        limits: Limits::default(),
        prices: BTreeMap::new(),
        files: vec![],
    })
}
