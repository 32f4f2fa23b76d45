//! The load generator: hyper HTTP/1.1 client connections (one per concurrent worker, keep-alive,
//! TCP_NODELAY), fixed request counts or fixed durations, and a streaming client that timestamps
//! every SSE event. Loopback only; every loop is bounded by a count or a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::upstream::unix_nanos;

/// One kind of request, sent again and again.
#[derive(Clone)]
pub struct Req {
    pub path: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

pub async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn {
        sender,
        host: HeaderValue::from_str(&addr.to_string()).expect("host header"),
    })
}

fn build(conn: &Conn, req: &Req) -> Request<Full<Bytes>> {
    let mut r = Request::post(req.path)
        .body(Full::new(req.body.clone()))
        .expect("request");
    let h = r.headers_mut();
    h.insert(http::header::HOST, conn.host.clone());
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in &req.headers {
        h.insert(k.clone(), v.clone());
    }
    r
}

/// Sends one non-streaming request and reads the whole response; Ok only for a 200 with a body.
pub async fn once(conn: &mut Conn, req: &Req) -> Result<(), String> {
    conn.sender.ready().await.map_err(|e| e.to_string())?;
    let resp = conn
        .sender
        .send_request(build(conn, req))
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != http::StatusCode::OK || body.is_empty() {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}

/// Result of a fixed-count or fixed-duration run.
#[derive(Default)]
pub struct RunResult {
    /// Latency of every successful request in the measured window, nanoseconds.
    pub lat_ns: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measured window.
    pub window: Duration,
    /// Successful requests including warm-up ones (for CPU per request).
    pub completed: u64,
}

impl RunResult {
    pub fn merge(&mut self, other: RunResult) {
        self.lat_ns.extend(other.lat_ns);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.window += other.window;
        self.completed += other.completed;
    }
}

/// `n` requests one after another on one connection (concurrency 1), after `warmup` unmeasured.
pub async fn sequential(addr: SocketAddr, req: &Req, warmup: usize, n: usize) -> RunResult {
    let mut out = RunResult {
        lat_ns: Vec::with_capacity(n),
        ..Default::default()
    };
    let mut conn = match connect(addr).await {
        Ok(c) => c,
        Err(e) => {
            out.errors = n as u64;
            out.first_error = Some(e);
            return out;
        }
    };
    for _ in 0..warmup {
        if once(&mut conn, req).await.is_ok() {
            out.completed += 1;
        }
    }
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        match once(&mut conn, req).await {
            Ok(()) => {
                out.lat_ns.push(t.elapsed().as_nanos() as u64);
                out.completed += 1;
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(e);
                match connect(addr).await {
                    Ok(c) => conn = c,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    out.window = t0.elapsed();
    out
}

/// `conc` workers, each on its own connection, for `warmup + duration`; only the `duration`
/// window is measured.
pub async fn closed_loop(
    addr: SocketAddr,
    req: &Req,
    conc: usize,
    warmup: Duration,
    duration: Duration,
) -> RunResult {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(conc);
    for _ in 0..conc {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = RunResult {
                lat_ns: Vec::with_capacity(4096),
                ..Default::default()
            };
            let mut conn = None;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if conn.is_none() {
                    match connect(addr).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            out.errors += 1;
                            out.first_error.get_or_insert(e);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().expect("connected");
                let t = Instant::now();
                let r = once(c, &req).await;
                let measured = t >= measure_from && Instant::now() <= end;
                if r.is_ok() {
                    out.completed += 1;
                }
                match r {
                    Ok(()) if measured => out.lat_ns.push(t.elapsed().as_nanos() as u64),
                    Ok(()) => {}
                    Err(e) => {
                        conn = None;
                        if measured {
                            out.errors += 1;
                            out.first_error.get_or_insert(e);
                        }
                    }
                }
            }
            out
        }));
    }
    let mut all = RunResult::default();
    for t in tasks {
        if let Ok(r) = t.await {
            all.merge(r);
        }
    }
    all.window = duration;
    all
}

/// What one stream delivered.
#[derive(Default)]
pub struct StreamResult {
    pub ok: bool,
    pub error: Option<String>,
    /// Request sent → first event received.
    pub ttfb_ns: u64,
    /// Per paced event: receive time − the upstream's write time (ns, wall clock of this host).
    pub delays_ns: Vec<i64>,
    /// Gaps between consecutive paced events at the client.
    pub gaps_ns: Vec<u64>,
}

fn parse_t(event: &[u8]) -> Option<u64> {
    let i = memchr::memmem::find(event, b" t=")? + 3;
    let digits = event[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&event[i..i + digits])
        .ok()?
        .parse()
        .ok()
}

/// Sends one streaming request on `conn` and reads the event stream to its end.
pub async fn stream_once(conn: &mut Conn, req: &Req, expect_events: usize) -> StreamResult {
    let mut out = StreamResult {
        delays_ns: Vec::with_capacity(expect_events),
        gaps_ns: Vec::with_capacity(expect_events),
        ..Default::default()
    };
    if let Err(e) = conn.sender.ready().await {
        out.error = Some(e.to_string());
        return out;
    }
    let sent = Instant::now();
    let resp = match conn.sender.send_request(build(conn, req)).await {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    if resp.status() != http::StatusCode::OK {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        out.error = Some(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
        return out;
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut first = true;
    let mut last: Option<Instant> = None;
    let mut ended_ok = false;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let now = Instant::now();
        let now_unix = unix_nanos();
        if first {
            out.ttfb_ns = now.duration_since(sent).as_nanos() as u64;
            first = false;
        }
        buf.extend_from_slice(data);
        let mut consumed = 0;
        while let Some(pos) = memchr::memmem::find(&buf[consumed..], b"\n\n") {
            let ev = &buf[consumed..consumed + pos];
            if memchr::memmem::find(ev, b"[DONE]").is_some()
                || memchr::memmem::find(ev, b"message_stop").is_some()
                || ev.starts_with(b"event: response.completed")
            {
                ended_ok = true;
            }
            // Responses streams repeat the whole text in their `.done` and final events: only
            // the text deltas are paced events.
            let paced = !ev.starts_with(b"event: response.")
                || ev.starts_with(b"event: response.output_text.delta");
            if let Some(t) = parse_t(ev).filter(|_| paced) {
                out.delays_ns.push(now_unix as i64 - t as i64);
                if let Some(prev) = last {
                    out.gaps_ns.push(now.duration_since(prev).as_nanos() as u64);
                }
                last = Some(now);
            }
            consumed += pos + 2;
        }
        buf.drain(..consumed);
    }
    out.ok = out.error.is_none() && ended_ok && out.delays_ns.len() == expect_events;
    if out.error.is_none() && !out.ok {
        out.error = Some(format!(
            "stream ended early: {} of {expect_events} events, end marker {}",
            out.delays_ns.len(),
            if ended_ok { "seen" } else { "missing" }
        ));
    }
    out
}

/// Time to first byte of `n` one-event streams sent one after another on one connection.
pub async fn ttfb_sequential(
    addr: SocketAddr,
    req: &Req,
    n: usize,
) -> (Vec<u64>, u64, Option<String>) {
    let mut out = Vec::with_capacity(n);
    let (mut errors, mut first_error) = (0, None);
    let Ok(mut conn) = connect(addr).await else {
        return (out, n as u64, Some(format!("could not connect to {addr}")));
    };
    for i in 0..n + n / 10 {
        let r = stream_once(&mut conn, req, 1).await;
        if !r.ok {
            errors += 1;
            first_error = first_error.or(r.error);
            if let Ok(c) = connect(addr).await {
                conn = c;
            }
        } else if i >= n / 10 {
            // The first tenth warms up.
            out.push(r.ttfb_ns);
        }
    }
    (out, errors, first_error)
}

/// Holds `n` streams at once: opens `n` connections first, then starts every request together.
/// Returns every stream's result and the time from the start signal to the last stream's end.
pub async fn many_streams(
    addr: SocketAddr,
    req: &Req,
    n: usize,
    expect_events: usize,
) -> (Vec<StreamResult>, Duration) {
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let gate = gate.clone();
        let opened = opened.clone();
        let mut go = go_rx.clone();
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let conn = {
                let _permit = gate.acquire().await;
                connect(addr).await
            };
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = go.wait_for(|g| *g).await;
            match conn {
                Ok(mut c) => stream_once(&mut c, &req, expect_events).await,
                Err(e) => StreamResult {
                    error: Some(e),
                    ..Default::default()
                },
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while opened.load(std::sync::atomic::Ordering::SeqCst) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let _ = go_tx.send(true);
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or_default());
    }
    (out, t0.elapsed())
}
