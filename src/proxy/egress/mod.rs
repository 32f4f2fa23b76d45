//! Egress: an upstream response becomes the client's response — bytes relayed untouched on
//! passthrough (configured secrets masked), JSON translated whole, SSE translated event by
//! event, errors re-enveloped in the caller's protocol and scrubbed of secrets; a redirect or an
//! encoded body dario did not ask for is refused (`unrelayable`).
//!
//! Owns: response status/headers/body shaping. Must not: buffer a stream.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::proxy::body::{full, Body};
use crate::proxy::dispatch::Prepared;
use crate::proxy::error::ProxyError;
use crate::proxy::ingress::Inbound;
pub mod relay;

use crate::protocol::{Protocol, Usage};
use crate::proxy::responses_store::ResponseStore;
use crate::proxy::state::Snapshot;
use crate::redact::Redactor;
use crate::translate::responses::{self, ChatToResponsesStream, ResponsesMeta, TranslatedResponse};
use crate::translate::{self, ResponseContext};
use relay::{EndHook, EndInfo, RelayMode, StreamTranslator, UsageWatcher};

/// Response headers every relayed response starts with: the upstream's allowed headers plus
/// dario's own. The upstream's map is kept and the few headers not meant for the client are
/// removed from it, rather than every allowed one being copied (and hashed) into a new map.
///
/// A forwarded value that carries a configured secret (or a run of one) is masked.
pub fn base_headers(
    mut upstream: HeaderMap,
    backend: &str,
    dropped: &[String],
    redactor: &Redactor,
) -> HeaderMap {
    let unwanted: Vec<HeaderName> = upstream
        .keys()
        .filter(|name| !crate::proxy::headers::forward_response_header(name.as_str()))
        .cloned()
        .collect();
    for name in &unwanted {
        upstream.remove(name);
    }
    if !redactor.is_empty() {
        for value in upstream.values_mut() {
            if redactor.finds(value.as_bytes()) {
                let mut masked = value.as_bytes().to_vec();
                redactor.mask_in_place(&mut masked);
                *value = HeaderValue::from_bytes(&masked)
                    .unwrap_or_else(|_| HeaderValue::from_static("***"));
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(backend) {
        upstream.insert(X_DARIO_BACKEND.clone(), v);
    }
    if !dropped.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&dropped.join(",")) {
            upstream.insert(X_DARIO_DROPPED.clone(), v);
        }
    }
    upstream
}

/// Why an upstream response can not be relayed at all, if it can not: a redirect (following it,
/// or letting the client follow it, would send the credential to another host) or a body in a
/// content coding dario never asked for and does not decode. The answer is then a 502 in the
/// caller's envelope.
pub fn unrelayable(backend: &str, status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if status.is_redirection() {
        return Some(format!(
            "backend `{backend}` answered with a redirect (HTTP {}); dario never follows redirects from a backend, which would send its credential to another host: check the base URL with `dario backend list`",
            status.as_u16()
        ));
    }
    let encoding = headers.get(http::header::CONTENT_ENCODING)?.as_bytes();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case(b"identity") {
        return None;
    }
    // Name the coding only when it looks like one (a header value is upstream-controlled text).
    let named = std::str::from_utf8(encoding)
        .ok()
        .filter(|e| e.len() <= 16 && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map_or_else(|| "an encoded".to_string(), |e| format!("a `{e}`-encoded"));
    Some(format!(
        "backend `{backend}` sent {named} body (HTTP {}), which dario did not ask for and does not decode: check the server, or a proxy in front of it, for response compression",
        status.as_u16()
    ))
}

/// The answer to `count_tokens` on a backend that cannot count: dario's local estimate, flagged
/// as such.
pub fn token_estimate(input_tokens: u64, backend: &str) -> Response<Body> {
    let mut resp = Response::new(full(
        serde_json::to_vec(&serde_json::json!({ "input_tokens": input_tokens }))
            .unwrap_or_default(),
    ));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-dario-token-count",
        HeaderValue::from_static("estimate; tiktoken o200k_base"),
    );
    if let Ok(v) = HeaderValue::from_str(backend) {
        h.insert("x-dario-backend", v);
    }
    resp
}

static X_DARIO_BACKEND: HeaderName = HeaderName::from_static("x-dario-backend");
static X_DARIO_DROPPED: HeaderName = HeaderName::from_static("x-dario-dropped");

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// A JSON response body after a possibly translated upstream error: scrubbed, in the caller's
/// envelope, with the status an OpenAI client expects for Anthropic's 529.
pub fn upstream_error(
    status: StatusCode,
    upstream_headers: &HeaderMap,
    body: &[u8],
    backend: &str,
    backend_protocol: Protocol,
    inbound: Protocol,
    snapshot: &Snapshot,
) -> Response<Body> {
    let text = String::from_utf8_lossy(body);
    let scrubbed = snapshot.scrub(&text);
    // Relayed as it is only when it is a JSON error body of the caller's own protocol; anything
    // else (an HTML page, a body cut at the 64 KiB bound, plain text) is re-enveloped.
    let as_is = backend_protocol == inbound.family()
        && scrubbed.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(&scrubbed).is_ok();
    let (status, out) = if as_is {
        (status, Bytes::from(scrubbed.into_owned()))
    } else {
        match inbound {
            Protocol::Anthropic => (
                status,
                Bytes::from(translate::error_to_anthropic(
                    status.as_u16(),
                    scrubbed.as_bytes(),
                )),
            ),
            Protocol::OpenAi | Protocol::Responses => (
                StatusCode::from_u16(translate::error_status_for_openai(status.as_u16()))
                    .unwrap_or(status),
                Bytes::from(translate::error_to_openai(
                    status.as_u16(),
                    scrubbed.as_bytes(),
                )),
            ),
        }
    };
    let mut resp = Response::new(full(out));
    *resp.status_mut() = status;
    *resp.headers_mut() = base_headers(upstream_headers.clone(), backend, &[], &snapshot.redactor);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE && !resp.headers().contains_key("retry-after") {
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Keeps a passthrough JSON body's chunks (shared with the client's copy, bounded) to read its
/// usage at the end. A body in one chunk — the usual case — is never copied.
struct JsonUsage {
    protocol: Protocol,
    chunks: Vec<Bytes>,
    len: usize,
}

const JSON_USAGE_CAP: usize = 8 * 1024 * 1024;

impl UsageWatcher for JsonUsage {
    fn feed(&mut self, chunk: &Bytes) {
        if self.len + chunk.len() <= JSON_USAGE_CAP {
            self.len += chunk.len();
            self.chunks.push(chunk.clone());
        }
    }
    fn usage(&self) -> Usage {
        match self.chunks.as_slice() {
            [one] => translate::usage_from_json(self.protocol, one),
            many => translate::usage_from_json(self.protocol, &many.concat()),
        }
    }
    fn completed(&self) -> Option<bool> {
        None
    }
}

impl UsageWatcher for translate::UsageTap {
    fn feed(&mut self, chunk: &Bytes) {
        translate::UsageTap::feed(self, chunk)
    }
    fn usage(&self) -> Usage {
        translate::UsageTap::usage(self)
    }
    fn completed(&self) -> Option<bool> {
        Some(translate::UsageTap::completed(self))
    }
    fn errored(&self) -> bool {
        translate::UsageTap::errored(self)
    }
}

impl StreamTranslator for translate::OpenAiToAnthropicStream {
    fn feed(&mut self, chunk: &[u8], out: &mut bytes::BytesMut) {
        translate::OpenAiToAnthropicStream::feed(self, chunk, out)
    }
    fn finish(&mut self, out: &mut bytes::BytesMut) {
        translate::OpenAiToAnthropicStream::finish(self, out)
    }
    fn fail(&mut self, message: &str, out: &mut bytes::BytesMut) {
        translate::OpenAiToAnthropicStream::fail(self, message, out)
    }
    fn usage(&self) -> Usage {
        translate::OpenAiToAnthropicStream::usage(self)
    }
    fn failed(&self) -> bool {
        translate::OpenAiToAnthropicStream::failed(self)
    }
    fn ended(&self) -> bool {
        translate::OpenAiToAnthropicStream::is_ended(self)
    }
}

impl StreamTranslator for translate::AnthropicToOpenAiStream {
    fn feed(&mut self, chunk: &[u8], out: &mut bytes::BytesMut) {
        translate::AnthropicToOpenAiStream::feed(self, chunk, out)
    }
    fn finish(&mut self, out: &mut bytes::BytesMut) {
        translate::AnthropicToOpenAiStream::finish(self, out)
    }
    fn fail(&mut self, message: &str, out: &mut bytes::BytesMut) {
        translate::AnthropicToOpenAiStream::fail(self, message, out)
    }
    fn usage(&self) -> Usage {
        translate::AnthropicToOpenAiStream::usage(self)
    }
    fn failed(&self) -> bool {
        translate::AnthropicToOpenAiStream::failed(self)
    }
    fn ended(&self) -> bool {
        translate::AnthropicToOpenAiStream::is_ended(self)
    }
}

/// A Responses API stream from a Chat backend (`inner: None`) or an Anthropic one (its events go
/// through the Messages → Chat transducer first), keeping the finished response in the store
/// when the client asked for `store`.
struct ResponsesStream {
    inner: Option<translate::AnthropicToOpenAiStream>,
    outer: ChatToResponsesStream,
    store: Option<Arc<ResponseStore>>,
    scratch: bytes::BytesMut,
}

impl ResponsesStream {
    fn through_inner(
        &mut self,
        f: impl FnOnce(&mut translate::AnthropicToOpenAiStream, &mut bytes::BytesMut),
        out: &mut bytes::BytesMut,
    ) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        self.scratch.clear();
        f(inner, &mut self.scratch);
        if !self.scratch.is_empty() {
            self.outer.feed(&self.scratch, out);
        }
    }

    fn keep(&mut self) {
        if let (Some(store), Some(output)) = (&self.store, self.outer.take_output()) {
            let meta = self.outer.meta();
            let mut conversation = meta.input.clone();
            conversation.extend(output);
            store.insert(meta.id.clone(), conversation);
        }
    }
}

impl StreamTranslator for ResponsesStream {
    fn feed(&mut self, chunk: &[u8], out: &mut bytes::BytesMut) {
        if self.inner.is_some() {
            self.through_inner(|i, o| i.feed(chunk, o), out);
        } else {
            self.outer.feed(chunk, out);
        }
    }
    fn finish(&mut self, out: &mut bytes::BytesMut) {
        self.through_inner(|i, o| i.finish(o), out);
        self.outer.finish(out);
        self.keep();
    }
    fn fail(&mut self, message: &str, out: &mut bytes::BytesMut) {
        self.through_inner(|i, o| i.fail(message, o), out);
        self.outer.fail(message, out);
    }
    fn usage(&self) -> Usage {
        match &self.inner {
            // The Anthropic usage has cache writes, which Chat usage cannot carry.
            Some(inner) => inner.usage(),
            None => self.outer.usage(),
        }
    }
    fn failed(&self) -> bool {
        self.outer.failed()
    }
    fn ended(&self) -> bool {
        self.outer.is_ended()
    }
}

/// A whole Chat or Anthropic reply → a `response` object (kept in the store when asked).
fn responses_json(
    raw: &[u8],
    from: Protocol,
    meta: &ResponsesMeta,
    ctx: &ResponseContext,
    store: &ResponseStore,
) -> Result<(Vec<u8>, Usage, Vec<String>), translate::TranslateError> {
    let (mut translated, mut dropped) = match from {
        Protocol::Anthropic => {
            let (chat, usage, dropped) =
                translate::anthropic_response_to_chat_with_signatures(raw, ctx)?;
            (
                responses::chat_response_to_responses(&chat, meta, Some(usage))?,
                dropped,
            )
        }
        _ => (
            responses::chat_response_to_responses(raw, meta, None)?,
            Vec::new(),
        ),
    };
    dropped.append(&mut translated.dropped);
    let TranslatedResponse {
        body,
        usage,
        output,
        ..
    } = translated;
    if meta.store {
        let mut conversation = meta.input.clone();
        conversation.extend(output);
        store.insert(meta.id.clone(), conversation);
    }
    dropped.dedup();
    Ok((body, usage, dropped))
}

/// The client's response for a successful upstream response to `request`.
pub async fn success(
    upstream: crate::proxy::upstream::client::UpstreamResponse,
    request: &Inbound,
    prepared: &Prepared,
    backend: &str,
    snapshot: &Snapshot,
    hook: EndHook,
    store: &Arc<ResponseStore>,
) -> Response<Body> {
    let inbound = request.protocol;
    let client_model = request.peek.model.as_str();
    let idle = snapshot.config.limits.stream_idle_timeout;
    let redactor = &snapshot.redactor;
    let mut upstream = upstream;
    let status = upstream.status();
    let upstream_headers = std::mem::take(upstream.headers_mut());
    let sse = is_event_stream(&upstream_headers);
    let content_type = upstream_headers.get(http::header::CONTENT_TYPE).cloned();
    let mut headers = base_headers(upstream_headers, backend, &prepared.dropped, redactor);
    let ctx = ResponseContext {
        client_model,
        include_usage: prepared.include_usage,
    };
    let body = match (prepared.translate_from, sse) {
        (None, _) => {
            if let Some(ct) = content_type {
                headers.insert(http::header::CONTENT_TYPE, ct);
            }
            let watcher: Box<dyn UsageWatcher> = if sse {
                Box::new(translate::UsageTap::new(inbound))
            } else {
                Box::new(JsonUsage {
                    protocol: inbound,
                    chunks: Vec::new(),
                    len: 0,
                })
            };
            relay::relay(
                upstream,
                RelayMode::Passthrough {
                    sse,
                    watcher: Some(watcher),
                },
                inbound,
                idle,
                redactor.stream(),
                hook,
            )
        }
        (Some(from), true) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            let translator: Box<dyn StreamTranslator> = match (&prepared.responses, from) {
                (Some(meta), from) => Box::new(ResponsesStream {
                    inner: (from == Protocol::Anthropic).then(|| {
                        translate::AnthropicToOpenAiStream::with_signatures(&ResponseContext {
                            client_model,
                            include_usage: true,
                        })
                    }),
                    outer: ChatToResponsesStream::new(ResponsesMeta::clone(meta)),
                    store: meta.store.then(|| store.clone()),
                    scratch: bytes::BytesMut::new(),
                }),
                (None, Protocol::Anthropic) => {
                    Box::new(translate::AnthropicToOpenAiStream::new(&ctx))
                }
                (None, _) => Box::new(translate::OpenAiToAnthropicStream::new(&ctx)),
            };
            relay::relay(
                upstream,
                RelayMode::Translate(translator),
                inbound,
                idle,
                redactor.stream(),
                hook,
            )
        }
        (Some(from), false) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let started = std::time::Instant::now();
            let raw = crate::proxy::upstream::read_body(upstream, idle).await;
            let translated = raw.map_err(|e| e.to_string()).and_then(|raw| {
                match (&prepared.responses, from) {
                    (Some(meta), from) => responses_json(&raw, from, meta, &ctx, store),
                    (None, Protocol::Anthropic) => {
                        translate::anthropic_response_to_openai(&raw, &ctx)
                    }
                    (None, _) => translate::openai_response_to_anthropic(&raw, &ctx),
                }
                .map_err(|e| e.to_string())
            });
            match translated {
                Ok((bytes, usage, dropped)) => {
                    let bytes = redactor.scrub_bytes(bytes.into());
                    if !dropped.is_empty() {
                        let mut all = prepared.dropped.clone();
                        all.extend(dropped);
                        if let Ok(v) = HeaderValue::from_str(&all.join(",")) {
                            headers.insert(X_DARIO_DROPPED.clone(), v);
                        }
                    }
                    hook.fire(EndInfo {
                        completed: true,
                        bytes: bytes.len() as u64,
                        usage,
                        first_byte: Some(started),
                        ..EndInfo::default()
                    });
                    full(bytes)
                }
                Err(message) => {
                    let err = ProxyError::untranslatable_response(backend, &message);
                    hook.fire(EndInfo {
                        error: Some(message),
                        ..EndInfo::default()
                    });
                    let mut resp = Response::new(full(err.body(inbound)));
                    *resp.status_mut() = StatusCode::BAD_GATEWAY;
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    *resp.headers_mut() = headers;
                    return resp;
                }
            }
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
