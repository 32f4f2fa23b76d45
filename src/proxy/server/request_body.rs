//! Request body: a request's body as the connection it arrived on delivers it — dario's
//! HTTP/1.1 server or hyper's HTTP/2 one — behind one type the handlers read.
//!
//! Owns: nothing but the dispatch to the two. Must not: buffer or inspect.

use bytes::Bytes;

use crate::proxy::body::BoxError;

/// A request body, as the connection it arrived on delivers it.
pub enum RequestBody {
    Http1(super::h1::RequestBody),
    Http2(hyper::body::Incoming),
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Http1(b) => std::pin::Pin::new(b).poll_frame(cx).map_err(Into::into),
            RequestBody::Http2(b) => std::pin::Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Http1(b) => b.is_end_stream(),
            RequestBody::Http2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            RequestBody::Http1(b) => b.size_hint(),
            RequestBody::Http2(b) => b.size_hint(),
        }
    }
}
