//! `access` mode: local listeners that send traffic over predefined chains.
//!
//! Each [`AccessListener`](crate::AccessListener) speaks plain TCP or UDP (one fixed destination), SOCKS5 (CONNECT
//! and UDP ASSOCIATE, optional username/password) or HTTP CONNECT (optional Basic auth). The
//! destination is routed by the first [`RouteRule`](crate::RouteRule) whose patterns match
//! (else [`AccessConfig::default_route`]): `direct`, `block`, or a list of chains. For chains,
//! the first is picked by weight and the others are tried in order when a hop reports an
//! error (a TCP connection at connect time; a UDP flow when a reply carries a failing status
//! or hop 1 refuses its datagrams, see `docs/hop.md`).

mod app;
mod chains;
mod conn;
pub mod front;
mod generation;
mod reload;
mod route;
#[cfg(test)]
mod tests;
mod udp;
mod udp_chain;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_app_core::AppError;
use ferry_bridge::Bridge;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub use self::app::Access;
pub use self::reload::Reloader;
use self::route::Router;
use crate::config::{AccessConfig, AccessMode, UserPass};

/// A bound access listener: TCP for `tcp`, `socks5` and `http`, UDP for `udp`.
#[derive(Debug)]
#[non_exhaustive]
pub enum AccessSocket {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A UDP socket.
    Udp(UdpSocket),
}

impl AccessSocket {
    /// The local address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Self::Tcp(l) => l.local_addr(),
            Self::Udp(s) => s.local_addr(),
        }
    }
}

/// What an access run did, returned after it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessReport {
    /// TCP clients accepted.
    pub accepted: u64,
    /// Connections relayed to their destination.
    pub relayed: u64,
    /// Connections refused by a `block` route.
    pub blocked: u64,
    /// Connections that failed (bad request, credentials, every chain failed, direct failed).
    pub failed: u64,
    /// Bytes from local clients towards destinations.
    pub bytes_up: u64,
    /// Bytes back to local clients.
    pub bytes_down: u64,
    /// Datagrams received from local clients.
    pub udp_datagrams: u64,
    /// Chains that failed (a hop reported an error, or hop 1 was unreachable) and were
    /// skipped for the next one, or left the connection failed when none was left.
    pub failovers: u64,
    /// TCP connections closed at accept because their reservation would have passed
    /// [`AccessConfig::memory_budget`](crate::AccessConfig::memory_budget) (not counted in
    /// `accepted`).
    pub memory_refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) accepted: AtomicU64,
    pub(crate) relayed: AtomicU64,
    pub(crate) blocked: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    pub(crate) udp_datagrams: AtomicU64,
    pub(crate) failovers: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One generation of an access run's settings, as every connection accepted while it is in
/// force sees it. The counters and the two tokens are shared by every generation.
pub(crate) struct AccessCtx {
    pub(crate) config: AccessConfig,
    pub(crate) router: Router,
    pub(crate) bridge: Bridge,
    /// The listeners' settings, in config order.
    pub(crate) listeners: Vec<Arc<ListenerRt>>,
    pub(crate) stats: Arc<Stats>,
    /// Stop accepting (and end UDP loops and associations).
    pub(crate) stop: CancellationToken,
    /// Cut live connections (drain timeout).
    pub(crate) cut: CancellationToken,
}

/// A listener as its connections see it.
pub(crate) struct ListenerRt {
    pub(crate) name: String,
    pub(crate) mode: AccessMode,
    pub(crate) auth: Option<UserPass>,
}

/// Binds every listener of `config`, in order.
///
/// # Errors
///
/// [`AppError::Bind`] for the first address that cannot be bound.
pub fn bind(config: &AccessConfig) -> Result<Vec<AccessSocket>, AppError> {
    config
        .listeners
        .iter()
        .map(|l| match l.mode {
            AccessMode::Udp { .. } => std::net::UdpSocket::bind(l.bind)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(UdpSocket::from_std)
                .map(AccessSocket::Udp)
                .map_err(|source| AppError::Bind {
                    addr: l.bind,
                    source,
                }),
            _ => ferry_app_core::listen::bind_tcp(l.bind).map(AccessSocket::Tcp),
        })
        .collect()
}

/// Runs the access listeners on `sockets` (one per [`AccessConfig::listeners`] entry, same
/// order, as from [`bind`]) until `shutdown` completes, then drains: accepting stops at once,
/// UDP flows end, and live TCP connections get [`AccessConfig::drain_timeout`]. The same as
/// `Access::new(config).run(...)`, without a way to reload; see [`Access`] for that.
///
/// # Errors
///
/// As [`Access::run`].
///
/// # Cancel safety
///
/// Dropping the future stops accepting but leaves spawned connections running; complete
/// `shutdown` instead for a graceful drain.
pub async fn access(
    config: AccessConfig,
    sockets: Vec<AccessSocket>,
    shutdown: impl Future<Output = ()>,
) -> Result<AccessReport, AppError> {
    Access::new(config).run(sockets, shutdown).await
}

fn mode_name(mode: &AccessMode) -> &'static str {
    match mode {
        AccessMode::Tcp { .. } => "tcp",
        AccessMode::Udp { .. } => "udp",
        AccessMode::Socks5 => "socks5",
        AccessMode::HttpConnect => "http",
    }
}
