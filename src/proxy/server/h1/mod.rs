//! H1: dario's HTTP/1.1 server — one client connection, its requests one after the other, each
//! read, handed to `endpoints::handle` and answered on the connection's own task.
//!
//! Owns: the connection's life — waiting for a head within the header deadline, refusing heads
//! it cannot serve with a JSON error, handing out the body, cancelling a request whose client
//! left, writing the response, and keeping the connection for the next request or closing it
//! (lingering for a moment when the client may still be sending). Must not: know what an
//! endpoint does with a request.
//!
//! Why not hyper's server: per open stream it held a read buffer grown to 16 KiB, two write
//! buffers and the handler's future for the connection's whole life, and it copied every event
//! into its write buffer (BENCHMARKS.md, issue 15). Here a request head is parsed once into the
//! `http` types the handlers take, a response's frames go out in vectored writes without being
//! copied, and once the response is ready a connection holds neither the handler's future nor a
//! read buffer. h2c (HTTP/2 with prior knowledge) is recognised by its preface and handed to
//! hyper (`super::serve_connection`).

mod body;
mod head;
mod io;
mod replay;
mod response;

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use body::RequestBody;
use head::{Parsed, Refusal};
use io::{BodyLeft, Conn, READ_SIZE};
pub use replay::{replay, Replayed};
use response::{Asked, Written};

use super::endpoints;
use crate::proxy::state::ProxyState;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long, and for how many bytes, a closing connection keeps reading what the client still
/// sends, so that its close does not reset the response away before the client reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// How a connection's HTTP/1.1 life ended.
pub enum Ended {
    Closed,
    /// The client opened with the HTTP/2 preface: the socket and the bytes read so far.
    Http2(TcpStream, Bytes),
}

/// What waiting for the next request head found.
// Returned once per request and taken apart at once: boxing the request would cost an
// allocation per request to save a move.
#[allow(clippy::large_enum_variant)]
enum Next {
    Request(Parsed),
    Refused(Refusal),
    /// The head did not arrive within the header deadline.
    TimedOut {
        partial: bool,
    },
    /// The client closed, the socket failed, or dario is stopping and the connection is idle.
    Close,
    Http2,
}

/// Serves one client connection until it closes.
pub async fn serve(stream: TcpStream, state: Arc<ProxyState>) -> Ended {
    let conn = Arc::new(Conn::new(stream));
    let mut stopping = state.stopping.subscribe();
    let header_timeout = state.snapshot.load().config.limits.header_read_timeout;
    let mut out = Vec::new();
    let mut first = true;
    // One timer for the connection's life, moved only when it fires early (see `next_head`).
    let mut timer = pin!(tokio::time::sleep(header_timeout));
    loop {
        // The head, the request and the handler's result are this block's: their storage ends
        // with it, so the task does not keep room for them beside the response's write (which
        // is what an open stream waits in).
        let (response, asked) =
            {
                let parsed =
                    match next_head(&conn, first, header_timeout, timer.as_mut(), &mut stopping)
                        .await
                    {
                        Next::Request(parsed) => parsed,
                        Next::Refused(refusal) => {
                            let _ = conn.write_all(&head::refusal_response(refusal)).await;
                            return close(conn, true).await;
                        }
                        Next::TimedOut { partial } => {
                            if partial {
                                let refusal = head::refusal_response(Refusal::TIMED_OUT);
                                let _ = conn.write_all(&refusal).await;
                            }
                            return close(conn, partial).await;
                        }
                        Next::Close => return close(conn, false).await,
                        Next::Http2 => {
                            let Ok(conn) = Arc::try_unwrap(conn) else {
                                return Ended::Closed;
                            };
                            let mut rs = conn.lock();
                            let read = std::mem::take(&mut rs.buf).freeze();
                            drop(rs);
                            return Ended::Http2(conn.into_stream(), read);
                        }
                    };
                first = false;
                let Parsed {
                    request,
                    framing,
                    keep_alive,
                    expect_continue,
                } = parsed;
                let asked = Asked {
                    method_is_head: request.method() == Method::HEAD,
                    version: request.version(),
                    keep_alive,
                };
                {
                    let mut rs = conn.lock();
                    rs.body = BodyLeft::of(framing);
                    Conn::owe_continue(&mut rs, expect_continue);
                }
                let request =
                    request.map(|()| super::RequestBody::Http1(RequestBody::new(conn.clone())));
                // The handler's future is the whole request path, kilobytes large. It is written
                // straight into a heap slot (moving it through this loop's await points cost a copy of
                // all of it per request), and the slot is freed once the response is ready, so an open
                // stream does not hold it.
                let mut handler = Box::pin(None);
                handler.set(Some(endpoints::handle(state.clone(), request)));
                let response = handle_watching(&conn, handler.as_mut()).await;
                drop(handler);
                let Some(response) = response else {
                    // The client left while its request was in flight: dropping the handler cancelled
                    // whatever it was waiting for upstream.
                    return close(conn, false).await;
                };
                (response, asked)
            };
        // A body the handler did not read (a refusal before it) is skipped if it is all here;
        // otherwise the connection cannot find the next request and closes after the response.
        let (body_read, continue_rest) = {
            let mut rs = conn.lock();
            let continue_rest = Conn::end_continue(&mut rs);
            let body_read = skip_unread_body(&mut rs);
            Conn::release_buffer(&mut rs);
            (body_read, continue_rest)
        };
        if !continue_rest.is_empty() && conn.write_all(continue_rest).await.is_err() {
            return close(conn, false).await;
        }
        let asked = Asked {
            keep_alive: asked.keep_alive && body_read && !*stopping.borrow(),
            ..asked
        };
        match response::write(&conn, &mut out, response, &asked).await {
            Written::Whole { keep_alive: true } => {}
            Written::Whole { keep_alive: false } => return close(conn, !body_read).await,
            Written::Broken => return close(conn, false).await,
        }
    }
}

/// Skips the unread rest of a content-length body when all of it is in the buffer; whether the
/// connection is now at the next request.
fn skip_unread_body(rs: &mut io::ReadSide) -> bool {
    match rs.body {
        BodyLeft::Done => true,
        BodyLeft::Length(left) if left <= rs.buf.len() as u64 => {
            let _ = rs.buf.split_to(left as usize);
            rs.body = BodyLeft::Done;
            true
        }
        _ => false,
    }
}

/// Waits for the next whole request head, within the header deadline.
///
/// The deadline is counted from when the wait began. The connection's one timer is not re-armed
/// per request (that costs a timer-wheel update every request); when it fires, the wait that is
/// on checks its own start and moves the timer to its own deadline if that is later.
async fn next_head(
    conn: &Conn,
    first: bool,
    header_timeout: Duration,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) -> Next {
    let started = Instant::now();
    // How much of the buffer has been looked at for the end of the head.
    let mut scanned = None;
    loop {
        {
            let mut rs = conn.lock();
            if first && rs.buf.is_empty() && *stopping.borrow() {
                return Next::Close;
            }
            // The first bytes of a connection may be HTTP/2's preface: wait until they tell.
            let n = rs.buf.len().min(H2_PREFACE.len());
            let maybe_h2 = first && n > 0 && rs.buf[..n] == H2_PREFACE[..n];
            if maybe_h2 && n == H2_PREFACE.len() {
                return Next::Http2;
            }
            if !maybe_h2 {
                match head::take_head(&mut rs.buf, &mut scanned) {
                    Ok(Some(parsed)) => return Next::Request(parsed),
                    Ok(None) => {}
                    Err(refusal) => return Next::Refused(refusal),
                }
            }
            if rs.closed {
                return Next::Close;
            }
        }
        enum Woke {
            Read,
            Timer,
            Stop,
            Failed,
        }
        let woke = {
            let changed = stopping.changed();
            let mut changed = pin!(changed);
            poll_fn(|cx| {
                match conn.poll_fill(&mut conn.lock(), cx, READ_SIZE) {
                    Poll::Ready(Ok(_)) => return Poll::Ready(Woke::Read),
                    Poll::Ready(Err(_)) => return Poll::Ready(Woke::Failed),
                    Poll::Pending => {}
                }
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woke::Timer);
                }
                if changed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Woke::Stop);
                }
                Poll::Pending
            })
            .await
        };
        match woke {
            Woke::Read => {}
            Woke::Failed => return Next::Close,
            Woke::Timer => {
                let deadline = started + header_timeout;
                if Instant::now() >= deadline {
                    let partial = !conn.lock().buf.is_empty();
                    return Next::TimedOut { partial };
                }
                timer.as_mut().reset(deadline);
            }
            Woke::Stop => {
                if *stopping.borrow() && conn.lock().buf.is_empty() {
                    return Next::Close;
                }
            }
        }
    }
}

/// Runs the handler while watching the client: `None` if it left first (the handler is dropped,
/// which cancels its upstream request).
async fn handle_watching<F, T, E>(conn: &Conn, mut handler: Pin<&mut Option<F>>) -> Option<T>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let outcome = poll_fn(|cx| {
        let Some(future) = handler.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(done) = future.poll(cx) {
            return Poll::Ready(done.ok());
        }
        if conn.poll_client_gone(&mut conn.lock(), cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    // Done or abandoned: the request's state goes now (cancelling what it still waited for).
    handler.set(None);
    outcome
}

/// Closes the connection. With `linger`, the client may still be sending (a body dario did not
/// read, a refused head): dario stops writing, then reads and drops what comes for a moment, so
/// the close does not reset the connection before the client has read the response.
async fn close(conn: Arc<Conn>, linger: bool) -> Ended {
    let Ok(conn) = Arc::try_unwrap(conn) else {
        return Ended::Closed;
    };
    let mut stream = conn.into_stream();
    if linger {
        let _ = stream.shutdown().await;
        let drain = async {
            let mut scratch = vec![0u8; 16 * 1024];
            let mut seen = 0;
            while seen < LINGER_BYTES {
                match stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
    Ended::Closed
}
