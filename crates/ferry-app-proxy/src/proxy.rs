//! [`Proxy`]: a validated config with its certificates loaded, ready to run.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn::{ConnCtx, handle};
use crate::reload::Reloader;
use crate::report::{Report, Stats, bump};
use crate::runtime::{Generation, Runner, Shared};
use crate::{AppError, ConfigError, ProxyConfig};
use ferry_app_core::serve::Server;
use ferry_app_core::workers::Workers;

/// A reverse proxy ready to run: the config plus everything built from it (TLS acceptors with
/// their certificates loaded, upstream TLS connectors, bridges).
///
/// Build it before binding, so that bad certificate files are reported without side effects;
/// get a [`Reloader`] for SIGHUP-style certificate reloads; then [`run`](Self::run) it.
pub struct Proxy {
    config: ProxyConfig,
    shared: Arc<Shared>,
    clock: Arc<dyn crate::clock::UtcClock>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listeners", &self.config.listeners.len())
            .field("pools", &self.config.pools.len())
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
        let (generation, _kept) = Generation::build(config.clone(), None)?;
        Ok(Self {
            config,
            shared: Arc::new(Shared::new(generation)),
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

    /// The configuration the proxy was built with (a reload does not change it; listeners are
    /// bound from it).
    #[must_use]
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// A handle that reloads the config or the certificates while the proxy runs (the binary
    /// calls it on SIGHUP). Usable before, during and after [`run`](Self::run).
    #[must_use]
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs the reverse proxy on `listeners` (one per [`ProxyConfig::listeners`] entry, same
    /// order) until `shutdown` completes, then drains: accepting stops at once and live
    /// connections get [`ProxyConfig::drain_timeout`] (of the config in force then) to finish
    /// before they are cut. Pool health checks and DNS re-resolution run meanwhile.
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
        if listeners.len() != self.config.listeners.len() {
            return Err(AppError::ListenerCount {
                given: listeners.len(),
                configured: self.config.listeners.len(),
            });
        }
        crate::metrics::describe();
        let pool_tasks = TaskTracker::new();
        {
            let mut runner = self.shared.lock();
            let r = Runner {
                tracker: pool_tasks.clone(),
                runtime: tokio::runtime::Handle::current(),
            };
            self.shared.start_pools(&r);
            *runner = Some(r);
        }
        let stats = Arc::new(Stats::default());
        let workers = self
            .config
            .workers
            .map(|n| Workers::start("ferry-proxy", n))
            .transpose()
            .map_err(AppError::Workers)?;
        if let Some(w) = &workers {
            tracing::info!(workers = w.count(), "connection workers started");
        }
        let server = Server::new()
            .max_connections(self.config.max_connections)
            .memory_budget(self.shared.memory.clone());

        for (index, (listener, lc)) in listeners
            .into_iter()
            .zip(&self.config.listeners)
            .enumerate()
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
            let slot = Slot {
                shared: Arc::clone(&self.shared),
                index,
                stats: Arc::clone(&stats),
                cut: server.cut().clone(),
                clock: Arc::clone(&self.clock),
            };
            let shared = Arc::clone(&self.shared);
            // What a connection reserves, as the listener is configured now.
            let cost = move || {
                shared
                    .current
                    .load()
                    .listeners
                    .get(index)
                    .map_or(0, |l| l.reservation)
            };
            let handler = move |stream, peer| {
                bump(&slot.stats.accepted);
                // A reload keeps the listener count, so the slot always exists.
                let ctx = slot.context()?;
                // Everything after accept (TLS handshake included) runs in the connection's task.
                Some(handle(stream, peer, ctx))
            };
            match &workers {
                Some(w) => server
                    .accept_on_workers(w, listener, cost, handler)
                    .map_err(AppError::Workers)?,
                None => server.accept_reserving(listener, cost, handler),
            }
        }

        shutdown.await;
        let drain_timeout = self.shared.current.load().config.drain_timeout;
        server.drain(drain_timeout).await;
        // Every connection and accept loop has ended: the worker threads stop.
        drop(workers);
        *self.shared.lock() = None;
        for p in self.shared.current.load().pools() {
            p.stop();
        }
        pool_tasks.close();
        pool_tasks.wait().await;
        let mut report = stats.report();
        report.memory_refused = self.shared.memory.refused();
        tracing::info!(?report, "stopped");
        Ok(report)
    }
}

/// Listener `index` of the running config, and what its connections share.
#[derive(Clone)]
struct Slot {
    shared: Arc<Shared>,
    index: usize,
    stats: Arc<Stats>,
    cut: CancellationToken,
    clock: Arc<dyn crate::clock::UtcClock>,
}

impl Slot {
    /// The context of a new connection: the listener as the config in force now has it.
    fn context(&self) -> Option<ConnCtx> {
        let listener = Arc::clone(self.shared.current.load().listeners.get(self.index)?);
        Some(ConnCtx {
            listener,
            stats: Arc::clone(&self.stats),
            cut: self.cut.clone(),
            clock: Arc::clone(&self.clock),
        })
    }
}
