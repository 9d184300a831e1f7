//! The gateway half: accepts agents, authenticates them, opens tunnels to them.

mod accept;
mod agents;
pub(crate) mod conn;
mod held;
mod open;
mod revalidate;
mod tcp;
pub use revalidate::Revalidated;
pub use tcp::TcpEndpoint;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroU32};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::task::TaskTracker;

pub use open::OpenError;

use crate::agent_id::AgentId;
use crate::events::AgentEvents;
use crate::quic::{self, QuicConfigError, QuicSettings};
use crate::transport::TransportKind;
use crate::verifier::AgentVerifier;
use crate::wire::close_code;
use agents::AgentTable;

/// Gateway settings. Every field has a documented default ([`GatewayConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Total time an agent has, from its first packet, to finish the QUIC handshake and send
    /// a valid auth message. Nothing is stored for the agent before it passes. Default: 10 s.
    pub auth_timeout: Duration,
    /// Time [`Gateway::open`] waits for the agent's status (the agent's own dial timeout,
    /// 5 s by default, must fit in it). Default: 10 s.
    pub open_timeout: Duration,
    /// Concurrent tunnels per agent (all connections of its group together);
    /// [`Gateway::open`] fails with [`OpenError::StreamCapReached`] beyond it. Default: 1024.
    pub max_tunnels_per_agent: NonZeroU32,
    /// Connections one agent may hold in its connection group: a member with a higher index
    /// is refused ([`RejectReason::GroupFull`](crate::wire::RejectReason::GroupFull)), at most
    /// [`MAX_GROUP_MEMBERS`](crate::wire::MAX_GROUP_MEMBERS) (16). Default: 8.
    pub max_connections_per_agent: NonZeroU8,
    /// Connections that are handshaking or authenticating at the same time; new attempts
    /// beyond it are refused before any crypto work (`0` refuses every connection).
    /// Default: 1024.
    pub max_pending_auth: usize,
    /// On shutdown, how long open tunnels may finish before agent connections are closed.
    /// Default: 30 s.
    pub drain_timeout: Duration,
    /// QUIC transport settings. Default: [`QuicSettings::default`] (keep-alive 10 s, idle
    /// 30 s, stream window 2 MiB, connection window 16 MiB).
    pub quic: QuicSettings,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(10),
            open_timeout: Duration::from_secs(10),
            max_tunnels_per_agent: NonZeroU32::new(1024).unwrap_or(NonZeroU32::MIN),
            max_connections_per_agent: NonZeroU8::new(8).unwrap_or(NonZeroU8::MIN),
            max_pending_auth: 1024,
            drain_timeout: Duration::from_secs(30),
            quic: QuicSettings::default(),
        }
    }
}

/// The gateway could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The QUIC or TLS configuration is not usable.
    #[error("gateway quic config")]
    Config(#[from] QuicConfigError),
    /// The UDP socket could not be bound.
    #[error("gateway bind")]
    Bind(#[source] std::io::Error),
}

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The gateway half of the tunnel: it accepts agent connections on a QUIC endpoint
/// ([`Gateway::run`]) and on a TCP listener ([`Gateway::run_tcp`], the TCP transport for
/// networks that block UDP), and opens tunnels to connected agents ([`Gateway::open`]),
/// whichever transport they came over.
///
/// # Authentication
///
/// Each connection must, within [`GatewayConfig::auth_timeout`] of its first packet (one
/// deadline for the QUIC handshake, the ALPN check and the auth message), open one stream and
/// send an auth message of at most [`MAX_AUTH_LEN`](crate::MAX_AUTH_LEN) bytes. The
/// [`AgentVerifier`] decides; only then is any per-agent state created. A refused agent gets
/// a reply with the reason and its connection is closed with an application error code
/// (`docs/wire/tunnel.md`).
///
/// # One connection group per agent id
///
/// A second connection with an id that is already connected first goes through the whole
/// authentication like any other; a connection that fails it never affects the live one. Once
/// it has authenticated *for the same id*, it **replaces** the first: the old connection is
/// closed with code 4 (`replaced`) and its tunnels are cut, and new tunnels go to the new
/// connection. This holds across transports: a TCP connection replaces a QUIC one of the
/// same id and the other way round. Rationale: an agent that restarts or changes network must not wait for its old
/// connection's idle timeout, and only a holder of a valid credential for the id can take it
/// over. Each replacement is logged (`warn`) and counted
/// (`ferry_tunnel_agents_replaced_total`).
///
/// An agent may hold several connections as one **connection group** (auth version 2: a
/// random group id drawn per agent run and a member index), so that its tunnels are spread
/// over several connections and use more than one core at both ends. The group's first
/// connection (index 0) starts it and replaces another group of the id as above; the other
/// members join the live group with the same group id (refused with `no_group` when there is
/// none here, and with `group_full` at or above
/// [`GatewayConfig::max_connections_per_agent`]); a member reconnecting replaces its own
/// previous connection only. New tunnels go to the member with the fewest open tunnels. The
/// agent counts as connected while any member is.
///
/// # Revocation
///
/// The gateway keeps each connected agent's credential in memory (never logged, overwritten
/// when the connection goes) so that [`Gateway::revalidate`] can check every connected agent
/// again after the verifier's data changed (a token removed, a key rotated out) and disconnect
/// those that no longer pass.
///
/// Cheap to clone; clones share the same state.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.inner.config)
            .field("agents", &self.connected_agents())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    config: GatewayConfig,
    verifier: Arc<dyn AgentVerifier>,
    clock: Clock,
    agents: Mutex<AgentTable>,
    next_generation: AtomicU64,
    next_request: AtomicU64,
    /// Incremented by every [`Gateway::revalidate`], before it reads the table.
    revalidations: AtomicU64,
    pending: AtomicUsize,
    draining: AtomicBool,
    /// One token per open tunnel.
    tunnels: TaskTracker,
    /// Auth and per-agent tasks.
    tasks: TaskTracker,
    events: Option<Arc<dyn AgentEvents>>,
}

impl Inner {
    fn agents(&self) -> MutexGuard<'_, AgentTable> {
        self.agents.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds a [`Gateway`] with optional parts.
#[must_use]
pub struct GatewayBuilder {
    config: GatewayConfig,
    verifier: Arc<dyn AgentVerifier>,
    clock: Option<Clock>,
    events: Option<Arc<dyn AgentEvents>>,
}

impl GatewayBuilder {
    /// Uses `clock` (seconds since the Unix epoch) for the verifier's `now_unix`.
    /// Default: the system clock.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Tells `events` when agents connect and disconnect (see [`AgentEvents`] for the order
    /// and the contract). Default: no observer.
    pub fn events(mut self, events: impl AgentEvents) -> Self {
        self.events = Some(Arc::new(events));
        self
    }

    /// The gateway.
    pub fn build(self) -> Gateway {
        Gateway {
            inner: Arc::new(Inner {
                config: self.config,
                verifier: self.verifier,
                clock: self.clock.unwrap_or_else(|| Arc::new(system_clock)),
                agents: Mutex::new(AgentTable::default()),
                next_generation: AtomicU64::new(1),
                next_request: AtomicU64::new(1),
                revalidations: AtomicU64::new(0),
                pending: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
                tunnels: TaskTracker::new(),
                tasks: TaskTracker::new(),
                events: self.events,
            }),
        }
    }
}

#[allow(clippy::disallowed_methods)] // the gateway's one wall-clock read, for credential expiry
fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Gateway {
    /// A gateway with `config` that checks agents with `verifier`, the system clock and no
    /// observer.
    pub fn new(config: GatewayConfig, verifier: impl AgentVerifier) -> Self {
        Self::builder(config, verifier).build()
    }

    /// A builder for a gateway with a custom clock or an [`AgentEvents`] observer.
    pub fn builder(config: GatewayConfig, verifier: impl AgentVerifier) -> GatewayBuilder {
        GatewayBuilder {
            config,
            verifier: Arc::new(verifier),
            clock: None,
            events: None,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// The quinn server config for the agent endpoint: `tls` (build it with [`ferry_tls::provider()`],
    /// TLS 1.3) with ALPN `ferry-tunnel/1` (any ALPN list in `tls` is replaced), and the
    /// transport settings: keep-alive, idle timeout, windows, one agent-opened stream (the
    /// auth stream), no unidirectional streams, no datagrams.
    ///
    /// # Errors
    ///
    /// [`QuicConfigError`] when `tls` cannot be used for QUIC or the settings are invalid.
    pub fn server_config(
        &self,
        tls: rustls::ServerConfig,
    ) -> Result<quinn::ServerConfig, QuicConfigError> {
        let mut server = quinn::ServerConfig::with_crypto(quic::server_crypto(tls)?);
        server.transport_config(quic::transport_config(&self.inner.config.quic, 1)?);
        server.migration(true);
        Ok(server)
    }

    /// Binds a QUIC endpoint on `addr` with [`Gateway::server_config`].
    ///
    /// # Errors
    ///
    /// [`GatewayError::Config`] or [`GatewayError::Bind`].
    pub fn bind(
        &self,
        addr: SocketAddr,
        tls: rustls::ServerConfig,
    ) -> Result<quinn::Endpoint, GatewayError> {
        let config = self.server_config(tls)?;
        quic::bind_endpoint(addr, &self.inner.config.quic, Some(config)).map_err(GatewayError::Bind)
    }

    /// Accepts agents on `endpoint` until `shutdown` completes or the endpoint is closed, then
    /// drains: new connections are refused, open tunnels get
    /// [`GatewayConfig::drain_timeout`] to finish, then every agent connection is closed with
    /// code 0 and the endpoint waits (at most 2 s) until the closes are sent.
    ///
    /// The accept loop only accepts and spawns: each connection is handshaken and
    /// authenticated in its own task, at most [`GatewayConfig::max_pending_auth`] at once.
    pub async fn run(&self, endpoint: quinn::Endpoint, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    accept::spawn(&self.inner, incoming);
                }
            }
        }
        self.drain(&endpoint).await;
    }

    async fn drain(&self, endpoint: &quinn::Endpoint) {
        endpoint.set_server_config(None);
        self.drain_agents().await;
        endpoint.close(close_code::SHUTDOWN.into(), b"gateway shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    }

    /// The drain both transports share: refuse new agents, give open tunnels the drain
    /// timeout, close every agent connection (either transport) with code 0, and wait (at
    /// most 2 s) for the connection tasks. Safe to run twice at once.
    async fn drain_agents(&self) {
        let inner = &self.inner;
        inner.draining.store(true, Ordering::SeqCst);
        inner.tunnels.close();
        let _ = tokio::time::timeout(inner.config.drain_timeout, inner.tunnels.wait()).await;
        let conns: Vec<conn::Conn> = inner
            .agents()
            .values()
            .flat_map(|e| e.members.iter().map(|m| m.conn.clone()))
            .collect();
        for conn in conns {
            conn.close(close_code::SHUTDOWN, b"gateway shutting down");
        }
        inner.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), inner.tasks.wait()).await;
    }

    /// Whether `agent` has an authenticated, live connection here.
    #[must_use]
    pub fn is_connected(&self, agent: &AgentId) -> bool {
        self.inner.agents().contains_key(agent)
    }

    /// Number of connected agents.
    #[must_use]
    pub fn connected_agents(&self) -> usize {
        self.inner.agents().len()
    }

    /// The address `agent` connects from (its group's first connection), if connected.
    #[must_use]
    pub fn agent_address(&self, agent: &AgentId) -> Option<SocketAddr> {
        self.inner
            .agents()
            .get(agent)
            .and_then(|e| e.first().map(conn::Conn::remote_address))
    }

    /// The transport `agent`'s live connection uses (its group's first connection), if
    /// connected.
    #[must_use]
    pub fn agent_transport(&self, agent: &AgentId) -> Option<TransportKind> {
        self.inner
            .agents()
            .get(agent)
            .and_then(|e| e.first().map(conn::Conn::transport))
    }

    /// Tunnels open on each connection of `agent`'s connection group, as (member index,
    /// tunnels), by index; empty when not connected.
    #[must_use]
    pub fn agent_connection_tunnels(&self, agent: &AgentId) -> Vec<(u8, usize)> {
        let mut loads: Vec<(u8, usize)> = self
            .inner
            .agents()
            .get(agent)
            .map(|e| {
                e.members
                    .iter()
                    .map(|m| (m.index, m.load.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default();
        loads.sort_unstable();
        loads
    }

    /// Live connections in `agent`'s connection group (0 when not connected).
    #[must_use]
    pub fn agent_connections(&self, agent: &AgentId) -> usize {
        self.inner
            .agents()
            .get(agent)
            .map_or(0, |e| e.members.len())
    }

    /// Tunnels currently open through this gateway (all agents).
    #[must_use]
    pub fn open_tunnels(&self) -> usize {
        self.inner.tunnels.len()
    }
}
