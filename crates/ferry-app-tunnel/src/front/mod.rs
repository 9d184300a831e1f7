//! The gateway's client front end: HTTP CONNECT with agent-scoped credentials.
//!
//! One connection, in order (the first step that refuses answers and closes):
//!
//! 0. with [`FrontConfig::accept_proxy`] (a load balancer in front): a peer outside its
//!    `trusted` networks is closed before a byte is read (`proxy_untrusted`); a trusted peer's
//!    PROXY header is read within its timeout (`proxy_header_invalid`, `proxy_header_timeout`),
//!    and its source address is the client in every later step (a `LOCAL` header keeps the
//!    peer's);
//! 1. a source blocked for failed authentication is answered `429` (with `Retry-After`) at
//!    once, without reading anything more ([`FrontLimits::auth_failures`]);
//! 2. the TLS handshake, when the front has an acceptor (bounded by `ferry-tls`); with client
//!    certificates (`client_tls.client_ca`) a client without a valid one fails it when they
//!    are required (`tls_handshake_failed`; the reason is logged in plain words), and the
//!    certificate's subject and serial are in the access log (`client_cert`);
//! 3. the request head, within [`FrontConfig::header_timeout`] (total with the TLS handshake,
//!    counted from accept or from the end of the PROXY header, not per read; `408`)
//!    and [`FrontConfig::max_head`] bytes (`400`); a method other than CONNECT: `405`;
//!    malformed: `400`;
//! 4. the per-source new-tunnel rate: `429`;
//! 5. `Proxy-Authorization: Basic` with the agent id as username and a client token or JWT as
//!    password, verified by `ferry-auth` for role `client`: missing, malformed or refused
//!    credentials get `407` with `Proxy-Authenticate: Basic realm="..."` and cost one
//!    failed-auth cell;
//! 6. the destination against the gateway's allowlist ([`FrontConfig::allow`]; names are
//!    matched as names, the agent resolves and checks again): `403`;
//! 7. the per-agent rate (`429`), per-source concurrency (`429`), per-agent and total
//!    concurrency (`503`);
//! 8. [`TunnelOpener::open`] within [`FrontConfig::open_timeout`]: `503` agent not connected or
//!    overloaded, `403` refused by the agent, `502` dial failure, `504` timeout;
//! 9. `200 Connection established`, then raw bytes both ways through `ferry-bridge`; bytes the
//!    client sent after the head (in the same packet or not) are forwarded first.
//!
//! Each connection ends with one access-log line (target `ferry::access`) and the metrics in
//! [`crate::metrics`].

mod conn;
pub(crate) mod head;
pub mod limits;
mod live;

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_allow::Allowlist;
use ferry_app_core::proxy_protocol::AcceptProxy;
use ferry_app_core::serve::Server;
use ferry_auth::Authenticator;
use ferry_bridge::{Bridge, BridgeConfig};
use ferry_tls::TlsAcceptor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) use self::conn::UNTRUSTED_WHY;
pub use self::limits::FrontLimits;
use self::limits::Limiters;
use crate::clock::SharedClock;
use crate::opener::TunnelOpener;

/// Default realm in `Proxy-Authenticate`: `ferry`.
pub const DEFAULT_REALM: &str = "ferry";
/// Default deadline for the TLS handshake plus the request head: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default deadline for opening the tunnel: 10 s.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default idle timeout of a tunnel: 5 min.
pub const DEFAULT_TUNNEL_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default time live tunnels get to finish after shutdown: 30 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The front's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FrontConfig {
    /// Realm sent in `Proxy-Authenticate`. Default [`DEFAULT_REALM`].
    pub realm: String,
    /// Deadline for the request head, from accept (total). Default [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// Largest request head, bytes. Default 8 KiB ([`ferry_front::http_connect::DEFAULT_MAX_HEAD`]).
    pub max_head: usize,
    /// Deadline for [`TunnelOpener::open`]. Default [`DEFAULT_OPEN_TIMEOUT`].
    pub open_timeout: Duration,
    /// Destinations clients may ask for. Default: the empty list, which denies everything (no
    /// open proxy); special addresses (loopback, private, metadata, ...) are denied unless the
    /// list says otherwise (see `ferry-allow`).
    pub allow: Arc<Allowlist>,
    /// Rate, concurrency and failed-auth limits. Default [`FrontLimits::default`].
    pub limits: FrontLimits,
    /// A load balancer in front (`accept_proxy`): every connection must come from one of its
    /// trusted networks and start, before TLS, with a PROXY header within its timeout; the
    /// header's source address is the client from then on (limits, the failed-auth block, the
    /// access log, the address passed to the opener). Default none: the TCP peer is the client.
    pub accept_proxy: Option<AcceptProxy>,
    /// Relay settings. Default: `BridgeConfig` with a 5 min idle timeout
    /// ([`DEFAULT_TUNNEL_IDLE_TIMEOUT`]).
    pub bridge: BridgeConfig,
    /// Time live tunnels get after shutdown before they are cut. Default
    /// [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// What happens to the live tunnels of a client whose credential is revoked by a reload
    /// ([`ClientFront::reload`]). Default [`RevokedClientTunnels::Keep`].
    pub revoked_client_tunnels: RevokedClientTunnels,
    /// Memory budget for client connection buffers (`[limits] memory_budget`, a size such as
    /// `"256MiB"`): a new connection whose reservation
    /// ([`FrontConfig::memory_reservation`]) would take the total above it is closed at
    /// accept and counted in `ferry_gateway_memory_refused_total`; live tunnels are never
    /// cut. Reloadable. Default 1 GiB
    /// ([`DEFAULT_MEMORY_BUDGET`](ferry_app_core::memory::DEFAULT_MEMORY_BUDGET)).
    pub memory_budget: NonZeroU64,
    /// Clients may be forwarded to a peer gateway over TLS (`[cluster]`): one more TLS side
    /// in the reservation.
    pub(crate) peer_tls_side: bool,
}

impl FrontConfig {
    /// Bytes each client connection reserves from [`FrontConfig::memory_budget`] at accept:
    /// the relay's two copy buffers ([`FrontConfig::bridge`], 16 KiB each by default), the
    /// request head ([`FrontConfig::max_head`]), and 128 KiB per TLS side (the client's, with
    /// `client_tls`; the peer gateway's, with `[cluster]`), and with `accept_proxy` the PROXY
    /// header read (about 1 KiB). The QUIC stream's receive window is not in it: it is bounded
    /// per agent connection (see `ferry_app_core::memory`).
    #[must_use]
    pub fn memory_reservation(&self, client_tls: bool) -> u64 {
        let header = if self.accept_proxy.is_some() {
            ferry_app_core::proxy_protocol::head_bytes()
        } else {
            0
        };
        ferry_app_core::memory::per_connection(
            &self.bridge,
            u8::from(client_tls) + u8::from(self.peer_tls_side),
            self.max_head.saturating_add(header),
        )
    }
}

/// What a reload does to the live tunnels of a client whose credential no longer verifies
/// (`auth.revoked_client_tunnels`). New CONNECTs with a revoked credential are refused (`407`)
/// either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedClientTunnels {
    /// Live tunnels run on to their natural end (the default): a reload never cuts a transfer,
    /// and revocation takes effect from the next CONNECT.
    #[default]
    Keep,
    /// The front remembers (in memory only, overwritten when the tunnel ends) the credential
    /// that opened each live tunnel; at every reload the tunnels whose credential no longer
    /// verifies are cut (access-log end `cut_revoked`). Tunnels opened while the setting was
    /// `keep` are not remembered and run on.
    Cut,
}

impl RevokedClientTunnels {
    /// The config value: `keep` or `cut`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Cut => "cut",
        }
    }
}

impl Default for FrontConfig {
    fn default() -> Self {
        Self {
            realm: DEFAULT_REALM.to_owned(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_head: ferry_front::http_connect::DEFAULT_MAX_HEAD,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            allow: Arc::new(Allowlist::default()),
            limits: FrontLimits::default(),
            accept_proxy: None,
            bridge: BridgeConfig::default().idle_timeout(Some(DEFAULT_TUNNEL_IDLE_TIMEOUT)),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            revoked_client_tunnels: RevokedClientTunnels::default(),
            memory_budget: ferry_app_core::memory::DEFAULT_MEMORY_BUDGET,
            peer_tls_side: false,
        }
    }
}

/// Status codes counted in [`FrontStats`].
const CODES: [u16; 10] = [200, 400, 403, 405, 407, 408, 429, 502, 503, 504];

/// Counters of one front, readable without a metrics recorder.
#[derive(Debug, Default)]
pub struct FrontStats {
    replies: [AtomicU64; CODES.len()],
    auth_failures: AtomicU64,
    proxy_rejected: AtomicU64,
    tunnels_done: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl FrontStats {
    /// Replies sent with `code` (one of 200, 400, 403, 405, 407, 408, 429, 502, 503, 504).
    #[must_use]
    pub fn replies(&self, code: u16) -> u64 {
        CODES
            .iter()
            .position(|c| *c == code)
            .and_then(|i| self.replies.get(i))
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Failed authentications (missing, malformed or refused credentials, and blocked sources).
    #[must_use]
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Connections closed with `accept_proxy` before a request was read: a peer outside
    /// `trusted`, or a bad or late PROXY header.
    #[must_use]
    pub fn proxy_rejected(&self) -> u64 {
        self.proxy_rejected.load(Ordering::Relaxed)
    }

    /// Tunnels that finished (after a `200`).
    #[must_use]
    pub fn tunnels_done(&self) -> u64 {
        self.tunnels_done.load(Ordering::Relaxed)
    }

    /// Bytes relayed client to agent, and agent to client, by finished tunnels.
    #[must_use]
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes_up.load(Ordering::Relaxed),
            self.bytes_down.load(Ordering::Relaxed),
        )
    }

    fn count_reply(&self, code: u16) {
        if let Some(a) = CODES
            .iter()
            .position(|c| *c == code)
            .and_then(|i| self.replies.get(i))
        {
            a.fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::reply(code);
    }
}

/// The settings a connection runs with, from its accept to its end; [`ClientFront::reload`]
/// swaps in a new one for new connections.
pub(crate) struct Generation {
    pub(crate) config: FrontConfig,
    pub(crate) auth: Authenticator,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) limiters: Arc<Limiters>,
    pub(crate) bridge: Bridge,
}

pub(crate) struct Inner<O> {
    pub(crate) current: ArcSwap<Generation>,
    pub(crate) opener: O,
    pub(crate) clock: SharedClock,
    pub(crate) stats: FrontStats,
    pub(crate) cut: CancellationToken,
    pub(crate) live: live::LiveTunnels,
    /// The memory budget of client connections (its limit follows reloads).
    pub(crate) memory: ferry_app_core::memory::MemoryBudget,
    /// Serialises reloads.
    reload: std::sync::Mutex<()>,
}

/// What one [`ClientFront::reload`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrontReloaded {
    /// The limits were unchanged: the limiter state (rates, counts, blocked sources) was kept.
    pub limits_kept: bool,
    /// Live tunnels cut because their client credential no longer verifies
    /// ([`RevokedClientTunnels::Cut`]).
    pub tunnels_cut: usize,
}

/// The client front end. Cheap to clone (shared state).
pub struct ClientFront<O> {
    inner: Arc<Inner<O>>,
}

impl<O> Clone for ClientFront<O> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<O: TunnelOpener> ClientFront<O> {
    /// A front that authenticates clients with `auth` (role `client`), opens tunnels with
    /// `opener`, terminates TLS with `tls` when given, and reads wall-clock time (for JWT
    /// expiry) from `clock`.
    #[must_use]
    pub fn new(
        config: FrontConfig,
        auth: Authenticator,
        opener: O,
        tls: Option<TlsAcceptor>,
        clock: SharedClock,
    ) -> Self {
        let limiters = Arc::new(Limiters::new(
            &config.limits,
            tokio::time::Instant::now().into_std(),
        ));
        let bridge = Bridge::new(config.bridge.clone());
        let memory =
            ferry_app_core::memory::MemoryBudget::new("ferry_gateway", config.memory_budget);
        Self {
            inner: Arc::new(Inner {
                memory,
                current: ArcSwap::from_pointee(Generation {
                    config,
                    auth,
                    tls,
                    limiters,
                    bridge,
                }),
                opener,
                clock,
                stats: FrontStats::default(),
                cut: CancellationToken::new(),
                live: live::LiveTunnels::default(),
                reload: std::sync::Mutex::new(()),
            }),
        }
    }

    /// Swaps in new settings, credentials and TLS acceptor for new connections (and the memory
    /// budget at once); connections already accepted keep the ones they started with. The limiter state (rates, counts,
    /// blocked sources) is kept when `config.limits` is unchanged; otherwise new limiters start
    /// empty (tunnels open under the old ones hold their permits there until they end). Then,
    /// with [`RevokedClientTunnels::Cut`] in `config`, every remembered live tunnel whose
    /// client credential does not verify with `auth` is cut.
    pub fn reload(
        &self,
        config: FrontConfig,
        auth: Authenticator,
        tls: Option<TlsAcceptor>,
    ) -> FrontReloaded {
        let _serialised = self
            .inner
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.inner.current.load_full();
        let limits_kept = old.config.limits == config.limits;
        let limiters = if limits_kept {
            Arc::clone(&old.limiters)
        } else {
            Arc::new(Limiters::new(
                &config.limits,
                tokio::time::Instant::now().into_std(),
            ))
        };
        let bridge = Bridge::new(config.bridge.clone());
        let cut = config.revoked_client_tunnels == RevokedClientTunnels::Cut;
        self.inner.memory.set_limit(config.memory_budget);
        self.inner.current.store(Arc::new(Generation {
            config,
            auth,
            tls,
            limiters,
            bridge,
        }));
        let tunnels_cut = if cut {
            let g = self.inner.current.load();
            self.inner
                .live
                .cut_revoked(&g.auth, self.inner.clock.unix_secs())
        } else {
            0
        };
        FrontReloaded {
            limits_kept,
            tunnels_cut,
        }
    }

    /// The opener.
    pub(crate) fn opener(&self) -> &O {
        &self.inner.opener
    }

    /// The settings new connections use (the services read the gateway's allowlist and open
    /// timeout from them).
    pub(crate) fn generation(&self) -> Arc<Generation> {
        self.inner.current.load_full()
    }

    /// The memory budget of client connections, which the services share.
    pub(crate) fn memory(&self) -> &ferry_app_core::memory::MemoryBudget {
        &self.inner.memory
    }

    /// The TLS acceptor new connections use.
    pub(crate) fn tls(&self) -> Option<TlsAcceptor> {
        self.inner.current.load().tls.clone()
    }

    /// The settings new connections use.
    #[must_use]
    pub fn config(&self) -> FrontConfig {
        self.inner.current.load().config.clone()
    }

    /// The front's counters.
    #[must_use]
    pub fn stats(&self) -> &FrontStats {
        &self.inner.stats
    }

    /// Bytes reserved from [`FrontConfig::memory_budget`] by live client connections.
    #[must_use]
    pub fn memory_reserved(&self) -> u64 {
        self.inner.memory.reserved()
    }

    /// Client connections refused at accept by [`FrontConfig::memory_budget`] so far.
    #[must_use]
    pub fn memory_refused(&self) -> u64 {
        self.inner.memory.refused()
    }

    /// Tunnels open now.
    #[must_use]
    pub fn tunnels_in_flight(&self) -> usize {
        self.inner.current.load().limiters.in_flight()
    }

    /// Serves one accepted TCP connection to its end (TLS handshake first when configured).
    pub async fn handle_tcp(&self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        conn::handle_tcp(&self.inner, tcp, peer).await;
    }

    /// Accepts connections from `listener` until `shutdown` completes, one task each; then
    /// stops accepting, gives live connections [`FrontConfig::drain_timeout`] and cuts the
    /// rest. Returns when every connection task has ended.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let server = Server::with_tokens(CancellationToken::new(), self.inner.cut.clone())
            .memory_budget(self.inner.memory.clone());
        let front = self.clone();
        let settings = self.clone();
        let cost = move || {
            let g = settings.inner.current.load();
            g.config.memory_reservation(g.tls.is_some())
        };
        server.accept_reserving(listener, cost, move |tcp, peer| {
            let front = front.clone();
            Some(async move { front.handle_tcp(tcp, peer).await })
        });
        shutdown.await;
        server
            .drain(self.inner.current.load().config.drain_timeout)
            .await;
    }
}
