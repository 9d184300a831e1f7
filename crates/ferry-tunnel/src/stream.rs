//! One tunnel: a QUIC bidirectional stream, or an HTTP/2 stream on the TCP transport, as a
//! byte stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ferry_base::io::Prefixed;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::halves::{RecvHalf, SendHalf};

/// An open tunnel: bytes written go to the destination through the agent, bytes read come
/// from it.
///
/// - `shutdown` (for example [`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown))
///   finishes the QUIC send stream (on the TCP transport: `END_STREAM` on the HTTP/2 stream):
///   the agent shuts down its write half to the destination while the other direction keeps
///   flowing (half-close).
/// - A read returns 0 once the destination closed its side and everything it sent was read.
/// - Dropping the stream before `shutdown` resets it (`RESET_STREAM`, code 1) so the other
///   end sees an error, never a clean end of a truncated transfer; dropping it before the read
///   side ended asks the peer to stop sending (`STOP_SENDING`). On the TCP transport both are
///   `RST_STREAM` with `CANCEL`.
///
/// The stream holds one of its agent's tunnel slots until dropped. After a clean finish, the
/// gateway's drain still waits (up to 10 s) for the agent to acknowledge the last bytes (QUIC;
/// on TCP the connection is closed gracefully, which delivers what was queued).
#[derive(Debug)]
pub struct TunnelStream {
    pub(crate) send: SendHalf,
    /// The receive side, after the bytes read past the tunnel header or status.
    pub(crate) recv: Prefixed<RecvHalf>,
    finished: bool,
    pub(crate) request_id: u64,
    _slot: Option<Slot>,
    token: Option<TaskTrackerToken>,
}

/// A tunnel's place at the gateway: one of its agent's tunnel slots, and one count in the
/// open tunnels of the connection it runs on (which spreads new tunnels over an agent's
/// connection group). Both are given back when the stream is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    load: Arc<AtomicUsize>,
}

impl Slot {
    pub(crate) fn new(permit: OwnedSemaphorePermit, load: Arc<AtomicUsize>) -> Self {
        load.fetch_add(1, Ordering::Relaxed);
        Self {
            _permit: permit,
            load,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a finished stream keeps its drain token after being dropped, waiting for the peer
/// to acknowledge the last bytes (so a drain never closes the connection under them).
const LINGER: Duration = Duration::from_secs(10);

impl TunnelStream {
    pub(crate) fn new(
        send: SendHalf,
        recv: RecvHalf,
        prefix: Bytes,
        request_id: u64,
        slot: Option<Slot>,
        token: Option<TaskTrackerToken>,
    ) -> Self {
        Self {
            send,
            recv: Prefixed::new(prefix, recv),
            finished: false,
            request_id,
            _slot: slot,
            token,
        }
    }

    /// The request id carried in the tunnel header (the same in the gateway's and the agent's
    /// logs).
    #[must_use]
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// Aborts both directions at once: resets the send side and stops the receive side.
    pub fn abort(&mut self) {
        self.send.reset();
        self.recv.get_mut().stop();
        self.finished = true;
    }
}

impl Drop for TunnelStream {
    fn drop(&mut self) {
        if !self.finished {
            self.send.reset();
            return;
        }
        let SendHalf::Quic(send) = &mut self.send else {
            return;
        };
        // Finished: quinn keeps sending the rest after the drop. Hold the drain token until the
        // peer has it all, so a drain does not close the connection under those bytes.
        if let (Some(token), Ok(rt)) = (self.token.take(), tokio::runtime::Handle::try_current()) {
            let delivered = send.stopped();
            rt.spawn(async move {
                let _ = tokio::time::timeout(LINGER, delivered).await;
                drop(token);
            });
        }
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        AsyncRead::poll_read(Pin::new(&mut self.get_mut().recv), cx, buf)
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.get_mut().send), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.send).poll_shutdown(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            this.finished = true;
        }
        r
    }
}
