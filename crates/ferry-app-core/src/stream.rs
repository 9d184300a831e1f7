//! The one plain-or-TLS connection type of the programs, and its relay: `splice(2)` when both
//! sides are plain TCP, the bridge's copy path otherwise.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ferry_bridge::{Bridge, Outcome, Session};
use ferry_tls::{ClientTlsStream, ServerTlsStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Plain TCP, or TLS over it as the server or the client side. TLS states are boxed so that
/// plain connections do not carry rustls's size in their task.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS accepted from a client.
    Server(Box<ServerTlsStream<TcpStream>>),
    /// TLS opened towards a server.
    Client(Box<ClientTlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath (for socket options and addresses).
    #[must_use]
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Server(s) => s.get_ref().0,
            Self::Client(s) => s.get_ref().0,
        }
    }

    /// Whether this is plain TCP.
    #[must_use]
    pub fn is_plain(&self) -> bool {
        matches!(self, Self::Plain(_))
    }
}

/// Relays `a` and `b` with `bridge`: [`Bridge::run_tcp`] (splice) when both are plain TCP, the
/// copy path otherwise. The future is boxed: held inline, the splice and copy variants would
/// make every connection's task as large as both together, idle or not.
pub fn relay<'a>(
    bridge: &'a Bridge,
    a: Stream,
    b: Stream,
    session: Session,
) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
    match (a, b) {
        (Stream::Plain(a), Stream::Plain(b)) => Box::pin(bridge.run_tcp(a, b, session)),
        (a, b) => Box::pin(bridge.run(a, b, session)),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use ferry_bridge::BridgeConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    #[tokio::test]
    async fn plain_pairs_relay_with_half_close_and_counts() {
        let (mut client, a) = pair().await;
        let (b, mut server) = pair().await;
        let (a, b) = (Stream::Plain(a), Stream::Plain(b));
        assert!(a.is_plain());
        assert!(a.tcp().peer_addr().is_ok());
        let bridge = Bridge::new(BridgeConfig::default());
        let counters = Arc::new(ferry_bridge::Counters::new());
        let session = Session::default().counters(Arc::clone(&counters));
        let relay = tokio::spawn(async move { relay(&bridge, a, b, session).await });
        client.write_all(b"ping").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        server.write_all(b"pong").await.unwrap();
        server.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"pong");
        let outcome = relay.await.unwrap();
        assert_eq!((outcome.a_to_b, outcome.b_to_a), (4, 4));
    }
}
