//! The dashboard: a self-contained page (`GET /dashboard`, HTML + CSS + JS embedded with
//! `include_str!`, no CDN), its JSON (`/dashboard/state`), its live feed (`/dashboard/events`,
//! server-sent events of finished requests and periodic state snapshots), and `/analytics?since=`,
//! which answers from the history on disk.
//!
//! Owns: what the page sees. Must not: show a key or a prompt (records carry names, counts and
//! times only), block the runtime (database work runs on the blocking pool), or serve data
//! without the API key when `DARIO_API_KEY` is set. The page's own files need no key (they hold
//! no data): the page asks for the key, keeps it in `sessionStorage` and sends it as `x-api-key`
//! on `fetch` — the feed is read with `fetch` streaming too, as `EventSource` cannot send headers.
//! Served with a strict CSP (scripts and styles from `'self'` only, no inline code, no eval) and
//! only on a loopback bind unless `[dashboard] allow_remote = true`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};

use crate::history;
use crate::proxy::body::{full, Body, BoxError};
use crate::proxy::error::{ErrorKind, ProxyError};
use crate::proxy::feed::{row_view, Watching};
use crate::proxy::state::ProxyState;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The page's Content-Security-Policy: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How often the feed sends a fresh state snapshot.
const STATE_EVERY: Duration = Duration::from_secs(3);
/// Requests listed as "last requests".
const RECENT: usize = 50;

/// A dashboard path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Index,
    Script,
    Style,
    State,
    Events,
}

impl Page {
    /// The data paths need the API key (when set); the page's own files hold no data.
    pub fn needs_key(self) -> bool {
        matches!(self, Page::State | Page::Events)
    }

    /// The page a path (without a trailing slash) names.
    pub fn from_path(path: &str) -> Option<Page> {
        Some(match path {
            "/dashboard" => Page::Index,
            "/dashboard/app.js" => Page::Script,
            "/dashboard/app.css" => Page::Style,
            "/dashboard/state" => Page::State,
            "/dashboard/events" => Page::Events,
            _ => return None,
        })
    }
}

/// Does this `GET /` come from a browser (which should get the dashboard instead of JSON)?
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// `303 See Other` to the dashboard (for a browser's `GET /`).
pub fn redirect() -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(
        http::header::LOCATION,
        HeaderValue::from_static("/dashboard"),
    );
    r
}

/// Serves a dashboard path (auth for the data paths is the caller's `authorize`).
pub async fn serve(
    state: &Arc<ProxyState>,
    page: Page,
    query: Option<&str>,
) -> Result<Response<Body>, ProxyError> {
    let cfg = state.snapshot.load().config.history.clone();
    if !cfg.dashboard {
        return Err(ProxyError::new(
            ErrorKind::UnknownEndpoint,
            "the dashboard is turned off: set `[dashboard] enabled = true` in config.toml",
        ));
    }
    if !state.options.listen.ip().is_loopback() && !cfg.dashboard_remote {
        return Err(ProxyError::new(
            ErrorKind::Permission,
            "the dashboard is served on a loopback address only: set `[dashboard] allow_remote = true` in config.toml to serve it on this address",
        ));
    }
    let asset = |body: &'static str, ctype: &'static str| {
        let mut r = Response::new(full(body));
        let h = r.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        r
    };
    Ok(match page {
        Page::Index => asset(INDEX_HTML, "text/html; charset=utf-8"),
        Page::Script => asset(APP_JS, "text/javascript; charset=utf-8"),
        Page::Style => asset(APP_CSS, "text/css; charset=utf-8"),
        Page::State => {
            let since = since_param(query)?.unwrap_or(history::Since::Span(DAY));
            let v = dashboard_state(state.clone(), since).await;
            json_response(&v)
        }
        Page::Events => {
            let since = since_param(query)?.unwrap_or(history::Since::Span(DAY));
            events(state.clone(), since)
        }
    })
}

const DAY: Duration = Duration::from_secs(86_400);

fn json_response(v: &Value) -> Response<Body> {
    let mut r = Response::new(crate::proxy::body::json(v));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The `since` query parameter, parsed.
pub fn since_param(query: Option<&str>) -> Result<Option<history::Since>, ProxyError> {
    let Some(v) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "since")
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    history::parse_since(v)
        .map(Some)
        .map_err(|e| ProxyError::invalid(format!("since: {e}")).with_param("since"))
}

/// `GET /analytics?since=7d`: the summary of that span from the history on disk (every record
/// accepted before the request is committed first). Without a history, spans up to 24 h answer
/// from memory (`source: memory`).
pub async fn analytics_since(
    state: &Arc<ProxyState>,
    since: history::Since,
) -> Result<Response<Body>, ProxyError> {
    match history_summary(state.clone(), since).await {
        Ok(v) => Ok(json_response(&v)),
        Err(why) => {
            let span = match since {
                history::Since::Span(d) => d,
                history::Since::Today => DAY,
            };
            if span <= DAY {
                Ok(json_response(&memory_summary(state, span)))
            } else {
                Err(ProxyError::new(
                    ErrorKind::Api,
                    format!("the usage history is not available ({why}); /analytics?window=<minutes> covers the last 24 h from memory"),
                )
                .with_status(StatusCode::SERVICE_UNAVAILABLE))
            }
        }
    }
}

fn memory_summary(state: &ProxyState, span: Duration) -> Value {
    let mut v =
        serde_json::to_value(state.analytics.summary(span, SystemTime::now())).unwrap_or_default();
    v["source"] = json!("memory");
    v
}

/// Runs `f` with a fresh read-only connection to the history after flushing the writer, on the
/// blocking pool.
async fn with_history<T: Send + 'static>(
    state: Arc<ProxyState>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, history::HistoryError> + Send + 'static,
) -> Result<T, String> {
    let Some(h) = state.history.get().cloned() else {
        return Err("history is not attached to this proxy".into());
    };
    if !h.is_open() {
        return Err(h
            .status()
            .error
            .unwrap_or_else(|| "history is turned off in config.toml".into()));
    }
    tokio::task::spawn_blocking(move || {
        h.flush_blocking(Duration::from_secs(5));
        let conn = history::open_read_only(h.path()).map_err(|e| e.to_string())?;
        f(&conn).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("history query failed: {e}"))?
}

async fn history_summary(state: Arc<ProxyState>, since: history::Since) -> Result<Value, String> {
    with_history(state, move |conn| {
        let now = SystemTime::now();
        let start = since.start_ms(conn, now)?;
        let s = history::summarize(conn, start, now)?;
        Ok(serde_json::to_value(s).unwrap_or_default())
    })
    .await
}

/// Everything the page shows, at once.
async fn dashboard_state(state: Arc<ProxyState>, since: history::Since) -> Value {
    let from_history = with_history(state.clone(), move |conn| {
        let now = SystemTime::now();
        let start = since.start_ms(conn, now)?;
        let summary = history::summarize(conn, start, now)?;
        let today_start = history::Since::Today.start_ms(conn, now)?;
        let today = history::summarize(conn, today_start, now)?;
        let recent: Vec<Value> = history::recent(conn, RECENT)?
            .iter()
            .map(row_view)
            .collect();
        Ok((
            serde_json::to_value(summary).unwrap_or_default(),
            json!({
                "requests": today.window.totals.requests,
                "tokens": today.window.totals.tokens.total,
                "cost_usd": today.window.totals.cost_usd,
            }),
            recent,
        ))
    })
    .await;
    let (summary, today, recent) = match from_history {
        Ok(x) => x,
        Err(_) => {
            let span = match since {
                history::Since::Span(d) => d.min(DAY),
                history::Since::Today => DAY,
            };
            let summary = memory_summary(&state, span);
            let today = json!({
                "requests": summary["window"]["totals"]["requests"],
                "tokens": summary["window"]["totals"]["tokens"]["total"],
                "cost_usd": summary["window"]["totals"]["cost_usd"],
            });
            let recent = state
                .analytics
                .recent(RECENT)
                .into_iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            (summary, today, recent)
        }
    };
    let snap = state.snapshot.load();
    let routes: Vec<Value> = snap
        .config
        .routes
        .iter()
        .map(|r| {
            json!({
                "model": r.model,
                "backend": r.backend,
                "upstream_model": r.upstream_model,
                "fallbacks": r.fallbacks,
            })
        })
        .collect();
    json!({
        "generated_at": crate::timefmt::format_rfc3339(SystemTime::now()),
        "version": crate::VERSION,
        "uptime_secs": state.started.elapsed().as_secs(),
        "requests_total": state.analytics.total_requests(),
        "summary": summary,
        "today": today,
        "recent": recent,
        "pool": snap.pools.snapshot(std::time::Instant::now()),
        "routing": {
            "default_backend": snap.config.default_backend,
            "aliases": snap.config.aliases,
            "routes": routes,
            "backends": crate::proxy::admin::backends(&state),
            "template_digest": snap.routes.digest(),
        },
        "history": state.history.get().map(|h| serde_json::to_value(h.status()).unwrap_or_default()),
    })
}

struct FeedState {
    state: Arc<ProxyState>,
    rx: tokio::sync::broadcast::Receiver<Arc<str>>,
    stopping: tokio::sync::watch::Receiver<bool>,
    tick: tokio::time::Interval,
    since: history::Since,
    _watching: Watching,
    done: bool,
}

fn sse(event: &str, data: &str) -> Result<Frame<Bytes>, BoxError> {
    Ok(Frame::data(Bytes::from(format!(
        "event: {event}\ndata: {data}\n\n"
    ))))
}

/// `GET /dashboard/events`: `record` events as requests finish, a `state` event at once and
/// every few seconds, until the client leaves or the server stops.
fn events(state: Arc<ProxyState>, since: history::Since) -> Response<Body> {
    let (rx, watching) = state.feed.watch();
    let mut tick = tokio::time::interval(STATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let st = FeedState {
        rx,
        stopping: state.stopping.subscribe(),
        state,
        tick,
        since,
        _watching: watching,
        done: false,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        let stopped = *st.stopping.borrow_and_update();
        if stopped {
            st.done = true;
            return Some((sse("bye", "{}"), st));
        }
        tokio::select! {
            biased;
            _ = st.stopping.changed() => {
                st.done = true;
                Some((sse("bye", "{}"), st))
            }
            rec = st.rx.recv() => match rec {
                Ok(json) => Some((sse("record", &json), st)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    Some((sse("lagged", &json!({"skipped": n}).to_string()), st))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
            },
            _ = st.tick.tick() => {
                let v = dashboard_state(st.state.clone(), st.since).await;
                Some((sse("state", &v.to_string()), st))
            }
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
