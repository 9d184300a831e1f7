//! `serve` mode: one hop of a chain.

mod conn;
pub(crate) mod dial;
pub(crate) mod handshake;
mod udp;

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ferry_app_core::AppError;
use ferry_app_core::listen::Acceptor;
use ferry_bridge::{Bridge, BridgeConfig};
use ferry_chain::ReplayGuard;
use ferry_limit::{ClientKeyer, ConcurrencyLimiter, LimiterConfig, Quota, RateLimiter, V6Prefix};
use ring::rand::SystemRandom;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::conn::{ServeCtx, Stats, bump, handle};
use crate::ServeConfig;

/// What a hop did, returned after it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Connections relayed to their next address (answered `ok`).
    pub relayed: u64,
    /// Connections closed without a relay because of a limit, the deadline, or a record that
    /// was refused (with or without an answer).
    pub rejected: u64,
    /// Connections answered with a failure status after a valid record (denied, dial failed,
    /// hop limit).
    pub failed: u64,
    /// Bytes relayed from clients towards destinations.
    pub bytes_up: u64,
    /// Bytes relayed back to clients.
    pub bytes_down: u64,
    /// Datagrams forwarded to a next address.
    pub udp_forwarded: u64,
    /// Datagrams dropped without a reply (not authenticated, flow table full, queue full).
    pub udp_dropped: u64,
}

/// Binds the hop's TCP listener and, with [`ServeConfig::udp`], its UDP socket on the same
/// address (on the TCP listener's port when the configured port is 0).
///
/// # Errors
///
/// [`AppError::Bind`] naming the address.
pub fn bind(config: &ServeConfig) -> Result<(TcpListener, Option<UdpSocket>), AppError> {
    let tcp = ferry_app_core::listen::bind_tcp(config.listen)?;
    let udp = if config.udp {
        let addr = tcp.local_addr().map_err(|source| AppError::Bind {
            addr: config.listen,
            source,
        })?;
        let std = std::net::UdpSocket::bind(addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| AppError::Bind { addr, source })?;
        Some(UdpSocket::from_std(std).map_err(|source| AppError::Bind { addr, source })?)
    } else {
        None
    };
    Ok((tcp, udp))
}

/// Runs a hop on `listener` (and `udp`, when given) until `shutdown` completes, then drains:
/// accepting stops at once and live connections get [`ServeConfig::drain_timeout`].
///
/// # Errors
///
/// None today; the `Result` leaves room for start-up failures. Errors of single connections
/// never end the run; they are logged (target `ferry::access`) and counted.
///
/// # Cancel safety
///
/// Dropping the future stops accepting but leaves spawned connections running; complete
/// `shutdown` instead for a graceful drain.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    udp: Option<UdpSocket>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeReport, AppError> {
    if config.allow.is_empty() {
        tracing::warn!(
            "no allowlist: this hop denies every next address (give --allow or `allow`)"
        );
    }
    let rate = config.per_client_rate.and_then(|r| {
        let burst = r.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        Quota::per_second(r)
            .and_then(|q| q.with_burst(burst))
            .ok()
            .map(|q| {
                RateLimiter::new(
                    q,
                    &LimiterConfig::default(),
                    tokio::time::Instant::now().into_std(),
                )
            })
    });
    let drain_timeout = config.drain_timeout;
    let ctx = Arc::new(ServeCtx {
        guard: Mutex::new(ReplayGuard::new(config.replay)),
        keyer: ClientKeyer::new(V6Prefix::DEFAULT),
        rate,
        conns: ConcurrencyLimiter::new(config.max_connections, config.per_client_connections),
        handshakes: ConcurrencyLimiter::new(config.max_handshakes, config.per_client_handshakes),
        bridge: Bridge::new(BridgeConfig::default().idle_timeout(config.idle_timeout)),
        rng: SystemRandom::new(),
        cut: CancellationToken::new(),
        stats: Stats::default(),
        config,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            mode = "serve",
            %addr,
            udp = udp.is_some(),
            tls = ctx.config.tls.is_some(),
            next_hop_tls = ctx.config.next_hop_tls.is_some(),
            allow_rules = ctx.config.allow.len(),
            "listening"
        );
    }
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let loops = TaskTracker::new();
    loops.spawn(accept_loop(
        listener,
        Arc::clone(&ctx),
        tracker.clone(),
        stop.clone(),
    ));
    if let Some(udp) = udp {
        loops.spawn(udp::udp_loop(Arc::new(udp), Arc::clone(&ctx), stop.clone()));
    }
    loops.close();
    shutdown.await;
    ferry_app_core::drain::drain(&stop, &loops, &tracker, drain_timeout, &ctx.cut).await;
    let s = &ctx.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let report = ServeReport {
        accepted: get(&s.accepted),
        relayed: get(&s.relayed),
        rejected: get(&s.rejected),
        failed: get(&s.failed),
        bytes_up: get(&s.bytes_up),
        bytes_down: get(&s.bytes_down),
        udp_forwarded: get(&s.udp_forwarded),
        udp_dropped: get(&s.udp_dropped),
    };
    tracing::info!(?report, "stopped");
    Ok(report)
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ServeCtx>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let mut acceptor = Acceptor::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            c = acceptor.accept(&listener) => c,
        };
        bump(&ctx.stats.accepted);
        let ctx = Arc::clone(&ctx);
        tracker.spawn(async move { handle(stream, peer, &ctx).await });
    }
}
