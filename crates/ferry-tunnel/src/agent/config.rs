//! Agent settings and status.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_base::resolve::SharedResolver;
use ferry_bridge::BridgeConfig;
use ferry_tls::KeyExchange;

use crate::agent_id::AgentId;
use crate::backoff::Backoff;
use crate::dialer::{DialerName, DirectDialer, SharedTcpDialer};
use crate::quic::QuicSettings;
use crate::transport::{Transport, TransportKind};
use crate::wire::{Credential, RejectReason};

/// Agent settings. [`AgentConfig::new`] takes what has no default; the other fields are public
/// and documented with their defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The gateway's QUIC address (UDP), and its TCP address unless
    /// [`gateway_tcp`](Self::gateway_tcp) says otherwise. With a [`tcp_dialer`](Self::tcp_dialer)
    /// that reaches the gateway by name (an egress proxy), it may be unspecified
    /// (`0.0.0.0:PORT`): connect errors then leave the address out and the dialer's error
    /// names the gateway.
    pub gateway: SocketAddr,
    /// The gateway's address for the TCP transport. Default: none (the same address as
    /// [`gateway`](Self::gateway), TCP instead of UDP).
    pub gateway_tcp: Option<SocketAddr>,
    /// Which transport to use. Default: [`Transport::Auto`] (QUIC, falling back to TCP).
    pub transport: Transport,
    /// With [`Transport::Auto`]: how long QUIC may take to connect and authenticate before
    /// the agent gives up on it and connects over TCP. A rejection by the gateway (bad
    /// credential) is not a transport problem and never falls back. Default: 3 s.
    pub fallback_after: Duration,
    /// With [`Transport::Auto`], while connected over TCP: how often QUIC is tried again in
    /// the background (a QUIC handshake, closed at once, no authentication). Once one
    /// succeeds, the next connection uses QUIC; the live TCP connection and its tunnels are
    /// never cut for this. Default: 5 min.
    pub quic_retry: Duration,
    /// Opens the TCP connection of the TCP transport (the seam for an egress proxy).
    /// Default: [`DirectDialer`].
    pub tcp_dialer: SharedTcpDialer,
    /// The name the gateway's certificate must be valid for (DNS name or IP address).
    pub server_name: String,
    /// CA certificates trusted for the gateway's certificate (no other roots, no "insecure").
    pub roots: Arc<rustls::RootCertStore>,
    /// Where `roots` came from, for the message when the gateway's certificate is not signed
    /// by them (e.g. `--tls-ca /etc/ferry/ca.pem`). Default: none ("a trusted CA").
    pub roots_source: Option<String>,
    /// The TLS client certificate (and key) this agent presents, for a gateway that requires
    /// one (mTLS); load it with [`ferry_tls::CertSource::certified_key`]. The gateway matches
    /// its one DNS subjectAltName against `agent_id`. Default none (no certificate).
    pub client_cert: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The id this agent connects as.
    pub agent_id: AgentId,
    /// Its static token or JWT (empty only for a gateway without authentication).
    pub credential: Credential,
    /// Destinations this agent may connect to. The special-address set applies on top
    /// (loopback, private, link-local, metadata, ... are denied unless an address rule inside
    /// their range allows them).
    pub allowlist: Arc<Allowlist>,
    /// Total time to resolve and connect to a destination. Default: 5 s.
    pub dial_timeout: Duration,
    /// Resolves destination names: asked once per tunnel, and only the addresses of that one
    /// answer that pass the allowlist are dialled. Default: the system resolver
    /// ([`ferry_base::resolve::SystemResolver`]); set with [`AgentConfig::with_resolver`].
    pub resolver: SharedResolver,
    /// Time the gateway has to send a complete tunnel header on a new stream. Default: 10 s.
    pub header_timeout: Duration,
    /// Total time for the QUIC handshake and the authentication exchange. Default: 10 s.
    pub auth_timeout: Duration,
    /// Reconnect back-off. Default: [`Backoff::default`] (base 500 ms, cap 30 s, full jitter).
    pub backoff: Backoff,
    /// Tunnels the gateway may have open at once (QUIC's `max_concurrent_bidi_streams` on
    /// this end). Default: 1024.
    pub max_tunnels: NonZeroU32,
    /// QUIC transport settings. Default: [`QuicSettings::default`]. The keep-alive interval,
    /// the idle timeout and the two receive windows apply to the TCP transport too (HTTP/2
    /// PING and flow-control windows).
    pub quic: QuicSettings,
    /// Bridge settings for tunnel traffic. Default: idle 5 min, half-close linger 30 s,
    /// otherwise [`BridgeConfig::default`].
    pub bridge: BridgeConfig,
    /// On shutdown, how long open tunnels may finish before the connection is closed.
    /// Default: 30 s.
    pub drain_timeout: Duration,
    /// A UDP tunnel (one flow) ends when no datagram crossed it either way for this long: the
    /// agent finishes the stream and closes its socket. Default: 60 s (the hop's UDP flows
    /// expire after the same time). A UDP tunnel takes one of [`AgentConfig::max_tunnels`],
    /// which so caps the agent's flows.
    pub udp_idle_timeout: Duration,
    /// Connections the agent holds to the gateway as one connection group: the gateway
    /// spreads tunnels over them (each new tunnel to the connection with the fewest open
    /// ones), so bulk through one agent uses more than one core at both ends. The first
    /// connection chooses the transport; the others use the same one and start once it is
    /// up. `Some(1)` sends the version 1 auth message (one connection, as before connection
    /// groups); otherwise a gateway that does not know groups (it answers
    /// `unsupported_version`) gets one connection, and a gateway's
    /// `max_connections_per_agent` (default 8) caps the group. At most
    /// [`MAX_GROUP_MEMBERS`](crate::wire::MAX_GROUP_MEMBERS) (16). Default: `None`, by
    /// transport: [`DEFAULT_TCP_CONNECTIONS`] (4) on TCP, 1 on QUIC (the gateway's QUIC
    /// endpoint receives every connection's packets on one task, so more QUIC connections
    /// cost CPU without adding throughput: `docs/benchmarks.md`).
    pub connections: Option<NonZeroU8>,
    /// Key-exchange groups the agent offers the gateway. Default:
    /// [`KeyExchange::PostQuantum`] (`X25519MLKEM768` preferred, then `X25519`, `secp256r1`,
    /// `secp384r1`).
    pub key_exchange: KeyExchange,
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("gateway", &self.gateway)
            .field("gateway_tcp", &self.gateway_tcp)
            .field("transport", &self.transport)
            .field("fallback_after", &self.fallback_after)
            .field("quic_retry", &self.quic_retry)
            .field("tcp_dialer", &DialerName)
            .field("server_name", &self.server_name)
            .field("roots_source", &self.roots_source)
            .field("client_cert", &self.client_cert.is_some())
            .field("agent_id", &self.agent_id)
            .field("credential", &self.credential)
            .field("allowlist_rules", &self.allowlist.len())
            .field("dial_timeout", &self.dial_timeout)
            .field("resolver", &self.resolver)
            .field("header_timeout", &self.header_timeout)
            .field("auth_timeout", &self.auth_timeout)
            .field("backoff", &self.backoff)
            .field("max_tunnels", &self.max_tunnels)
            .field("quic", &self.quic)
            .field("drain_timeout", &self.drain_timeout)
            .field("udp_idle_timeout", &self.udp_idle_timeout)
            .field("key_exchange", &self.key_exchange)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

/// Connections an agent holds on the TCP transport when [`AgentConfig::connections`] is not
/// set: 4 (as cloudflared's `--ha-connections`).
pub const DEFAULT_TCP_CONNECTIONS: u8 = 4;

impl AgentConfig {
    /// The connections to hold when the group's first connection uses `transport`:
    /// [`AgentConfig::connections`], else 4 on TCP and 1 on QUIC; at most 16.
    #[must_use]
    pub fn connections_on(&self, transport: TransportKind) -> u8 {
        let n = self.connections.map_or(
            match transport {
                TransportKind::Tcp => DEFAULT_TCP_CONNECTIONS,
                TransportKind::Quic => 1,
            },
            NonZeroU8::get,
        );
        n.min(crate::wire::MAX_GROUP_MEMBERS)
    }

    /// Settings with every default.
    #[must_use]
    pub fn new(
        gateway: SocketAddr,
        server_name: impl Into<String>,
        roots: Arc<rustls::RootCertStore>,
        agent_id: AgentId,
        credential: Credential,
        allowlist: Arc<Allowlist>,
    ) -> Self {
        Self {
            gateway,
            gateway_tcp: None,
            transport: Transport::Auto,
            fallback_after: Duration::from_secs(3),
            quic_retry: Duration::from_secs(300),
            tcp_dialer: Arc::new(DirectDialer),
            server_name: server_name.into(),
            roots,
            roots_source: None,
            client_cert: None,
            agent_id,
            credential,
            allowlist,
            dial_timeout: Duration::from_secs(5),
            resolver: ferry_base::resolve::system(),
            header_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_tunnels: NonZeroU32::new(1024).unwrap_or(NonZeroU32::MIN),
            quic: QuicSettings::default(),
            bridge: BridgeConfig::default()
                .idle_timeout(Some(Duration::from_secs(300)))
                .half_close_timeout(Some(Duration::from_secs(30))),
            drain_timeout: Duration::from_secs(30),
            udp_idle_timeout: Duration::from_secs(60),
            key_exchange: KeyExchange::PostQuantum,
            connections: None,
        }
    }

    /// These settings with destination names resolved by `resolver` instead of the system
    /// resolver (for a resolver of your own, or a scripted one in tests).
    #[must_use]
    pub fn with_resolver(mut self, resolver: SharedResolver) -> Self {
        self.resolver = resolver;
        self
    }
}

/// What the agent is doing, for health checks and tests ([`Agent::status`](super::Agent::status)). Counters only
/// grow, so a watcher never misses an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStatus {
    /// Whether an authenticated connection is up.
    pub connected: bool,
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that authenticated.
    pub connects: u64,
    /// Attempts the gateway rejected.
    pub rejections: u64,
    /// The reason of the last rejection.
    pub last_rejection: Option<RejectReason>,
    /// Times the gateway closed this agent's connection because another connection with the
    /// same id replaced it.
    pub replaced: u64,
    /// The last connection failure (handshake, timeout, lost connection), as text.
    pub last_error: Option<String>,
    /// The delay chosen before the next attempt, while waiting.
    pub next_retry: Option<Duration>,
    /// Whether [`Agent::run`](super::Agent::run) has returned.
    pub stopped: bool,
    /// Settings replaced with [`Agent::update`](super::Agent::update).
    pub updates: u64,
    /// The transport of the live connection (or of the last one).
    pub transport: Option<TransportKind>,
    /// Why that transport is used, for example `quic: no answer within 3s, using tcp`.
    pub transport_reason: Option<String>,
    /// Times [`Transport::Auto`] fell back from QUIC to TCP.
    pub fallbacks: u64,
    /// Background QUIC probes (while on TCP in auto mode) that succeeded.
    pub quic_probes_ok: u64,
    /// Live connections of the agent's connection group (the first one included; see
    /// [`AgentConfig::connections`]).
    pub connections: u8,
}
