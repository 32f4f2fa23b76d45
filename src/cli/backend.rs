//! `dario backend add|list|remove`.
//!
//! Owns: argument handling and the human/JSON rendering of backends. Must not: print any part
//! of a key (only the credential *source*), or write files except through `config`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::json;

use crate::config::{
    self, display_path, known_provider, BackendConfig, BackendFile, BackendSource, Credential,
    DeploymentFile, FileCredential, Home, Secret, BUILTIN_BACKENDS, KNOWN_PROVIDERS,
};
use crate::protocol::Protocol;

#[derive(Debug, Subcommand)]
pub enum BackendCommand {
    /// Add or update a backend (or one deployment of it).
    ///
    /// Examples:
    ///   dario backend add groq --key-env GROQ_API_KEY
    ///   dario backend add openrouter --key=sk-or-…
    ///   dario backend add ollama --model 'llama*' --model 'qwen*'
    ///   dario backend add corp --protocol anthropic --base-url https://gw.example --passthrough
    ///   dario backend add pool --deployment east --base-url https://east.example/v1 --key-env EAST_KEY
    #[command(verbatim_doc_comment)]
    Add {
        /// Backend name (letters, digits, `.`, `_`, `-`; starts alphanumeric). Known providers
        /// (groq, openrouter, ollama, lmstudio, vllm, together, deepseek, mistral, fireworks,
        /// and the built-in anthropic, openai) get their base URL and protocol by name.
        name: String,
        /// Wire protocol of the upstream: `anthropic` or `openai` (OpenAI-compatible).
        #[arg(long)]
        protocol: Option<String>,
        /// Base URL (OpenAI-style with `/v1`, Anthropic-style without).
        #[arg(long)]
        base_url: Option<String>,
        /// Store this key in the backend file (0600). `--key -` reads it from stdin, which keeps
        /// it out of shell history and the process list.
        #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["key_env", "passthrough"])]
        key: Option<String>,
        /// Read the key from this environment variable at startup.
        #[arg(long, conflicts_with_all = ["key", "passthrough"])]
        key_env: Option<String>,
        /// Forward the client's own credential unchanged.
        #[arg(long, conflicts_with_all = ["key", "key_env"])]
        passthrough: bool,
        /// Model glob this backend serves (repeatable; replaces the backend's list, or adds to it
        /// with --deployment).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Add (or replace) a deployment with this alias: --base-url and the key options then
        /// apply to the deployment, not to the backend.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// List backends, their protocol, URL and credential source (never a key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a backend file.
    Remove { name: String },
}

pub fn run(cmd: BackendCommand) -> anyhow::Result<ExitCode> {
    let home = Home::resolve()?;
    match cmd {
        BackendCommand::Add {
            name,
            protocol,
            base_url,
            key,
            key_env,
            passthrough,
            models,
            deployment,
        } => add(
            &home,
            AddArgs {
                name,
                protocol,
                base_url,
                key,
                key_env,
                passthrough,
                models,
                deployment,
            },
        ),
        BackendCommand::List { json } => list(&home, json),
        BackendCommand::Remove { name } => remove(&home, &name),
    }
}

struct AddArgs {
    name: String,
    protocol: Option<String>,
    base_url: Option<String>,
    key: Option<String>,
    key_env: Option<String>,
    passthrough: bool,
    models: Vec<String>,
    deployment: Option<String>,
}

fn known_names() -> String {
    KNOWN_PROVIDERS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The credential given on the command line, if any.
fn credential_flag(args: &AddArgs) -> anyhow::Result<Option<FileCredential>> {
    if let Some(key) = &args.key {
        let key = if key == "-" {
            read_key_from_stdin()?
        } else {
            key.clone()
        };
        check_key(&key)?;
        return Ok(Some(FileCredential::Key(Secret::new(key))));
    }
    if let Some(var) = &args.key_env {
        config::validate_env_var(var).map_err(|m| anyhow::anyhow!("--key-env: {m}"))?;
        return Ok(Some(FileCredential::KeyEnv(var.clone())));
    }
    if args.passthrough {
        return Ok(Some(FileCredential::Passthrough));
    }
    Ok(None)
}

fn read_key_from_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Paste the key and press Enter:");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the key from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn check_key(key: &str) -> anyhow::Result<()> {
    // Never echo the key, not even in an error.
    if key.is_empty() {
        bail!("--key is empty: give the key (`--key=KEY`, or `--key -` to read it from stdin)");
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--key contains spaces or control characters; check what was pasted");
    }
    Ok(())
}

fn parse_protocol(p: &Option<String>) -> anyhow::Result<Option<Protocol>> {
    p.as_deref()
        .map(|s| {
            s.parse::<Protocol>()
                .map_err(|_| anyhow::anyhow!("--protocol must be `anthropic` or `openai`"))
        })
        .transpose()
}

fn add(home: &Home, args: AddArgs) -> anyhow::Result<ExitCode> {
    config::validate_name("backend", &args.name)?;
    if let Some(alias) = &args.deployment {
        config::validate_name("deployment", alias)?;
    }
    let protocol_flag = parse_protocol(&args.protocol)?;
    let credential = credential_flag(&args)?;
    for m in &args.models {
        if m.trim().is_empty() {
            bail!("--model needs a glob such as 'llama-*'");
        }
    }
    // Read, change and write under the lock: a concurrent `backend add` waits, loses nothing.
    let _lock = config::lock_backends(home)?;
    // A malformed existing file is an error: it is never overwritten.
    let existing = config::read_backend_file(home, &args.name)?;
    let updating = existing.is_some();
    let known = known_provider(&args.name);

    let file = match &args.deployment {
        Some(alias) => {
            let mut file = match existing {
                Some(mut f) => {
                    if let Some(p) = protocol_flag {
                        f.protocol = p;
                    }
                    f
                }
                None => {
                    let protocol = protocol_flag
                        .or(known.map(|k| k.protocol))
                        .unwrap_or(Protocol::OpenAi);
                    let base = known
                        .filter(|k| k.protocol == protocol)
                        .map(|k| k.base_url.to_string())
                        .or_else(|| args.base_url.clone())
                        .with_context(|| {
                            format!(
                                "backend `{}` does not exist yet and is not a known provider: pass \
                                 --base-url <url> for the deployment",
                                args.name
                            )
                        })?;
                    BackendFile::new(&args.name, protocol, &base, FileCredential::None)?
                }
            };
            let base_url = args
                .base_url
                .as_deref()
                .map(|u| config::normalize_base_url(file.protocol, u))
                .transpose()
                .map_err(|m| anyhow::anyhow!("--base-url: {m}"))?;
            file.upsert_deployment(DeploymentFile {
                alias: alias.clone(),
                base_url,
                credential,
            })?;
            for m in &args.models {
                if !file.models.contains(m) {
                    file.models.push(m.clone());
                }
            }
            file
        }
        None => {
            let mut file = match existing {
                Some(mut f) => {
                    if let Some(p) = protocol_flag {
                        f.protocol = p;
                    }
                    if let Some(u) = &args.base_url {
                        f.base_url = u.clone();
                    }
                    if let Some(c) = credential {
                        f.credential = c;
                    }
                    f
                }
                None => {
                    let protocol = protocol_flag
                        .or(known.map(|k| k.protocol))
                        .unwrap_or(Protocol::OpenAi);
                    let base_url = match (&args.base_url, known) {
                        (Some(u), _) => u.clone(),
                        (None, Some(k)) if k.protocol == protocol => k.base_url.to_string(),
                        (None, Some(k)) => bail!(
                            "`{}` is known as an {} endpoint ({}); for --protocol {} pass \
                             --base-url <url>",
                            args.name,
                            k.protocol,
                            k.base_url,
                            protocol
                        ),
                        (None, None) => bail!(
                            "`{}` is not a known provider ({}): pass --base-url <url>",
                            args.name,
                            known_names()
                        ),
                    };
                    let credential = credential.unwrap_or_else(|| {
                        match known
                            .filter(|k| k.protocol == protocol)
                            .and_then(|k| k.key_env)
                        {
                            Some(var) => FileCredential::KeyEnv(var.to_string()),
                            None => FileCredential::None,
                        }
                    });
                    BackendFile::new(&args.name, protocol, &base_url, credential)?
                }
            };
            file.base_url = config::normalize_base_url(file.protocol, &file.base_url)
                .map_err(|m| anyhow::anyhow!("--base-url: {m}"))?;
            if !args.models.is_empty() {
                file.models = args.models.clone();
            } else if !updating {
                // A known provider serves its own model names (`deepseek-chat` → deepseek).
                if let Some(k) = known.filter(|k| k.protocol == file.protocol) {
                    file.models = k.models.iter().map(|m| m.to_string()).collect();
                }
            }
            file
        }
    };
    if file.protocol == Protocol::OpenAi {
        if let Some(hint) = config::missing_version_hint(&file.base_url) {
            eprintln!("warning: {hint}");
        }
    }

    let path = config::write_backend(home, &file)?;
    let view = file.to_config(BackendSource::BackendFile(path.clone()), &|k| {
        std::env::var(k).ok()
    });
    println!(
        "{} backend `{}` in {}",
        if updating { "Updated" } else { "Added" },
        file.name,
        display_path(&path)
    );
    print_one(&view);
    if let Some(alias) = &args.deployment {
        println!("  (deployment `{alias}` added or replaced)");
    }
    if let Credential::KeyEnv { var, value: None } = &view.credential {
        eprintln!("note: {var} is not set in this shell; set it where `dario proxy` runs");
    }
    // Warn when config.toml defines the same backend (it takes precedence over the file).
    if let Ok(cfg) = config::load(home) {
        if let Some(b) = cfg.backend(&file.name) {
            if let BackendSource::ConfigToml(p) = &b.source {
                eprintln!(
                    "note: {} also defines [backends.{}]; that definition takes precedence \
                     over this file",
                    display_path(p),
                    file.name
                );
            }
        }
    }
    after_change(home);
    Ok(ExitCode::SUCCESS)
}

/// After a backend file changed: what the change did to routing (the implicit default backend
/// comes and goes with OpenAI-compatible backends; a route may now name a missing backend), and
/// tell a running proxy to reload.
fn after_change(home: &Home) {
    match config::load(home) {
        Ok(cfg) => {
            for p in config::reference_problems(&cfg) {
                eprintln!("warning: {p}");
            }
            let t = crate::routing::RouteTable::new(&cfg, None).template();
            match &t.default_backend {
                Some(d) => println!(
                    "Default backend (models no rule claims): {d} — {}",
                    t.default_reason
                ),
                None => println!(
                    "No default backend ({}): a model no rule claims gets a 404 (set \
                     `default_backend` in config.toml to choose one)",
                    t.default_reason
                        .strip_prefix("none: ")
                        .unwrap_or(&t.default_reason)
                ),
            }
        }
        Err(e) => eprintln!("warning: the configuration does not load: {e}"),
    }
    super::reload::tell_running_proxy();
}

fn source_text(source: &BackendSource) -> String {
    match source {
        BackendSource::BuiltIn => "built-in".to_string(),
        BackendSource::BackendFile(p) | BackendSource::ConfigToml(p) => display_path(p),
    }
}

fn print_one(b: &BackendConfig) {
    println!("  protocol    {}", b.protocol);
    println!("  base URL    {}", b.base_url);
    println!("  credential  {}", b.credential.source_label());
    if !b.models.is_empty() {
        println!("  models      {}", b.models.join(", "));
    }
    for d in &b.deployments {
        println!(
            "  deployment  {}  {}  {}",
            d.alias,
            d.base_url.as_deref().unwrap_or("(backend URL)"),
            d.credential
                .as_ref()
                .map(|c| c.source_label())
                .unwrap_or_else(|| "(backend credential)".to_string())
        );
    }
}

fn credential_json(c: &Credential) -> serde_json::Value {
    match c {
        Credential::Key { .. } => json!({"kind": "key", "source": c.source_label()}),
        Credential::KeyEnv { var, value } => json!({
            "kind": "key_env", "var": var, "set": value.is_some(), "source": c.source_label()
        }),
        Credential::Passthrough => json!({"kind": "passthrough", "source": c.source_label()}),
        Credential::None => json!({"kind": "none", "source": c.source_label()}),
    }
}

fn backend_json(b: &BackendConfig) -> serde_json::Value {
    json!({
        "name": b.name,
        "protocol": b.protocol,
        "base_url": b.base_url,
        "credential": credential_json(&b.credential),
        "models": b.models,
        "headers": b.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "deployments": b.deployments.iter().map(|d| json!({
            "alias": d.alias,
            "base_url": d.base_url.as_deref().unwrap_or(&b.base_url),
            "credential": d.credential.as_ref().map(credential_json)
                .unwrap_or_else(|| credential_json(&b.credential)),
        })).collect::<Vec<_>>(),
        "builtin": b.is_builtin(),
        "source": source_text(&b.source),
    })
}

fn list(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(home)?;
    if json {
        let out = json!({
            "home": display_path(home.dir()),
            "backends": cfg.backends.values().map(backend_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "NAME",
        "PROTOCOL",
        "BASE URL",
        "CREDENTIAL",
        "MODELS",
        "SOURCE",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    for b in cfg.backends.values() {
        rows.push([
            b.name.clone(),
            b.protocol.to_string(),
            b.base_url.clone(),
            b.credential.source_label(),
            if b.models.is_empty() {
                "-".to_string()
            } else {
                b.models.join(",")
            },
            source_text(&b.source),
        ]);
        for d in &b.deployments {
            rows.push([
                format!("  └ {}", d.alias),
                "deployment".to_string(),
                d.base_url.clone().unwrap_or_else(|| b.base_url.clone()),
                d.credential
                    .as_ref()
                    .map(|c| c.source_label())
                    .unwrap_or_else(|| "(backend's)".to_string()),
                String::new(),
                String::new(),
            ]);
        }
    }
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: &[String]| {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        line.trim_end().to_string()
    };
    println!("{}", render(&header.map(String::from)));
    for row in &rows {
        println!("{}", render(row));
    }
    if cfg.backends.values().all(|b| b.is_builtin()) {
        println!();
        println!("Only the built-in backends. Add one, e.g.:");
        println!("  dario backend add groq --key-env GROQ_API_KEY");
        println!("  dario backend add ollama --model 'llama*'");
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(home: &Home, name: &str) -> anyhow::Result<ExitCode> {
    config::validate_name("backend", name)?;
    let builtin = BUILTIN_BACKENDS.contains(&name);
    // Only to explain; a malformed config must not block removing a file.
    let in_toml = config::load(home)
        .ok()
        .and_then(|c| c.backend(name).map(|b| b.source.clone()))
        .and_then(|s| match s {
            BackendSource::ConfigToml(p) => Some(p),
            _ => None,
        });
    let _lock = config::lock_backends(home)?;
    match config::remove_backend(home, name) {
        Ok(path) => {
            println!("Removed backend `{name}` ({})", display_path(&path));
            if let Some(p) = in_toml {
                println!(
                    "note: {} still defines [backends.{name}]; edit it there to remove it",
                    display_path(&p)
                );
            } else if builtin {
                println!("The built-in `{name}` backend is used again.");
            }
            after_change(home);
            Ok(ExitCode::SUCCESS)
        }
        Err(config::ConfigError::BackendNotFound { .. }) => {
            if let Some(p) = in_toml {
                bail!(
                    "backend `{name}` is defined in {} ([backends.{name}]), not in a backend file: \
                     remove it there",
                    display_path(&p)
                );
            }
            if builtin {
                bail!(
                    "`{name}` is a built-in backend and cannot be removed (it has no file). To \
                     change it, add your own: `dario backend add {name} --base-url <url> …`"
                );
            }
            bail!("no backend `{name}`: see `dario backend list`");
        }
        Err(e) => Err(e.into()),
    }
}
