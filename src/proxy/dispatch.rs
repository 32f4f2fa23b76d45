//! Dispatch: turn the client's body into the body one backend expects. Same protocol: the
//! original bytes with only `model` spliced. Different protocols: a translated body (the only
//! place a request is fully parsed).
//!
//! Owns: the 2×2 protocol match for requests. Must not: do I/O.

use std::sync::Arc;

use bytes::Bytes;

use super::error::ProxyError;
use super::ingress::{self, ChatKind, Inbound};
use crate::config::BackendConfig;
use crate::protocol::Protocol;
use crate::translate::responses::{self, History, ResponsesMeta};
use crate::translate::{self, RequestContext, SystemMessages};

/// One backend's version of the request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: Bytes,
    /// Path relative to the backend's base URL.
    pub path: &'static str,
    /// `Some(backend protocol)` when the response must be translated back.
    pub translate_from: Option<Protocol>,
    /// Request fields that could not be expressed upstream.
    pub dropped: Vec<String>,
    /// The (OpenAI) client asked for a usage chunk.
    pub include_usage: bool,
    /// Translated with mid-conversation system messages inline (see
    /// [`translate::Translated::inline_system_messages`]).
    pub inline_system_messages: bool,
    /// A translated Responses API request: what its reply needs to become a `response`.
    pub responses: Option<Arc<ResponsesMeta>>,
}

/// Whether a backend takes Responses API requests as they are.
pub fn serves_responses(backend: &BackendConfig) -> bool {
    backend.protocol == Protocol::OpenAi && (backend.responses || is_openai_itself(backend))
}

/// Whether a backend is OpenAI's own API (its reasoning families take `max_completion_tokens`,
/// at most 4 stop sequences).
fn is_openai_itself(backend: &BackendConfig) -> bool {
    backend.base_url.contains("://api.openai.com")
}

/// The `anthropic-version` an Anthropic upstream will see: the client's, else the backend's
/// configured header, else dario's default.
fn anthropic_version<'a>(backend: &'a BackendConfig, client: &'a http::HeaderMap) -> &'a str {
    client
        .get("anthropic-version")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            backend
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("anthropic-version"))
                .map(|(_, v)| v.as_str())
        })
        .unwrap_or(translate::DEFAULT_ANTHROPIC_VERSION)
}

/// Builds the request body for `backend`. `system_messages` places mid-conversation system
/// messages when an Anthropic request is translated for an OpenAI-protocol backend.
pub fn prepare(
    request: &Inbound,
    backend: &BackendConfig,
    upstream_model: &str,
    system_messages: SystemMessages,
    history: History<'_>,
) -> Result<Prepared, ProxyError> {
    let Inbound {
        protocol: inbound,
        kind,
        ref parts,
        ref body,
        ref peek,
    } = *request;
    let client_headers = &parts.headers;
    if backend.protocol == inbound || (inbound == Protocol::Responses && serves_responses(backend))
    {
        let body = if upstream_model != peek.model {
            Bytes::from(ingress::splice_model(
                body,
                &peek.model_span,
                upstream_model,
            ))
        } else {
            body.clone()
        };
        return Ok(Prepared {
            body,
            path: match kind {
                ChatKind::CountTokens => "/v1/messages/count_tokens",
                ChatKind::Completion => inbound.chat_path(),
            },
            translate_from: None,
            dropped: Vec::new(),
            include_usage: false,
            inline_system_messages: false,
            responses: None,
        });
    }
    let ctx = RequestContext {
        upstream_model,
        backend_name: &backend.name,
        upstream_is_openai_itself: is_openai_itself(backend),
        accepts_reasoning_content: false,
        system_messages,
        anthropic_version: anthropic_version(backend, client_headers),
    };
    let mut meta = None;
    let translated = match inbound {
        Protocol::Anthropic => translate::anthropic_request_to_openai(body, &ctx),
        Protocol::OpenAi => translate::openai_request_to_anthropic(body, &ctx),
        Protocol::Responses => {
            // Responses → Chat; for Anthropic, on through the Chat → Messages translator.
            let for_anthropic = backend.protocol == Protocol::Anthropic;
            let (chat, m) =
                responses::responses_request_to_chat(body, &ctx, for_anthropic, history)
                    .map_err(ProxyError::untranslatable_request)?;
            meta = Some(Arc::new(m));
            if for_anthropic {
                translate::openai_request_to_anthropic(&chat.body, &ctx).map(|mut t| {
                    let mut dropped = chat.dropped;
                    dropped.append(&mut t.dropped);
                    t.dropped = dropped;
                    t.include_usage = true;
                    t
                })
            } else {
                Ok(chat)
            }
        }
    }
    .map_err(ProxyError::untranslatable_request)?;
    Ok(Prepared {
        body: Bytes::from(translated.body),
        path: backend.protocol.chat_path(),
        translate_from: Some(backend.protocol),
        dropped: translated.dropped,
        include_usage: translated.include_usage,
        inline_system_messages: translated.inline_system_messages,
        responses: meta,
    })
}
