//! `template_info`: the routing table, its files and digests, and drift from the running proxy.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

/// One inbound API endpoint and what becomes of its requests per backend protocol.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EndpointInfo {
    /// Method and path, e.g. `POST /v1/responses`.
    pub endpoint: String,
    /// The API spoken there: `anthropic`, `openai` (Chat Completions) or `responses`.
    pub protocol: String,
    /// To an Anthropic-protocol backend.
    pub to_anthropic: String,
    /// To an OpenAI-protocol backend.
    pub to_openai: String,
}

/// The model-serving endpoints (routed by `model`).
pub fn inbound_endpoints() -> Vec<EndpointInfo> {
    let e =
        |endpoint: &str, protocol: Protocol, to_anthropic: &str, to_openai: &str| EndpointInfo {
            endpoint: endpoint.to_string(),
            protocol: protocol.to_string(),
            to_anthropic: to_anthropic.to_string(),
            to_openai: to_openai.to_string(),
        };
    vec![
        e(
            "POST /v1/messages",
            Protocol::Anthropic,
            "passthrough (only `model` rewritten)",
            "translated to Chat Completions",
        ),
        e(
            "POST /v1/chat/completions",
            Protocol::OpenAi,
            "translated to Messages",
            "passthrough (only `model` rewritten)",
        ),
        e(
            "POST /v1/responses",
            Protocol::Responses,
            "translated (Responses -> Chat -> Messages)",
            "passthrough to OpenAI itself and backends with `responses = true`; else translated to Chat Completions",
        ),
    ]
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SourceFileInfo {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TemplateInfoOut {
    pub proxy: ProxyState,
    /// The routing table in resolution order: override, prefixes, routes, backend globs,
    /// aliases, families, default backend, shadowed rules and problems.
    #[serde(flatten)]
    pub table: Template,
    /// SHA-256 of the routing table alone.
    pub table_digest: String,
    /// Files the configuration was read from, with their SHA-256.
    pub files: Vec<SourceFileInfo>,
    /// SHA-256 digest of the configuration on disk.
    pub digest: String,
    /// Digest of the configuration the running proxy has loaded (`/status`), if running.
    pub proxy_digest: Option<String>,
    /// Whether the running proxy's loaded table differs from disk; `null` when it cannot tell.
    pub differs_from_disk: Option<bool>,
    /// One line on that comparison.
    pub drift: String,
    /// The model-serving endpoints and what each becomes per backend protocol.
    pub endpoints: Vec<EndpointInfo>,
    /// Backends that take `/v1/responses` requests untranslated.
    pub responses_passthrough: Vec<String>,
}

pub fn template_info(
    cfg: &Config,
    digest: String,
    table: Template,
    proxy: ProxyState,
) -> TemplateInfoOut {
    let proxy_digest = proxy.config_digest.clone();
    let (differs_from_disk, drift) = match (&proxy_digest, proxy.running) {
        (Some(p), _) if *p == digest => (
            Some(false),
            "the running proxy has loaded the configuration that is on disk".to_string(),
        ),
        (Some(_), _) => (
            Some(true),
            "the running proxy's loaded configuration differs from disk: restart it (or reload) to apply the changes".to_string(),
        ),
        (None, true) => (
            None,
            "the running proxy did not report a config digest: cannot compare".to_string(),
        ),
        (None, false) => (
            None,
            "proxy not running: nothing to compare with disk".to_string(),
        ),
    };
    TemplateInfoOut {
        proxy,
        table_digest: table.digest(),
        table,
        files: cfg
            .files
            .iter()
            .map(|f| SourceFileInfo {
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
            })
            .collect(),
        digest,
        proxy_digest,
        differs_from_disk,
        drift,
        endpoints: inbound_endpoints(),
        responses_passthrough: cfg
            .backends
            .values()
            .filter(|b| crate::proxy::serves_responses(b))
            .map(|b| b.name.clone())
            .collect(),
    }
}

pub(super) fn render_endpoints(endpoints: &[EndpointInfo]) -> String {
    let mut out = String::from("Endpoints (routed by `model`):\n");
    for e in endpoints {
        out.push_str(&format!(
            "   {} ({}): to Anthropic backends {}; to OpenAI backends {}\n",
            e.endpoint, e.protocol, e.to_anthropic, e.to_openai
        ));
    }
    out
}

impl Rendered for TemplateInfoOut {
    fn render(&self) -> String {
        let t = &self.table;
        let mut out = format!(
            "Routing table (config digest {}, table digest {}).\n{}\n{}\n\n",
            short(&self.digest),
            short(&self.table_digest),
            proxy_line(&self.proxy),
            self.drift
        );
        out.push_str(&render_endpoints(&self.endpoints));
        if !self.responses_passthrough.is_empty() {
            out.push_str(&format!(
                "/v1/responses untranslated to: {}\n",
                self.responses_passthrough.join(", ")
            ));
        }
        if let Some(m) = &t.override_model {
            out.push_str(&format!("1. Override: every request uses `{m}`\n"));
        }
        out.push_str("2. Prefixes (`<prefix>:<model>`):\n");
        for p in &t.prefixes {
            out.push_str(&format!(
                "   {}: → {} ({})\n",
                p.prefix,
                p.backend.as_deref().unwrap_or("NO BACKEND"),
                p.kind
            ));
        }
        if t.routes.is_empty() {
            out.push_str("3. Routes: none in config.toml\n");
        } else {
            out.push_str("3. Routes (first match wins):\n");
            for r in &t.routes {
                out.push_str(&format!("   #{} {} → {}", r.number, r.model, r.backend));
                if let Some(m) = &r.upstream_model {
                    out.push_str(&format!(" as {m}"));
                }
                if !r.fallbacks.is_empty() {
                    out.push_str(&format!(" (fallbacks: {})", r.fallbacks.join(" → ")));
                }
                out.push('\n');
            }
        }
        if !t.backend_globs.is_empty() {
            out.push_str("4. Backend model globs:\n");
            for g in &t.backend_globs {
                out.push_str(&format!("   {} → {}\n", g.pattern, g.backend));
            }
        }
        out.push_str("5. Aliases:\n");
        for a in &t.aliases {
            out.push_str(&format!("   {} → {} ({}", a.name, a.target, a.source));
            if a.overridden {
                out.push_str(", overridden");
            }
            out.push_str(")\n");
        }
        out.push_str("5. Families:\n");
        for f in &t.families {
            out.push_str(&format!("   {} → {}\n", f.pattern, f.backend));
        }
        out.push_str(&format!(
            "6. Default backend: {} ({})\n",
            t.default_backend.as_deref().unwrap_or("none"),
            t.default_reason
        ));
        for sh in &t.shadowed {
            out.push_str(&format!(
                "WARN never fires: {} (shadowed by {})\n",
                sh.rule, sh.by
            ));
        }
        for p in &t.problems {
            out.push_str(&format!("PROBLEM {p}\n"));
        }
        if self.files.is_empty() {
            out.push_str("Source files: none (built-in defaults only)\n");
        } else {
            out.push_str("Source files:\n");
            for f in &self.files {
                out.push_str(&format!("   {} (sha256 {})\n", f.path, short(&f.sha256)));
            }
        }
        out
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
