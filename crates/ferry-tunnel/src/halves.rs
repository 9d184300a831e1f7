//! A tunnel stream's two halves on either transport: a QUIC stream, or an HTTP/2 stream on
//! the TCP transport.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use quinn::VarInt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tcp::stream::{H2Recv, H2Send};
use crate::wire::stream_code;

/// The sending half of a tunnel.
#[derive(Debug)]
pub(crate) enum SendHalf {
    Quic(quinn::SendStream),
    Tcp(H2Send),
}

/// The receiving half of a tunnel.
#[derive(Debug)]
pub(crate) enum RecvHalf {
    Quic(quinn::RecvStream),
    Tcp(H2Recv),
}

impl SendHalf {
    /// Abandons the sending side (`RESET_STREAM` code 1 on QUIC, `RST_STREAM` `CANCEL` on
    /// HTTP/2, which ends both directions).
    pub(crate) fn reset(&mut self) {
        match self {
            Self::Quic(s) => {
                let _ = s.reset(VarInt::from_u32(stream_code::ABORTED));
            }
            Self::Tcp(s) => s.reset(),
        }
    }
}

impl RecvHalf {
    /// Asks the peer to stop sending (`STOP_SENDING` on QUIC; on HTTP/2 the reset of the send
    /// half already ended both directions).
    pub(crate) fn stop(&mut self) {
        match self {
            Self::Quic(r) => {
                let _ = r.stop(VarInt::from_u32(stream_code::ABORTED));
            }
            Self::Tcp(r) => *r = H2Recv::Done,
        }
    }
}

impl AsyncWrite for SendHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Quic(s) => AsyncWrite::poll_write(Pin::new(s), cx, buf),
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Quic(s) => Pin::new(s).poll_flush(cx),
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Quic(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for RecvHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Quic(r) => AsyncRead::poll_read(Pin::new(r), cx, buf),
            Self::Tcp(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}
