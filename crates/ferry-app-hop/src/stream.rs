//! A connection that is plain TCP or TLS on either side, relayed with `splice(2)` when both
//! sides are plain.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ferry_bridge::{Bridge, Outcome, Session};
use ferry_tls::{ClientTlsStream, ServerTlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Plain TCP, or TLS as the server or the client side.
pub(crate) enum Stream {
    Plain(TcpStream),
    Server(Box<ServerTlsStream<TcpStream>>),
    Client(Box<ClientTlsStream<TcpStream>>),
}

/// Relays `a` and `b`: `run_tcp` (splice) when both are plain TCP, the copy path otherwise.
pub(crate) async fn relay(bridge: &Bridge, a: Stream, b: Stream, session: Session) -> Outcome {
    match (a, b) {
        (Stream::Plain(a), Stream::Plain(b)) => bridge.run_tcp(a, b, session).await,
        (a, b) => bridge.run(a, b, session).await,
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Server($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            Stream::Client($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_shutdown(cx))
    }
}
