//! The running configuration: a [`Generation`] (listeners, pools and the config they were built
//! from) behind an [`ArcSwap`], so a reload swaps in a new one for new connections while live
//! connections keep the one they started with.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use tokio_util::task::TaskTracker;

use crate::listener::{ListenerBuildError, ListenerRt};
use crate::pool::PoolHandle;
use crate::reload::error_chain;
use crate::upstream::{Upstream, Upstreams};
use crate::{ConfigError, ProxyConfig};

/// Everything built from one config.
pub(crate) struct Generation {
    pub(crate) config: ProxyConfig,
    pub(crate) listeners: Vec<Arc<ListenerRt>>,
    pub(crate) upstreams: Upstreams,
}

/// What a build kept from the previous generation.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) pools_kept: usize,
    pub(crate) pools_built: usize,
}

impl Generation {
    /// Builds the runtime state of `config`, reading every certificate, key and CA file. With
    /// `prev`, pools built from the same upstreams and settings are kept (with their health and
    /// ejection state), as are TLS acceptors built from the same settings (with their session
    /// caches and ticket keys; their files are still read and checked).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key at fault.
    pub(crate) fn build(
        config: ProxyConfig,
        prev: Option<&Self>,
    ) -> Result<(Self, Kept), ConfigError> {
        let mut kept = Kept::default();
        let mut upstreams = Upstreams::new();
        for (name, p) in &config.pools {
            let reusable = prev
                .and_then(|g| g.upstreams.get(name))
                .map(|u| u.pool())
                .filter(|h| h.same_as(p));
            let handle = match reusable {
                Some(h) => {
                    kept.pools_kept += 1;
                    Arc::clone(h)
                }
                None => {
                    kept.pools_built += 1;
                    Arc::new(PoolHandle::new(p)?)
                }
            };
            let upstream = Upstream::new(p, handle)
                .map_err(|e| ConfigError::invalid(format!("pool.{name}.tls"), error_chain(&e)))?;
            upstreams.insert(name.clone(), Arc::new(upstream));
        }
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (i, lc) in config.listeners.iter().enumerate() {
            let kept = prev.and_then(|g| g.listeners.get(i)).map(|l| &**l);
            let built = ListenerRt::new(lc, &upstreams, kept).map_err(|e| match e {
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
        Ok((
            Self {
                config,
                listeners,
                upstreams,
            },
            kept,
        ))
    }

    /// The distinct pools of this generation.
    pub(crate) fn pools(&self) -> impl Iterator<Item = &Arc<PoolHandle>> {
        self.upstreams.values().map(|u| u.pool())
    }
}

/// Where pool background tasks run while the proxy runs.
pub(crate) struct Runner {
    pub(crate) tracker: TaskTracker,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// The current generation, shared by the accept loops, the [`Proxy`](crate::Proxy) and its
/// [`Reloader`](crate::Reloader)s.
pub(crate) struct Shared {
    pub(crate) current: ArcSwap<Generation>,
    /// `Some` while [`Proxy::run`](crate::Proxy::run) runs. Also serialises reloads.
    pub(crate) runner: Mutex<Option<Runner>>,
    /// The memory budget of every connection (its limit follows reloads).
    pub(crate) memory: ferry_app_core::memory::MemoryBudget,
}

impl Shared {
    pub(crate) fn new(generation: Generation) -> Self {
        let memory = ferry_app_core::memory::MemoryBudget::new(
            "ferry_proxy",
            generation.config.memory_budget,
        );
        Self {
            current: ArcSwap::from_pointee(generation),
            runner: Mutex::new(None),
            memory,
        }
    }

    /// Locks the runner (and with it, reloads).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Runner>> {
        self.runner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the background work of every pool of the current generation (when running).
    pub(crate) fn start_pools(&self, runner: &Runner) {
        for p in self.current.load().pools() {
            p.start(&runner.tracker, &runner.runtime);
        }
    }
}
