//! `access` mode: local listeners that send traffic over predefined chains.
//!
//! Each [`AccessListener`] speaks plain TCP or UDP (one fixed destination), SOCKS5 (CONNECT
//! and UDP ASSOCIATE, optional username/password) or HTTP CONNECT (optional Basic auth). The
//! destination is routed by the first [`RouteRule`](crate::RouteRule) whose patterns match
//! (else [`AccessConfig::default_route`]): `direct`, `block`, or a list of chains. For chains,
//! the first is picked by weight and the others are tried in order when a hop reports an
//! error (a TCP connection at connect time; a UDP flow when a reply carries a failing status
//! or hop 1 refuses its datagrams, see `docs/hop.md`).

mod chains;
mod conn;
pub mod front;
mod route;
mod udp;
mod udp_chain;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_app_core::AppError;
use ferry_app_core::listen::Acceptor;
use ferry_bridge::{Bridge, BridgeConfig};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::route::Router;
use crate::config::{AccessConfig, AccessListener, AccessMode, UserPass};

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

/// State shared by every connection of an access run.
pub(crate) struct AccessCtx {
    pub(crate) config: AccessConfig,
    pub(crate) router: Router,
    pub(crate) bridge: Bridge,
    pub(crate) stats: Stats,
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
/// UDP flows end, and live TCP connections get [`AccessConfig::drain_timeout`].
///
/// # Errors
///
/// [`AppError::ListenerCount`] when the number of sockets does not match the config.
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
    if sockets.len() != config.listeners.len() {
        return Err(AppError::ListenerCount {
            given: sockets.len(),
            configured: config.listeners.len(),
        });
    }
    let listeners: Vec<AccessListener> = config.listeners.clone();
    let drain_timeout = config.drain_timeout;
    let limit = Arc::new(Semaphore::new(config.max_connections.get()));
    let ctx = Arc::new(AccessCtx {
        router: Router::new(&config),
        bridge: Bridge::new(BridgeConfig::default().idle_timeout(config.idle_timeout)),
        stats: Stats::default(),
        stop: CancellationToken::new(),
        cut: CancellationToken::new(),
        config,
    });
    let tracker = TaskTracker::new();
    let loops = TaskTracker::new();
    for (socket, lc) in sockets.into_iter().zip(listeners) {
        if let Ok(addr) = socket.local_addr() {
            tracing::info!(mode = "access", listener = %lc.name, kind = mode_name(&lc.mode), %addr, "listening");
        }
        let rt = Arc::new(ListenerRt {
            name: lc.name,
            mode: lc.mode.clone(),
            auth: lc.auth,
        });
        match (socket, &lc.mode) {
            (AccessSocket::Udp(s), AccessMode::Udp { destination }) => {
                loops.spawn(udp::udp_listener(
                    s,
                    destination.clone(),
                    Arc::clone(&ctx),
                    rt,
                ));
            }
            (AccessSocket::Tcp(l), _) => {
                loops.spawn(accept_loop(
                    l,
                    Arc::clone(&ctx),
                    rt,
                    Arc::clone(&limit),
                    tracker.clone(),
                ));
            }
            (AccessSocket::Udp(_), _) => {
                return Err(AppError::Config(ferry_app_core::ConfigError::invalid(
                    format!("listener {}", rt.name),
                    "a UDP socket was passed for a TCP listener",
                )));
            }
        }
    }
    loops.close();
    shutdown.await;
    tracing::info!(
        live = tracker.len(),
        "shutdown: stopped accepting, draining"
    );
    ctx.stop.cancel();
    loops.wait().await;
    tracker.close();
    if tokio::time::timeout(drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            live = tracker.len(),
            "drain timeout: cutting live connections"
        );
        ctx.cut.cancel();
        tracker.wait().await;
    }
    let s = &ctx.stats;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let report = AccessReport {
        accepted: get(&s.accepted),
        relayed: get(&s.relayed),
        blocked: get(&s.blocked),
        failed: get(&s.failed),
        bytes_up: get(&s.bytes_up),
        bytes_down: get(&s.bytes_down),
        udp_datagrams: get(&s.udp_datagrams),
        failovers: get(&s.failovers),
    };
    tracing::info!(?report, "stopped");
    Ok(report)
}

fn mode_name(mode: &AccessMode) -> &'static str {
    match mode {
        AccessMode::Tcp { .. } => "tcp",
        AccessMode::Udp { .. } => "udp",
        AccessMode::Socks5 => "socks5",
        AccessMode::HttpConnect => "http",
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<AccessCtx>,
    l: Arc<ListenerRt>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let mut acceptor = Acceptor::new();
    loop {
        let permit = tokio::select! {
            () = ctx.stop.cancelled() => return,
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_closed) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = ctx.stop.cancelled() => return,
            c = acceptor.accept(&listener) => c,
        };
        bump(&ctx.stats.accepted);
        let ctx = Arc::clone(&ctx);
        let l = Arc::clone(&l);
        tracker.spawn(async move {
            conn::handle(stream, peer, ctx, l).await;
            drop(permit);
        });
    }
}
