//! `ferry-proxy` as a library: a TCP reverse proxy. Each listener sends its connections to an
//! upstream pool; bytes are relayed by [`ferry_bridge`] (splice(2) for plain TCP on Linux).
//!
//! [`run`] takes listeners bound by the caller (tests bind port 0) and a shutdown future; when
//! that future completes, accepting stops at once and live connections get
//! [`ProxyConfig::drain_timeout`] to finish before they are cut.
//!
//! This crate does not parse command lines, install signal handlers or configure logging output;
//! the `ferry-proxy` binary in `ferry-cli` does.
//!
//! # Examples
//!
//! ```no_run
//! use ferry_app_proxy::{self as proxy, ProxyConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:9000".to_owned()])?;
//! let listeners = proxy::bind_all(&config)?;
//! let report = proxy::run(config, listeners, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! println!("relayed {} bytes upstream", report.client_to_upstream);
//! # Ok(()) }
//! ```

pub mod config;
mod pool;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_bridge::{Bridge, Counters, End, Session};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::config::{ListenerConfig, PoolConfig, ProxyConfig, UpstreamAddr};
pub use self::pool::ConnectError;
use self::pool::Pool;
use ferry_app_core::listen::Acceptor;
pub use ferry_app_core::{AppError, ConfigError};

/// What a proxy run did, returned after it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Client connections accepted.
    pub accepted: u64,
    /// Connections that ended on their own (normally, by timeout or by an error of one side).
    pub completed: u64,
    /// Connections closed because no upstream could be reached.
    pub upstream_failures: u64,
    /// Connections still running when the drain timeout expired, and cut.
    pub cut_at_drain: u64,
    /// Bytes relayed from clients to upstreams.
    pub client_to_upstream: u64,
    /// Bytes relayed from upstreams to clients.
    pub upstream_to_client: u64,
}

#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicU64,
    completed: AtomicU64,
    upstream_failures: AtomicU64,
    cut_at_drain: AtomicU64,
    client_to_upstream: AtomicU64,
    upstream_to_client: AtomicU64,
}

impl Stats {
    fn report(&self) -> Report {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Report {
            accepted: get(&self.accepted),
            completed: get(&self.completed),
            upstream_failures: get(&self.upstream_failures),
            cut_at_drain: get(&self.cut_at_drain),
            client_to_upstream: get(&self.client_to_upstream),
            upstream_to_client: get(&self.upstream_to_client),
        }
    }
}

struct ListenerCtx {
    name: String,
    pool: Arc<Pool>,
    bridge: Bridge,
    stats: Arc<Stats>,
    cut: CancellationToken,
}

/// Runs the reverse proxy on `listeners` (one per [`ProxyConfig::listeners`] entry, same order)
/// until `shutdown` completes, then drains.
///
/// # Errors
///
/// [`AppError::ListenerCount`] when the number of listeners does not match the config. Errors of
/// single connections never end the run; they are logged and counted.
///
/// # Cancel safety
///
/// Dropping the returned future stops accepting but leaves spawned connections running; complete
/// `shutdown` instead for a graceful drain.
pub async fn run(
    config: ProxyConfig,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<Report, AppError> {
    if listeners.len() != config.listeners.len() {
        return Err(AppError::ListenerCount {
            given: listeners.len(),
            configured: config.listeners.len(),
        });
    }
    let pools: BTreeMap<String, Arc<Pool>> = config
        .pools
        .iter()
        .map(|(name, p)| (name.clone(), Arc::new(Pool::new(p.clone()))))
        .collect();
    let stats = Arc::new(Stats::default());
    let limit = Arc::new(Semaphore::new(config.max_connections.get()));
    let stop_accepting = CancellationToken::new();
    let cut = CancellationToken::new();
    let tracker = TaskTracker::new();
    let accept_loops = TaskTracker::new();

    for (listener, lc) in listeners.into_iter().zip(&config.listeners) {
        let Some(pool) = pools.get(&lc.pool).cloned() else {
            // Unreachable for a validated config: every listener names a defined pool.
            continue;
        };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(listener = %lc.name, %addr, pool = %lc.pool, "listening");
        }
        let ctx = Arc::new(ListenerCtx {
            name: lc.name.clone(),
            pool,
            bridge: Bridge::new(lc.bridge.clone()),
            stats: Arc::clone(&stats),
            cut: cut.clone(),
        });
        accept_loops.spawn(accept_loop(
            listener,
            ctx,
            Arc::clone(&limit),
            tracker.clone(),
            stop_accepting.clone(),
        ));
    }
    accept_loops.close();

    shutdown.await;
    tracing::info!(
        drain_timeout = ?config.drain_timeout,
        live = tracker.len(),
        "shutdown: stopped accepting, draining"
    );
    stop_accepting.cancel();
    accept_loops.wait().await;
    tracker.close();
    if tokio::time::timeout(config.drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            live = tracker.len(),
            "drain timeout: cutting live connections"
        );
        cut.cancel();
        tracker.wait().await;
    }
    let report = stats.report();
    tracing::info!(?report, "stopped");
    Ok(report)
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ListenerCtx>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let mut acceptor = Acceptor::new();
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_closed) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            c = acceptor.accept(&listener) => c,
        };
        ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let ctx = Arc::clone(&ctx);
        tracker.spawn(async move {
            handle(stream, peer, &ctx).await;
            drop(permit);
        });
    }
}

async fn handle(client: TcpStream, peer: SocketAddr, ctx: &ListenerCtx) {
    let started = Instant::now();
    let _ = client.set_nodelay(true);
    let connected = tokio::select! {
        () = ctx.cut.cancelled() => {
            ctx.stats.cut_at_drain.fetch_add(1, Ordering::Relaxed);
            return;
        }
        r = ctx.pool.connect() => r,
    };
    let (upstream, upstream_addr) = match connected {
        Ok(ok) => ok,
        Err(error) => {
            ctx.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "ferry::access",
                listener = %ctx.name,
                client = %peer,
                error = %error,
                end = "upstream_unreachable",
                "connection"
            );
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let counters = Arc::new(Counters::new());
    let session = Session::default().counters(Arc::clone(&counters));
    let (up, down, end, spliced) = tokio::select! {
        outcome = ctx.bridge.run_tcp(client, upstream, session) => {
            ctx.stats.completed.fetch_add(1, Ordering::Relaxed);
            (outcome.a_to_b, outcome.b_to_a, describe_end(&outcome.end), outcome.spliced)
        }
        () = ctx.cut.cancelled() => {
            ctx.stats.cut_at_drain.fetch_add(1, Ordering::Relaxed);
            (counters.a_to_b(), counters.b_to_a(), "cut_at_drain".to_owned(), false)
        }
    };
    ctx.stats
        .client_to_upstream
        .fetch_add(up, Ordering::Relaxed);
    ctx.stats
        .upstream_to_client
        .fetch_add(down, Ordering::Relaxed);
    tracing::info!(
        target: "ferry::access",
        listener = %ctx.name,
        client = %peer,
        upstream = %upstream_addr,
        bytes_up = up,
        bytes_down = down,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        end = %end,
        spliced,
        "connection"
    );
}

/// `timeout_idle`-style label, with the failing side and error for errors.
fn describe_end(end: &End) -> String {
    match end.as_error() {
        Some((side, op, error)) => format!("{}: {op} on {side}: {error}", end.label()),
        None => end.label().to_owned(),
    }
}

/// Binds every listener of a proxy config, in order.
///
/// # Errors
///
/// [`AppError::Bind`] for the first address that cannot be bound.
pub fn bind_all(config: &ProxyConfig) -> Result<Vec<TcpListener>, AppError> {
    config
        .listeners
        .iter()
        .map(|l| ferry_app_core::listen::bind_tcp(l.bind))
        .collect()
}
