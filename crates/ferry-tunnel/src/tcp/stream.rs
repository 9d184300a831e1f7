//! One tunnel on the TCP transport: an HTTP/2 stream's two halves as a byte stream, with
//! HTTP/2 flow control (capacity reserved before sending, window released as the reader
//! consumes bytes).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h2::{Reason, RecvStream, SendStream, client::ResponseFuture};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes asked for at once when sending (h2 buffers at most what it granted).
const MAX_CHUNK: usize = 64 * 1024;

/// An h2 error as an I/O error: a reset by the peer is `ConnectionReset`, a connection that
/// went away is `BrokenPipe`.
pub(crate) fn io_error(e: h2::Error) -> io::Error {
    if e.is_reset() {
        return io::Error::new(io::ErrorKind::ConnectionReset, e);
    }
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe));
    }
    if e.is_go_away() {
        return io::Error::new(io::ErrorKind::BrokenPipe, e);
    }
    io::Error::other(e)
}

/// The sending half of a tunnel on the TCP transport.
#[derive(Debug)]
pub(crate) struct H2Send {
    stream: SendStream<Bytes>,
    ended: bool,
}

impl H2Send {
    pub(crate) fn new(stream: SendStream<Bytes>) -> Self {
        Self {
            stream,
            ended: false,
        }
    }

    /// `RST_STREAM` with `CANCEL`: both directions of the stream end, abnormally.
    pub(crate) fn reset(&mut self) {
        self.stream.send_reset(Reason::CANCEL);
        self.ended = true;
    }
}

impl AsyncWrite for H2Send {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        loop {
            let want = buf.len().min(MAX_CHUNK);
            if this.stream.capacity() == 0 {
                this.stream.reserve_capacity(want);
                match ready!(this.stream.poll_capacity(cx)) {
                    None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                    Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                    Some(Ok(_)) => {}
                }
            }
            let n = this.stream.capacity().min(want);
            if n == 0 {
                continue;
            }
            let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
            this.stream.send_data(chunk, false).map_err(io_error)?;
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes what was queued.
        Poll::Ready(Ok(()))
    }

    /// `END_STREAM` on an empty DATA frame: the half-close.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(Ok(()));
        }
        this.stream.reserve_capacity(0);
        this.stream
            .send_data(Bytes::new(), true)
            .map_err(io_error)?;
        this.ended = true;
        Poll::Ready(Ok(()))
    }
}

/// The receiving half: first (gateway side) the response headers, then the body.
#[derive(Debug)]
pub(crate) enum H2Recv {
    /// The gateway waits for the agent's response headers (sent as soon as it accepted the
    /// stream, before anything of the tunnel).
    Pending(ResponseFuture),
    /// The body; `held` is a DATA chunk not yet read out (its window is released as it is).
    Body { body: RecvStream, held: Bytes },
    /// The stream ended or failed.
    Done,
}

impl H2Recv {
    pub(crate) fn body(body: RecvStream) -> Self {
        Self::Body {
            body,
            held: Bytes::new(),
        }
    }
}

impl AsyncRead for H2Recv {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this {
                Self::Done => return Poll::Ready(Ok(())),
                Self::Pending(response) => {
                    let r = ready!(Pin::new(response).poll(cx));
                    match r {
                        Ok(resp) if resp.status() == http::StatusCode::OK => {
                            *this = Self::body(resp.into_body());
                        }
                        Ok(resp) => {
                            *this = Self::Done;
                            return Poll::Ready(Err(io::Error::other(format!(
                                "agent answered http status {}",
                                resp.status().as_u16()
                            ))));
                        }
                        Err(e) => {
                            *this = Self::Done;
                            return Poll::Ready(Err(io_error(e)));
                        }
                    }
                }
                Self::Body { body, held } => {
                    if !held.is_empty() {
                        let n = held.len().min(buf.remaining());
                        buf.put_slice(held.get(..n).unwrap_or_default());
                        held.advance(n);
                        let _ = body.flow_control().release_capacity(n);
                        return Poll::Ready(Ok(()));
                    }
                    if buf.remaining() == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    match ready!(body.poll_data(cx)) {
                        None => {
                            *this = Self::Done;
                            return Poll::Ready(Ok(()));
                        }
                        Some(Err(e)) => {
                            *this = Self::Done;
                            return Poll::Ready(Err(io_error(e)));
                        }
                        Some(Ok(data)) => *held = data,
                    }
                }
            }
        }
    }
}

use std::future::Future as _;
