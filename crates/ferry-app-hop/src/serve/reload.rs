//! [`Reloader`]: new settings for a running hop, validated before anything changes.

use std::path::Path;
use std::sync::Arc;

use ferry_app_core::reload::{ReloadError, Reloaded, finish};

use super::hop::HopShared;
use crate::ServeConfig;
use crate::config::ServeSource;

/// The program name reloads are logged and counted under.
const PROGRAM: &str = "ferry-hop";

/// Reloads a running [`Hop`](super::Hop). Cheap to clone; reloads are serialised.
///
/// A reload reads and validates the whole new config first (the file, the key file, the
/// certificates and CA files, the allowlist patterns) and changes nothing when any of it is
/// wrong. A good config is swapped in for new connections and datagram flows: keys (a key
/// removed from the file is refused from then on), allowlist, timeouts, per-client limits and
/// `max_connections` / `max_handshakes` (limiters whose limits did not change keep their
/// counts; changed ones start empty), `memory_budget` (live connections keep their
/// reservations), the listener's TLS certificate and the next-hop CAs.
/// Live connections keep the settings they started with and are never cut. The replay guard
/// is kept (so `replay_window` / `replay_capacity` and `metrics` keep their running values,
/// reported as needing a restart). A changed `listen` or `udp` refuses the whole reload
/// ([`ReloadError::NeedsRestart`]).
///
/// Every reload's outcome is logged and counted in `ferry_config_reloads_total{result}`
/// (`ferry_app_core::reload::finish`).
#[derive(Clone)]
pub struct Reloader {
    pub(crate) shared: Arc<HopShared>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// Re-reads the TOML file at `path` and applies it.
    ///
    /// # Errors
    ///
    /// [`ReloadError::Config`] when the file or anything it names is unusable,
    /// [`ReloadError::NeedsRestart`] when it changes `listen` or `udp`. Either way the running
    /// settings stay.
    pub fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        self.reload(&ServeSource::File(path.to_owned()))
    }

    /// Loads `source` again (a config file, or the files the flags name: keys, TLS
    /// certificate and key, next-hop CAs) and applies it.
    ///
    /// # Errors
    ///
    /// As [`Reloader::reload_file`].
    pub fn reload(&self, source: &ServeSource) -> Result<Reloaded, ReloadError> {
        let result = match source.load() {
            Ok(config) => self.apply(config),
            Err(e) => Err(ReloadError::Config(e)),
        };
        finish(PROGRAM, result)
    }

    /// Applies `config`, validated already (as every [`ServeConfig`] constructor does).
    ///
    /// # Errors
    ///
    /// [`ReloadError::NeedsRestart`] when it changes `listen` or `udp`; the running settings
    /// stay.
    pub fn reload_config(&self, config: ServeConfig) -> Result<Reloaded, ReloadError> {
        finish(PROGRAM, self.apply(config))
    }

    fn apply(&self, config: ServeConfig) -> Result<Reloaded, ReloadError> {
        let _serialised = self
            .shared
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.shared.current.load_full();
        let old = &current.config;
        if config.listen != old.listen {
            return Err(ReloadError::changed("listen", old.listen, config.listen));
        }
        if config.udp != old.udp {
            return Err(ReloadError::changed("udp", old.udp, config.udp));
        }
        let memory_budget = config.memory_budget;
        let (next, report) = current.next(config);
        self.shared.current.store(Arc::new(next));
        self.shared.memory.set_limit(memory_budget);
        Ok(report)
    }
}
