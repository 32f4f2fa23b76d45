//! Body: a request body as it arrives on an HTTP/1.1 client connection, read by the handler
//! that owns it, from the connection's own buffer.
//!
//! Owns: reading the body by its framing (a length, or chunked), asking for it with
//! `100 Continue` when the client waits for that, and reporting a body that broke off.
//! Must not: read past the body's end (later bytes are the next request's), or hand out a body
//! in pieces when it could hand it out whole: a content-length body comes as one frame, so
//! collecting it copies nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::io::{BodyLeft, Conn, Taken};
use crate::proxy::chunked::FramingError;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the client closed the connection before the request body ended")]
    ClosedEarly,
    #[error("reading the request body failed")]
    Read(#[source] std::io::Error),
    #[error("the request body is not valid chunked framing")]
    Framing(#[from] FramingError),
}

/// The body of the request in flight on a connection.
pub struct RequestBody {
    conn: Arc<Conn>,
}

impl RequestBody {
    pub fn new(conn: Arc<Conn>) -> RequestBody {
        RequestBody { conn }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let conn = &*self.conn;
        let mut guard = conn.lock();
        let rs = &mut *guard;
        loop {
            let want = match rs.body.take(&mut rs.buf) {
                Ok(Taken::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Taken::End) => return Poll::Ready(None),
                Ok(Taken::NeedMore(want)) => want,
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            };
            if rs.closed {
                return Poll::Ready(Some(Err(BodyError::ClosedEarly)));
            }
            if let Err(e) = std::task::ready!(conn.poll_continue(rs, cx)) {
                return Poll::Ready(Some(Err(BodyError::Read(e))));
            }
            match std::task::ready!(conn.poll_fill(rs, cx, want)) {
                Ok(0) => return Poll::Ready(Some(Err(BodyError::ClosedEarly))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(BodyError::Read(e)))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.conn.lock().body, BodyLeft::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.conn.lock().body {
            BodyLeft::Done => SizeHint::with_exact(0),
            BodyLeft::Length(left) => SizeHint::with_exact(left),
            BodyLeft::Chunked(_) => SizeHint::default(),
        }
    }
}
