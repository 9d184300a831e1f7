//! The gateway's TCP transport: a TCP listener, TLS 1.3, the authentication exchange on the
//! TLS stream, then HTTP/2 with the gateway as the client.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;

use super::accept::{Failed, Pending, Verdict, count_as, decide, take_pending};
use super::conn::{Conn, TcpConn};
use super::{Gateway, GatewayError, Inner};
use crate::read::read_message;
use crate::tcp;
use crate::transport::TransportKind;
use crate::wire::{ALPN_TCP, AuthReply, MAX_AUTH_LEN, decode_auth, encode_auth_reply};

const TCP: TransportKind = TransportKind::Tcp;

/// The gateway's TCP listener for agents on the TCP transport, with its TLS config (which
/// [`TcpEndpoint::set_server_config`] swaps for new connections, like
/// `quinn::Endpoint::set_server_config` on the QUIC side). Cheap to clone; clones share the
/// listener.
#[derive(Clone)]
pub struct TcpEndpoint {
    inner: Arc<EndpointInner>,
}

struct EndpointInner {
    listener: TcpListener,
    tls: ArcSwap<rustls::ServerConfig>,
}

impl std::fmt::Debug for TcpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpEndpoint")
            .field("local_addr", &self.inner.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl TcpEndpoint {
    /// An endpoint on `listener` serving `tls` (TLS 1.3, ring provider; its ALPN list is
    /// replaced with `ferry-tunnel-h2/1` and early data is turned off).
    #[must_use]
    pub fn new(listener: TcpListener, tls: rustls::ServerConfig) -> Self {
        Self {
            inner: Arc::new(EndpointInner {
                listener,
                tls: ArcSwap::from_pointee(tcp::server_tls(tls)),
            }),
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// When the socket cannot tell.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.listener.local_addr()
    }

    /// Serves `tls` to the connections accepted from now on (a reloaded certificate); live
    /// connections keep theirs.
    pub fn set_server_config(&self, tls: rustls::ServerConfig) {
        self.inner.tls.store(Arc::new(tcp::server_tls(tls)));
    }
}

impl Gateway {
    /// Binds a TCP listener on `addr` for agents on the TCP transport, serving `tls`.
    ///
    /// # Errors
    ///
    /// [`GatewayError::Bind`] when the address cannot be bound.
    pub async fn bind_tcp(
        &self,
        addr: SocketAddr,
        tls: rustls::ServerConfig,
    ) -> Result<TcpEndpoint, GatewayError> {
        let listener = TcpListener::bind(addr).await.map_err(GatewayError::Bind)?;
        Ok(TcpEndpoint::new(listener, tls))
    }

    /// Accepts agents on the TCP transport until `shutdown` completes, then drains like
    /// [`Gateway::run`] (both may run at once on one gateway, for example with the same
    /// `shutdown`; the agent table, the pending-authentication cap, the tunnel cap and the
    /// drain are shared).
    ///
    /// Each connection gets, within [`GatewayConfig::auth_timeout`](super::GatewayConfig)
    /// (one deadline), the TLS handshake (ALPN `ferry-tunnel-h2/1` required), the auth
    /// message read off the TLS stream (at most [`MAX_AUTH_LEN`](crate::MAX_AUTH_LEN) bytes,
    /// nothing after it), the verifier's decision and the reply; then HTTP/2 starts, the
    /// gateway being the client. Keep-alive: an HTTP/2 PING every
    /// [`QuicSettings::keep_alive_interval`](crate::QuicSettings), the connection is closed
    /// when one is not answered within the idle timeout.
    pub async fn run_tcp(&self, endpoint: TcpEndpoint, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = endpoint.inner.listener.accept() => match accepted {
                    Ok((stream, remote)) => spawn(&self.inner, &endpoint, stream, remote),
                    Err(e) => {
                        // Out of descriptors or a connection reset before accept: wait a
                        // little instead of spinning.
                        tracing::debug!(error = %e, "agent tcp accept failed");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        }
                    }
                },
            }
        }
        self.drain_agents().await;
    }
}

fn spawn(inner: &Arc<Inner>, endpoint: &TcpEndpoint, stream: TcpStream, remote: SocketAddr) {
    let Some(guard) = take_pending(inner) else {
        count_as("refused", TCP);
        return;
    };
    let tls = endpoint.inner.tls.load_full();
    inner
        .tasks
        .spawn(handle(Arc::clone(inner), tls, stream, remote, guard));
}

async fn handle(
    inner: Arc<Inner>,
    tls: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    remote: SocketAddr,
    pending: Pending,
) {
    let deadline = Instant::now() + inner.config.auth_timeout;
    let _ = stream.set_nodelay(true);
    let tls = match timeout_at(deadline, TlsAcceptor::from(tls).accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "agent tls handshake failed");
            count_as("handshake", TCP);
            return;
        }
        Err(_elapsed) => {
            tracing::debug!(%remote, "agent tls handshake timed out");
            count_as("timeout", TCP);
            return;
        }
    };
    if tls.get_ref().1.alpn_protocol() != Some(ALPN_TCP) {
        count_as("alpn", TCP);
        return;
    }
    // The TLS client certificate chain (mTLS), end-entity first; empty for none.
    let certificates = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    serve_plain(&inner, tls, certificates, remote, deadline, pending).await;
}

/// Everything after TLS, on the decrypted stream: the auth message, the reply, the HTTP/2
/// handshake by `deadline`, then the agent is registered and its connection driven (the
/// fuzz harness `tunnel_tcp` feeds this directly).
pub(crate) async fn serve_plain<T>(
    inner: &Arc<Inner>,
    mut tls: T,
    certificates: Vec<CertificateDer<'static>>,
    remote: SocketAddr,
    deadline: Instant,
    pending: Pending,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let read = match timeout_at(deadline, read_message(&mut tls, MAX_AUTH_LEN, decode_auth)).await {
        Ok(read) => read,
        Err(_elapsed) => {
            tracing::info!(%remote, reason = "timeout", transport = "tcp", "agent authentication failed");
            count_as("timeout", TCP);
            return;
        }
    };
    let (id, member, credential, checked_in) = match decide(inner, read, certificates) {
        Verdict::Accept(authenticated) => authenticated,
        Verdict::Reject(reason, Failed(_, label)) => {
            tracing::info!(%remote, reason = label, transport = "tcp", "agent authentication failed");
            count_as(label, TCP);
            let mut buf = Vec::with_capacity(2);
            encode_auth_reply(AuthReply::Rejected(reason), &mut buf);
            let _ = timeout_at(deadline, async {
                tls.write_all(&buf).await?;
                tls.shutdown().await
            })
            .await;
            return;
        }
        Verdict::Close(Failed(_, label)) => {
            count_as(label, TCP);
            return;
        }
    };
    let mut buf = Vec::with_capacity(2);
    encode_auth_reply(AuthReply::Ok, &mut buf);
    let sent = timeout_at(deadline, async {
        tls.write_all(&buf).await?;
        tls.flush().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        count_as("handshake", TCP);
        return;
    }
    let settings = inner.config.quic;
    let handshake = tcp::client_builder(&settings).handshake::<_, bytes::Bytes>(tls);
    let (send, connection) = match timeout_at(deadline, handshake).await {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "agent http/2 handshake failed");
            count_as("handshake", TCP);
            return;
        }
        Err(_elapsed) => {
            count_as("timeout", TCP);
            return;
        }
    };
    drop(pending);
    count_as("ok", TCP);
    tracing::info!(agent = %id, %remote, member = member.map(|m| m.index), transport = "tcp", "agent authenticated");
    let conn = TcpConn::new(send, remote);
    let driver = conn.clone();
    inner
        .tasks
        .spawn(async move { driver.drive(connection, settings).await });
    super::agents::register(inner, id, member, Conn::Tcp(conn), credential, checked_in);
}

impl Gateway {
    /// The TCP transport's gateway side on a decrypted stream, as if TLS had just completed
    /// (the fuzz harness `tunnel_tcp`); returns when authentication ended, the agent's
    /// connection driver is spawned on the gateway's tasks.
    pub(crate) async fn serve_plain_tcp<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(pending) = take_pending(&self.inner) else {
            return;
        };
        let deadline = Instant::now() + self.inner.config.auth_timeout;
        let remote = SocketAddr::from(([192, 0, 2, 1], 1));
        serve_plain(&self.inner, io, Vec::new(), remote, deadline, pending).await;
    }
}
