//! A [`ferry_pool::Pool`] with the token that stops its background work (health checks, DNS
//! re-resolution). A reload keeps a pool whose upstreams and settings did not change, with its
//! health and ejection state; a changed or removed pool is stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_app_core::ConfigError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PoolConfig;

/// A pool and its background task's stop token.
#[derive(Debug)]
pub(crate) struct PoolHandle {
    pub(crate) pool: ferry_pool::Pool,
    /// What the pool was built from (`send_proxy` included: it changes the health probe).
    built_from: (Vec<ferry_pool::Upstream>, ferry_pool::PoolConfig),
    stop: CancellationToken,
    started: AtomicBool,
}

impl PoolHandle {
    /// Builds the pool of `config`.
    pub(crate) fn new(config: &PoolConfig) -> Result<Self, ConfigError> {
        let settings = config.effective_settings();
        let pool = ferry_pool::Pool::new(&config.name, settings.clone(), config.upstreams.clone())
            .map_err(|e| ConfigError::invalid(format!("pool.{}", config.name), e.to_string()))?;
        Ok(Self {
            pool,
            built_from: (config.upstreams.clone(), settings),
            stop: CancellationToken::new(),
            started: AtomicBool::new(false),
        })
    }

    /// Whether this pool is what `config` would build (so a reload can keep it).
    pub(crate) fn same_as(&self, config: &PoolConfig) -> bool {
        self.pool.name() == config.name
            && self.built_from.0 == config.upstreams
            && self.built_from.1 == config.effective_settings()
    }

    /// Spawns the pool's background work on `tracker` once; it runs until [`stop`](Self::stop).
    pub(crate) fn start(self: &Arc<Self>, tracker: &TaskTracker, runtime: &tokio::runtime::Handle) {
        if self.started.swap(true, Ordering::AcqRel) || self.stop.is_cancelled() {
            return;
        }
        let this = Arc::clone(self);
        tracker.spawn_on(
            async move { this.pool.run_background(this.stop.clone()).await },
            runtime,
        );
    }

    /// Stops the background work (live connections keep their upstream sockets).
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }
}
