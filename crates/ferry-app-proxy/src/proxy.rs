//! [`Proxy`]: a validated config with its certificates loaded, ready to run.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn::{ConnCtx, handle};
use crate::listener::{ListenerBuildError, ListenerRt};
use crate::reload::{Reloader, error_chain};
use crate::report::{Report, Stats, bump};
use crate::upstream::{Upstream, Upstreams};
use crate::{AppError, ConfigError, ProxyConfig};
use ferry_app_core::listen::Acceptor;

/// A reverse proxy ready to run: the config plus everything built from it (TLS acceptors with
/// their certificates loaded, upstream TLS connectors, bridges).
///
/// Build it before binding, so that bad certificate files are reported without side effects;
/// get a [`Reloader`] for SIGHUP-style certificate reloads; then [`run`](Self::run) it.
pub struct Proxy {
    config: ProxyConfig,
    listeners: Vec<Arc<ListenerRt>>,
    reloader: Reloader,
    clock: Arc<dyn crate::clock::UtcClock>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listeners", &self.listeners.len())
            .field("reloader", &self.reloader)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Loads every certificate, key, CA and ticket key file the config names (or generates the
    /// self-signed certificate) and builds the runtime state. Nothing is bound.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] whose key is the TLS table at fault (`listener[0].tls`,
    /// `pool.NAME.tls`, or `--tls-cert/--tls-key` for the flags) and whose reason names the
    /// file and what is wrong with it (empty, not PEM, no key, encrypted key, key that does not
    /// match the certificate, …).
    pub fn new(config: ProxyConfig) -> Result<Self, ConfigError> {
        let mut upstreams = Upstreams::new();
        for (name, p) in &config.pools {
            let upstream = Upstream::new(p)
                .map_err(|e| ConfigError::invalid(format!("pool.{name}.tls"), error_chain(&e)))?;
            upstreams.insert(name.clone(), Arc::new(upstream));
        }
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (i, lc) in config.listeners.iter().enumerate() {
            let built = ListenerRt::new(lc, &upstreams).map_err(|e| match e {
                ListenerBuildError::Tls(e) => ConfigError::invalid(&lc.tls_key, error_chain(&e)),
                ListenerBuildError::Dump(reason) => {
                    ConfigError::invalid(format!("listener[{i}].dump.dir"), reason)
                }
                ListenerBuildError::UnknownPool(pool) => ConfigError::invalid(
                    format!("listener[{i}]"),
                    format!("no [pool.{pool}] is defined"),
                ),
            })?;
            listeners.push(Arc::new(built));
        }
        let reloader = Reloader {
            listeners: listeners.iter().filter_map(|l| l.tls.clone()).collect(),
            pools: upstreams
                .values()
                .filter(|u| u.has_tls())
                .cloned()
                .collect(),
        };
        Ok(Self {
            config,
            listeners,
            reloader,
            clock: Arc::new(crate::clock::SystemClock),
        })
    }

    /// Replaces the wall clock read for time-of-day windows and dump file names (default
    /// [`SystemClock`](crate::SystemClock)); tests inject a [`FixedClock`](crate::FixedClock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::UtcClock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// A handle that reloads certificates while the proxy runs (the binary calls it on
    /// SIGHUP). Usable before, during and after [`run`](Self::run).
    #[must_use]
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Runs the reverse proxy on `listeners` (one per [`ProxyConfig::listeners`] entry, same
    /// order) until `shutdown` completes, then drains: accepting stops at once and live
    /// connections get [`ProxyConfig::drain_timeout`] to finish before they are cut.
    ///
    /// # Errors
    ///
    /// [`AppError::ListenerCount`] when the number of listeners does not match the config.
    /// Errors of single connections never end the run; they are logged and counted.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future stops accepting but leaves spawned connections running;
    /// complete `shutdown` instead for a graceful drain.
    pub async fn run(
        self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report, AppError> {
        if listeners.len() != self.listeners.len() {
            return Err(AppError::ListenerCount {
                given: listeners.len(),
                configured: self.listeners.len(),
            });
        }
        let stats = Arc::new(Stats::default());
        let limit = Arc::new(Semaphore::new(self.config.max_connections.get()));
        let stop_accepting = CancellationToken::new();
        let cut = CancellationToken::new();
        let tracker = TaskTracker::new();
        let accept_loops = TaskTracker::new();

        for ((listener, rt), lc) in listeners
            .into_iter()
            .zip(&self.listeners)
            .zip(&self.config.listeners)
        {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(
                    listener = %lc.name,
                    %addr,
                    pool = lc.pool.as_deref().unwrap_or("-"),
                    routes = lc.routes.len(),
                    tls = lc.tls.is_some(),
                    "listening"
                );
            }
            let ctx = Arc::new(ConnCtx {
                listener: Arc::clone(rt),
                stats: Arc::clone(&stats),
                cut: cut.clone(),
                clock: Arc::clone(&self.clock),
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
            drain_timeout = ?self.config.drain_timeout,
            live = tracker.len(),
            "shutdown: stopped accepting, draining"
        );
        stop_accepting.cancel();
        accept_loops.wait().await;
        tracker.close();
        if tokio::time::timeout(self.config.drain_timeout, tracker.wait())
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
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ConnCtx>,
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
        bump(&ctx.stats.accepted);
        let ctx = Arc::clone(&ctx);
        // Everything after accept (TLS handshake included) runs in the connection's task.
        tracker.spawn(async move {
            handle(stream, peer, &ctx).await;
            drop(permit);
        });
    }
}
