//! [`RoutedOpener`]: open locally when the agent is connected here, else forward to its owner.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_registry::{Entry, Forget, Owner, Registry};
use ferry_tunnel::{AgentId, Destination, Protocol};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::timeout;

use super::forward::{ForwardConfig, ForwardError, Forwarded, Forwarder};
use crate::opener::{OpenFailure, TunnelOpener};

/// Default bound on a registry lookup (and on the stale-record cleanup): 1 s.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// A [`TunnelOpener`] for a gateway in a cluster.
///
/// For each tunnel, in order:
///
/// 1. the local opener `L` (this gateway's agent connections); any answer but
///    [`OpenFailure::AgentNotConnected`] is final: registry outages never affect agents
///    connected here;
/// 2. a registry lookup bounded by the lookup timeout ([`DEFAULT_LOOKUP_TIMEOUT`]); a failed
///    or late lookup, no record, or a record naming this gateway: `503`
///    ([`OpenFailure::AgentNotConnected`]);
/// 3. a forward to the owner ([`Forwarder`]): TLS to its peer listener, `CONNECT` with the
///    shared gateway credential, the agent id and the client's address. The owner's status
///    maps back: `403` → [`OpenFailure::Denied`], `502` → [`OpenFailure::DialFailed`], `504`
///    → [`OpenFailure::Timeout`], `503`/`429` → [`OpenFailure::Overloaded`], anything else
///    (including `407`, a credential mismatch between gateways) →
///    [`OpenFailure::Transport`];
/// 4. a **stale** record (the owner is unreachable: TCP connect refused or timed out; or it
///    answers `503` with `Ferry-Reason: agent-not-connected`) is removed with
///    [`Registry::forget_stale`] (only that exact record) before the client gets its `503`.
///
/// The owner side is [`PeerFront`](super::PeerFront), which only ever opens locally, so a
/// tunnel crosses at most one gateway-to-gateway hop.
pub struct RoutedOpener<L> {
    local: L,
    registry: Arc<dyn Registry>,
    me: Owner,
    forwarder: Forwarder,
    lookup_timeout: ArcSwap<Duration>,
}

impl<L> std::fmt::Debug for RoutedOpener<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedOpener")
            .field("me", &self.me)
            .field("lookup_timeout", &self.lookup_timeout)
            .finish_non_exhaustive()
    }
}

impl<L: TunnelOpener> RoutedOpener<L> {
    /// Routes through `local` first, then to owners found in `registry`. `me` is this
    /// gateway's own record (a record naming it is never forwarded to).
    #[must_use]
    pub fn new(local: L, registry: Arc<dyn Registry>, me: Owner, forwarder: Forwarder) -> Self {
        Self {
            local,
            registry,
            me,
            forwarder,
            lookup_timeout: ArcSwap::from_pointee(DEFAULT_LOOKUP_TIMEOUT),
        }
    }

    /// Sets the lookup timeout (default [`DEFAULT_LOOKUP_TIMEOUT`]).
    #[must_use]
    pub fn lookup_timeout(self, lookup_timeout: Duration) -> Self {
        self.lookup_timeout.store(Arc::new(lookup_timeout));
        self
    }

    /// Replaces the lookup timeout and the forwarding settings for the next open (a reload);
    /// opens in progress keep theirs.
    pub fn set_timeouts(&self, lookup_timeout: Duration, forward: ForwardConfig) {
        self.lookup_timeout.store(Arc::new(lookup_timeout));
        self.forwarder.set_config(forward);
    }

    /// The local opener.
    #[must_use]
    pub fn local(&self) -> &L {
        &self.local
    }

    async fn lookup(&self, agent: &str) -> Option<Entry> {
        match timeout(**self.lookup_timeout.load(), self.registry.lookup(agent)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(agent, error = %ferry_app_core::error::error_line(&e), "registry lookup failed");
                super::registry_failure("lookup");
                None
            }
            Err(_elapsed) => {
                tracing::warn!(agent, "registry lookup timed out");
                super::registry_failure("lookup");
                None
            }
        }
    }

    async fn forget(&self, agent: &AgentId, seen: &Entry, why: &str) {
        let agent = agent.as_str();
        let forgot = timeout(
            **self.lookup_timeout.load(),
            self.registry.forget_stale(agent, seen),
        )
        .await;
        match forgot {
            Ok(Ok(Forget::Forgotten)) => {
                tracing::info!(agent, owner = %seen.owner, why, "forgot stale agent record");
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => super::registry_failure("forget_stale"),
        }
    }
}

impl<L: TunnelOpener> TunnelOpener for RoutedOpener<L> {
    type Stream = RoutedStream<L::Stream>;

    async fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<Self::Stream, OpenFailure> {
        self.route(agent, destination, client, Protocol::Tcp).await
    }

    /// As [`RoutedOpener::open`]; the forward to the owner asks for a UDP tunnel
    /// (`Ferry-Protocol: udp`), and an owner that does not confirm it in its reply (a gateway
    /// older than UDP services) is [`OpenFailure::UdpUnsupported`].
    async fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<Self::Stream, OpenFailure> {
        self.route(agent, destination, client, Protocol::Udp).await
    }
}

impl<L: TunnelOpener> RoutedOpener<L> {
    async fn route(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Result<RoutedStream<L::Stream>, OpenFailure> {
        let local = match protocol {
            Protocol::Udp => self.local.open_udp(agent, destination, client).await,
            _ => self.local.open(agent, destination, client).await,
        };
        match local {
            Ok(stream) => return Ok(RoutedStream::Local(stream)),
            Err(OpenFailure::AgentNotConnected) => {}
            Err(other) => return Err(other),
        }
        let Some(seen) = self.lookup(agent.as_str()).await else {
            return Err(OpenFailure::AgentNotConnected);
        };
        if seen.owner == self.me {
            // Our own record for an agent that is not here (it just left): no loop to self.
            return Err(OpenFailure::AgentNotConnected);
        }
        let forwarded = self
            .forwarder
            .forward(seen.owner.addr, agent, destination, client, protocol)
            .await;
        match forwarded {
            Ok(stream) => Ok(RoutedStream::Remote(Box::new(stream))),
            Err(ForwardError::Unreachable(why)) => {
                self.forget(agent, &seen, &why).await;
                Err(OpenFailure::AgentNotConnected)
            }
            Err(ForwardError::Refused {
                agent_absent: true, ..
            }) => {
                self.forget(agent, &seen, "owner says the agent is not connected")
                    .await;
                Err(OpenFailure::AgentNotConnected)
            }
            Err(ForwardError::Refused { status, .. }) => Err(match status {
                403 => OpenFailure::Denied,
                502 => OpenFailure::DialFailed(format!("at owner {}", seen.owner.addr)),
                504 => OpenFailure::Timeout,
                429 | 503 => OpenFailure::Overloaded,
                other => OpenFailure::Transport(format!("owner answered {other}")),
            }),
            Err(ForwardError::ReplyTimeout) => Err(OpenFailure::Timeout),
            Err(ForwardError::Tls(why)) => Err(OpenFailure::Transport(format!(
                "tls to owner failed: {why}"
            ))),
            Err(ForwardError::Protocol(why)) => Err(OpenFailure::Transport(format!(
                "owner reply unusable: {why}"
            ))),
            Err(ForwardError::UdpUnsupported) => {
                tracing::warn!(agent = agent.as_str(), owner = %seen.owner.addr, "owner gateway too old for UDP services: it did not confirm a UDP tunnel");
                Err(OpenFailure::UdpUnsupported)
            }
        }
    }
}

/// The stream of a routed tunnel: local, or forwarded to the owner gateway.
#[derive(Debug)]
pub enum RoutedStream<S> {
    /// Opened by the local opener.
    Local(S),
    /// Forwarded to the owner.
    Remote(Box<Forwarded>),
}

impl<S: AsyncRead + Unpin> AsyncRead for RoutedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Local(s) => Pin::new(s).poll_read(cx, buf),
            Self::Remote(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for RoutedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Local(s) => Pin::new(s).poll_write(cx, buf),
            Self::Remote(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Local(s) => Pin::new(s).poll_flush(cx),
            Self::Remote(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Local(s) => Pin::new(s).poll_shutdown(cx),
            Self::Remote(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// A shared opener: the gateway's local opener is used by both the [`RoutedOpener`] and the
/// [`PeerFront`](super::PeerFront).
impl<T: TunnelOpener> TunnelOpener for Arc<T> {
    type Stream = T::Stream;

    fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> impl Future<Output = Result<Self::Stream, OpenFailure>> + Send {
        (**self).open(agent, destination, client)
    }

    fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> impl Future<Output = Result<Self::Stream, OpenFailure>> + Send {
        (**self).open_udp(agent, destination, client)
    }
}
