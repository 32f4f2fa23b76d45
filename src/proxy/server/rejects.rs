//! Refusals hyper writes on its own: a request head it cannot parse (a header block over the
//! limit → 431, a folded or colon-less header line, a NUL in a value → 400, a URI too long → 414)
//! is answered by hyper before dario sees a request, with an empty body. This wrapper around the
//! client connection gives those responses a JSON error body both SDKs can read.
//!
//! Owns: recognising such a response among the bytes written to the client and rewriting it.
//! Must not: touch any other response (dario's own always carry `x-dario-request-id`), buffer
//! the stream, or cost more than a prefix comparison per write.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client connection whose hyper-made refusals get a JSON body.
pub struct JsonRefusals<T> {
    inner: T,
    /// A rewritten refusal still being written (hyper was told it is written).
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonRefusals<T> {
    pub fn new(inner: T) -> Self {
        JsonRefusals {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// The refusal `head` rewritten with a JSON body, if `head` is a whole response head hyper wrote
/// for a request it could not parse: `HTTP/1.1 400|414|431`, `content-length: 0`, nothing after
/// the head, and not dario's own (which always has `x-dario-request-id` and a body).
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let message = match status {
        b"400" => "dario could not parse the request head: a malformed request line, a header line without a colon, a folded (obs-fold) header line, or a NUL or control character in a header value; fix the request the client sends",
        b"431" => "the request headers are larger than dario accepts: send fewer or shorter headers",
        b"414" => "the request URI is longer than dario accepts: dario's endpoints take no long query strings",
        _ => return None,
    };
    let end = memchr::memmem::find(head, b"\r\n\r\n")?;
    if end + 4 != head.len()
        || memchr::memmem::find(head, b"\r\ncontent-length: 0\r\n").is_none()
        || memchr::memmem::find(head, b"x-dario-request-id").is_some()
    {
        return None;
    }
    let body = serde_json::json!({
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message, "code": null, "param": null},
    })
    .to_string();
    let head = std::str::from_utf8(&head[..end]).ok()?;
    let head = head.replacen(
        "\r\ncontent-length: 0",
        &format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        ),
        1,
    );
    Some(format!("{head}\r\n\r\n{body}").into_bytes())
}

impl<T: AsyncWrite + Unpin> JsonRefusals<T> {
    /// Writes what is left of a rewritten refusal.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes over writing `buf` if it is a refusal to rewrite (reporting it all as written).
    fn intercept(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let rewritten = rewrite(buf)?;
        self.pending = rewritten;
        self.sent = 0;
        Some(match self.drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The rest goes out on the next write, flush or shutdown (a waker is registered).
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonRefusals<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if buf.starts_with(b"HTTP/1.1 4") {
            if let Some(done) = this.intercept(cx, buf) {
                return done;
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if first.starts_with(b"HTTP/1.1 4") {
                // A refusal is a head alone; written as its own (partial) vectored write.
                if let Some(done) = this.intercept(cx, first) {
                    return done;
                }
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn only_hyper_refusals_are_rewritten() {
        let refusal = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(refusal).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"]["type"], "invalid_request_error");
        // dario's own responses, other statuses, heads followed by a body: untouched.
        assert!(rewrite(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-dario-request-id: r\r\n\r\n"
        )
        .is_none());
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n").is_none());
    }
}
