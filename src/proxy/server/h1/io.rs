//! Io: one client connection's socket and the bytes read from it, shared by the connection loop
//! (`mod.rs`) and the request body it hands to a handler (`body.rs`).
//!
//! Owns: reading into the buffer, what is left of the request body and taking it off the
//! buffer by its framing (`BodyLeft`, here because the read side holds it and the body and the
//! connection both use it), watching an otherwise idle socket for the client leaving (or sending
//! its next request early), writing bytes out, and the `100 Continue` interim response.
//! Must not: parse heads, or hold its lock across an await (every use is inside one poll).
//!
//! Everything here runs on the connection's own task: the lock is never contended, it only lets
//! the body, which a handler owns, reach the same buffer.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::head::BodyFraming;
use crate::proxy::chunked::{Chunked, FramingError, Step};

/// The smallest read into the buffer; a request head and a small body fit in one.
pub const READ_SIZE: usize = 4 * 1024;
/// Bytes of later (pipelined) requests read while one is in flight; past this, dario stops
/// reading until the current response is written.
const MAX_PIPELINED: usize = 64 * 1024;
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A content-length body is handed out whole up to this size, in pieces of it beyond.
const MAX_FRAME: u64 = 4 * 1024 * 1024;

/// What is left of the current request's body.
#[derive(Debug)]
pub enum BodyLeft {
    /// Read to its end (or there was none).
    Done,
    /// This many bytes of a content-length body.
    Length(u64),
    Chunked(Chunked),
}

/// What the buffer holds of the body next.
pub enum Taken {
    Data(Bytes),
    /// The body has ended.
    End,
    /// Read more first (room for this many bytes helps).
    NeedMore(usize),
}

impl BodyLeft {
    pub fn of(framing: BodyFraming) -> BodyLeft {
        match framing {
            BodyFraming::Empty => BodyLeft::Done,
            BodyFraming::Length(n) => BodyLeft::Length(n),
            BodyFraming::Chunked => BodyLeft::Chunked(Chunked::Size),
        }
    }

    /// Takes the next part of the body off the front of `buf`: a content-length body whole (up
    /// to `MAX_FRAME`) once it is all there, a chunked one chunk by chunk (strictly).
    pub fn take(&mut self, buf: &mut BytesMut) -> Result<Taken, FramingError> {
        match self {
            BodyLeft::Done => Ok(Taken::End),
            BodyLeft::Length(left) => {
                let have = buf.len() as u64;
                if have < *left && have < MAX_FRAME {
                    // Room for the whole rest, so it arrives in as few reads as it can.
                    return Ok(Taken::NeedMore((*left - have).min(MAX_FRAME) as usize));
                }
                let n = have.min(*left);
                *left -= n;
                if *left == 0 {
                    *self = BodyLeft::Done;
                }
                Ok(Taken::Data(buf.split_to(n as usize).freeze()))
            }
            BodyLeft::Chunked(chunked) => match chunked.step_request(buf)? {
                Step::Data(data) => Ok(Taken::Data(data)),
                Step::End => {
                    *self = BodyLeft::Done;
                    Ok(Taken::End)
                }
                Step::NeedMore => Ok(Taken::NeedMore(READ_SIZE)),
            },
        }
    }
}

/// The read side of a connection.
pub struct ReadSide {
    /// Bytes read and not yet used: the rest of a head, a body, or later requests.
    pub buf: BytesMut,
    pub body: BodyLeft,
    /// Bytes of `100 Continue` still to write before the body is read (0: none owed).
    continue_left: usize,
    /// The client closed its side (end of file read).
    pub closed: bool,
    /// `buf` was made larger than a plain read for a body (see `release_buffer`).
    grown: bool,
}

/// A client connection.
pub struct Conn {
    pub stream: TcpStream,
    read: Mutex<ReadSide>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            read: Mutex::new(ReadSide {
                buf: BytesMut::new(),
                body: BodyLeft::Done,
                continue_left: 0,
                closed: false,
                grown: false,
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, ReadSide> {
        // A panic while the lock was held leaves plain bytes behind; nothing to repair.
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Reads what the socket has into `rs.buf` (making room for at least `want` bytes);
    /// `Ok(0)` at the end of the stream.
    pub fn poll_fill(
        &self,
        rs: &mut ReadSide,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            if rs.buf.capacity() - rs.buf.len() < want.max(1) {
                rs.buf.reserve(want.max(1));
                rs.grown |= want > READ_SIZE;
            }
            match self.stream.try_read_buf(&mut rs.buf) {
                Ok(0) => {
                    rs.closed = true;
                    return Poll::Ready(Ok(0));
                }
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// While a request is in flight and its body has been read: whether the client has gone
    /// (end of file or a socket error). Bytes of a next request are kept for later. Registers
    /// for a wake-up when the socket turns readable; nothing is allocated unless bytes came.
    pub fn poll_client_gone(&self, rs: &mut ReadSide, cx: &mut Context<'_>) -> bool {
        if rs.closed {
            return true;
        }
        if !matches!(rs.body, BodyLeft::Done) || rs.buf.len() >= MAX_PIPELINED {
            return false;
        }
        loop {
            match self.stream.poll_read_ready(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(_)) => return true,
                Poll::Ready(Ok(())) => {}
            }
            let mut scratch = [0u8; 512];
            match self.stream.try_read(&mut scratch) {
                Ok(0) => {
                    rs.closed = true;
                    return true;
                }
                Ok(n) => {
                    rs.buf.extend_from_slice(&scratch[..n]);
                    if rs.buf.len() >= MAX_PIPELINED {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return true,
            }
        }
    }

    /// Owes the client a `100 Continue` before its body is read.
    pub fn owe_continue(rs: &mut ReadSide, owed: bool) {
        rs.continue_left = if owed { CONTINUE.len() } else { 0 };
    }

    /// After the handler: no `100 Continue` is owed any more; what must still be written of one
    /// already begun (its start went out before the socket's buffer filled), if any.
    pub fn end_continue(rs: &mut ReadSide) -> &'static [u8] {
        let begun = rs.continue_left < CONTINUE.len();
        let rest = &CONTINUE[CONTINUE.len() - rs.continue_left..];
        rs.continue_left = 0;
        if begun {
            rest
        } else {
            &[]
        }
    }

    /// After the handler: the read buffer is let go while the response is written and the
    /// connection waits for its next request (an open stream or an idle connection holds no
    /// read buffer; the next read allocates one); one grown for a body and still holding bytes
    /// of a next request is replaced by one just large enough for them.
    pub fn release_buffer(rs: &mut ReadSide) {
        if rs.buf.is_empty() {
            rs.buf = BytesMut::new();
        } else if rs.grown {
            rs.buf = BytesMut::from(&rs.buf[..]);
        }
        rs.grown = false;
    }

    /// Writes what is owed of `100 Continue`.
    pub fn poll_continue(&self, rs: &mut ReadSide, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while rs.continue_left > 0 {
            let from = CONTINUE.len() - rs.continue_left;
            match self.stream.try_write(&CONTINUE[from..]) {
                Ok(n) => rs.continue_left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.stream.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stream.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
