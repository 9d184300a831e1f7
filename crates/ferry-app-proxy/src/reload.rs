//! Reloading at run time ([`Reloader`]): the whole config file (validated first, swapped for
//! new connections), or only the TLS certificates. The binary calls it on SIGHUP.

use std::path::Path;
use std::sync::Arc;

use ferry_tls::TlsConfigError;

use crate::ProxyConfig;
use crate::runtime::{Generation, Shared};

/// A TLS configuration that could not be reloaded; it keeps serving what it had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// A listener's certificates, keys, client CA or ticket key file.
    #[error(
        "cannot reload tls of `{key}` (listener {listener}); it keeps its current certificates"
    )]
    Listener {
        /// The listener's name.
        listener: String,
        /// The config key of its TLS settings (`listener[0].tls`, or the flags).
        key: String,
        /// What is wrong.
        #[source]
        source: TlsConfigError,
    },
    /// A pool's upstream CA or client certificate.
    #[error("cannot reload upstream tls of `pool.{pool}.tls`; it keeps its current settings")]
    Pool {
        /// The pool's name.
        pool: String,
        /// What is wrong.
        #[source]
        source: TlsConfigError,
    },
}

/// What a reload did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReloadOutcome {
    /// TLS configurations (listeners and re-encrypting pools) now using the files as they are
    /// on disk.
    pub reloaded: usize,
    /// Those that failed and kept their previous settings.
    pub failed: Vec<ReloadError>,
}

/// A config reload that was refused; the running config stays as it was. The same type as
/// every program's reload error (`ferry_app_core::reload::ReloadError`).
pub use ferry_app_core::reload::ReloadError as ConfigReloadError;

/// What a successful config reload did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ConfigReloaded {
    /// Pools whose upstreams and settings did not change: kept with their health, ejection
    /// and connection counts.
    pub pools_kept: usize,
    /// Pools built anew (new, or changed).
    pub pools_built: usize,
    /// Pools of the previous config no longer in use: their health checks and DNS
    /// re-resolution stopped (their live connections go on).
    pub pools_stopped: usize,
    /// Changed settings that need a restart and were left as they were, one line each
    /// (`server.max_connections`, `server.workers`).
    pub ignored: Vec<String>,
}

/// Reloads a running proxy: [`reload_file`](Self::reload_file) re-reads the whole config,
/// [`reload_tls`](Self::reload_tls) only the certificates.
///
/// A config reload validates everything first (the file, the pools, every certificate, key
/// and CA file) and changes nothing when anything is wrong. A good config is swapped in for
/// new connections: pools, routes, timeouts, TLS settings, `accept_proxy` and the other
/// per-listener settings, and `server.memory_budget` (live connections keep their
/// reservations). Live connections keep the settings they started with and are never
/// cut. Listener addresses cannot change (that needs a restart: the reload is refused), and
/// `server.max_connections` keeps its running value.
///
/// Cheap to clone; get one from [`Proxy::reloader`](crate::Proxy::reloader). Reloads are
/// serialised.
#[derive(Clone)]
pub struct Reloader {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.shared.current.load();
        f.debug_struct("Reloader")
            .field("listeners", &g.listeners.len())
            .field("pools", &g.upstreams.len())
            .finish()
    }
}

fn count_reload(result: &'static str) {
    metrics::counter!(crate::metrics::CONFIG_RELOADS, "result" => result).increment(1);
}

impl Reloader {
    /// The pool named `name` in the config in force (for its state: `snapshot`, `watch`).
    #[must_use]
    pub fn pool(&self, name: &str) -> Option<ferry_pool::Pool> {
        let generation = self.shared.current.load();
        generation
            .upstreams
            .get(name)
            .map(|u| u.pool().pool.clone())
    }

    /// Reloads every TLS configuration of the running config; each result is also logged.
    ///
    /// Each listener's certificates, keys, client CA and shared ticket key file, and each
    /// re-encrypting pool's CA and client certificate, are read, checked and swapped on their
    /// own: one with a bad file keeps its current settings while the others apply. Sessions
    /// issued before the reload still resume.
    pub fn reload_tls(&self) -> ReloadOutcome {
        let _serialised = self.shared.lock();
        let generation = self.shared.current.load_full();
        let mut outcome = ReloadOutcome::default();
        for l in generation.listeners.iter().filter_map(|l| l.tls.as_ref()) {
            match l.reload() {
                Ok(()) => outcome.reloaded += 1,
                Err(source) => outcome.failed.push(ReloadError::Listener {
                    listener: l.name.clone(),
                    key: l.key.clone(),
                    source,
                }),
            }
        }
        for p in generation.upstreams.values().filter(|u| u.has_tls()) {
            match p.reload() {
                Ok(()) => outcome.reloaded += 1,
                Err(source) => outcome.failed.push(ReloadError::Pool {
                    pool: p.name().to_owned(),
                    source,
                }),
            }
        }
        for e in &outcome.failed {
            tracing::error!(error = %error_chain(e), "tls reload failed");
        }
        tracing::info!(
            reloaded = outcome.reloaded,
            failed = outcome.failed.len(),
            "tls certificates reloaded"
        );
        outcome
    }

    /// Reads, validates and applies the config file at `path` (see [`Reloader`]). Blocking:
    /// it reads files (call it from a blocking thread in async code). Counted in
    /// `ferry_config_reloads_total{result}` and logged.
    ///
    /// # Errors
    ///
    /// [`ConfigReloadError`]; the running config is then unchanged.
    pub fn reload_file(&self, path: &Path) -> Result<ConfigReloaded, ConfigReloadError> {
        let result = ProxyConfig::from_file(path)
            .map_err(ConfigReloadError::from)
            .and_then(|config| self.apply(config));
        Self::finish(result)
    }

    /// Validates and applies an already parsed config (see [`Reloader`]); like
    /// [`reload_file`](Self::reload_file) without reading the file.
    ///
    /// # Errors
    ///
    /// [`ConfigReloadError`]; the running config is then unchanged.
    pub fn reload_config(&self, config: ProxyConfig) -> Result<ConfigReloaded, ConfigReloadError> {
        Self::finish(self.apply(config))
    }

    fn finish(
        result: Result<ConfigReloaded, ConfigReloadError>,
    ) -> Result<ConfigReloaded, ConfigReloadError> {
        match &result {
            Ok(done) => {
                count_reload("ok");
                for line in &done.ignored {
                    tracing::warn!(setting = %line, "config reload: setting needs a restart; left as it was");
                }
                tracing::info!(
                    pools_kept = done.pools_kept,
                    pools_built = done.pools_built,
                    pools_stopped = done.pools_stopped,
                    "config reloaded; new connections use it"
                );
            }
            Err(e) => {
                count_reload("error");
                tracing::error!(error = %error_chain(e), "config reload failed");
            }
        }
        result
    }

    fn apply(&self, mut config: ProxyConfig) -> Result<ConfigReloaded, ConfigReloadError> {
        let runner = self.shared.lock();
        let prev = self.shared.current.load_full();
        let (now, running) = (&config.listeners, &prev.config.listeners);
        if now.len() != running.len() {
            return Err(ConfigReloadError::NeedsRestart {
                key: "listener".to_owned(),
                reason: format!(
                    "lists {} listeners where {} are running",
                    now.len(),
                    running.len()
                ),
            });
        }
        for (i, (new, old)) in now.iter().zip(running).enumerate() {
            if new.bind != old.bind {
                return Err(ConfigReloadError::NeedsRestart {
                    key: format!("listener[{i}].bind"),
                    reason: format!("changed from {} to {}", old.bind, new.bind),
                });
            }
            if new.reuse_port != old.reuse_port {
                return Err(ConfigReloadError::NeedsRestart {
                    key: format!("listener[{i}].reuse_port"),
                    reason: format!("changed from {} to {}", old.reuse_port, new.reuse_port),
                });
            }
        }
        let mut ignored = Vec::new();
        if config.max_connections != prev.config.max_connections {
            ignored.push(format!(
                "server.max_connections: {} in the file, {} kept",
                config.max_connections, prev.config.max_connections
            ));
            config.max_connections = prev.config.max_connections;
        }
        // Unset means no workers: connections on the runtime that runs the proxy.
        if config.workers != prev.config.workers {
            let show = |w: Option<std::num::NonZeroUsize>| {
                w.map_or_else(|| "unset".to_owned(), |n| n.to_string())
            };
            ignored.push(format!(
                "server.workers: {} in the file, {} kept",
                show(config.workers),
                show(prev.config.workers)
            ));
        }
        config.workers = prev.config.workers;
        if config.metrics != prev.config.metrics {
            let show = |m: Option<std::net::SocketAddr>| {
                m.map_or_else(|| "off".to_owned(), |a| a.to_string())
            };
            ignored.push(format!(
                "metrics: {} in the file, {} kept",
                show(config.metrics),
                show(prev.config.metrics)
            ));
            config.metrics = prev.config.metrics;
        }
        let memory_budget = config.memory_budget;
        let (generation, kept) = Generation::build(config, Some(&prev))?;
        let generation = Arc::new(generation);
        self.shared.current.store(Arc::clone(&generation));
        self.shared.memory.set_limit(memory_budget);
        // Kept acceptors were checked by the build; now they take the files as they are.
        for l in generation.listeners.iter().filter_map(|l| l.tls.as_ref()) {
            let was_running = prev
                .listeners
                .iter()
                .any(|p| p.tls.as_ref().is_some_and(|t| Arc::ptr_eq(t, l)));
            if was_running && let Err(e) = l.reload() {
                tracing::error!(listener = %l.name, error = %error_chain(&e), "tls reload failed; the listener keeps its certificates");
            }
        }
        if let Some(r) = runner.as_ref() {
            self.shared.start_pools(r);
        }
        let mut stopped = 0;
        for p in prev.pools() {
            if !generation.pools().any(|q| Arc::ptr_eq(p, q)) {
                p.stop();
                stopped += 1;
            }
        }
        Ok(ConfigReloaded {
            pools_kept: kept.pools_kept,
            pools_built: kept.pools_built,
            pools_stopped: stopped,
            ignored,
        })
    }
}

pub(crate) use ferry_app_core::error::error_line as error_chain;
