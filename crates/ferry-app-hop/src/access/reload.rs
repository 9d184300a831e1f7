//! [`Reloader`]: new settings for running access listeners, validated before anything
//! changes.

use std::path::Path;
use std::sync::Arc;

use ferry_app_core::reload::{ReloadError, Reloaded, finish};

use super::app::AccessShared;
use crate::AccessConfig;

/// The program name reloads are logged and counted under.
const PROGRAM: &str = "ferry-hop";

/// Reloads running [`Access`](super::Access) listeners. Cheap to clone; reloads are
/// serialised.
///
/// A reload reads and validates the whole new file first (keys, chains, CA files, routes,
/// listeners) and changes nothing when any of it is wrong. A good file is swapped in for new
/// connections and new UDP flows: chains (hops, key ids, weights, TLS to hop 1), keys, routes
/// and the default route, listeners' credentials and names, a TCP listener's destination,
/// timeouts and UDP flow settings. Live connections and SOCKS5 UDP associations keep the
/// settings they started with and are never cut. The number of listeners, their addresses and
/// modes (and a UDP listener's destination) need a restart: such a reload is refused
/// ([`ReloadError::NeedsRestart`]); `max_connections` and `metrics` keep their running values.
/// `memory_budget` applies at once (live connections keep their reservations).
///
/// Every reload's outcome is logged and counted in `ferry_config_reloads_total{result}`.
#[derive(Clone)]
pub struct Reloader {
    pub(crate) shared: Arc<AccessShared>,
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
    /// [`ReloadError::NeedsRestart`] when it changes the listeners' count, addresses or
    /// modes. Either way the running settings stay.
    pub fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let result = match AccessConfig::from_file(path) {
            Ok(config) => self.apply(config),
            Err(e) => Err(ReloadError::Config(e)),
        };
        finish(PROGRAM, result)
    }

    /// Rebuilds the config from the same flags (`ferry-hop access --listen ... --hop ...`),
    /// which re-reads the key file, and applies it.
    ///
    /// # Errors
    ///
    /// As for [`Reloader::reload_file`].
    pub fn reload_flags(&self, flags: &crate::AccessFlags) -> Result<Reloaded, ReloadError> {
        let result = match AccessConfig::from_flags(flags) {
            Ok(config) => self.apply(config),
            Err(e) => Err(ReloadError::Config(e)),
        };
        finish(PROGRAM, result)
    }

    /// Applies `config`, validated already (as [`AccessConfig::from_file`] does).
    ///
    /// # Errors
    ///
    /// [`ReloadError::NeedsRestart`] as for [`Reloader::reload_file`]; the running settings
    /// stay.
    pub fn reload_config(&self, config: AccessConfig) -> Result<Reloaded, ReloadError> {
        finish(PROGRAM, self.apply(config))
    }

    fn apply(&self, config: AccessConfig) -> Result<Reloaded, ReloadError> {
        let _serialised = self
            .shared
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.shared.current.load_full();
        let memory_budget = config.memory_budget;
        let (next, report) = current.next(config)?;
        self.shared.current.store(Arc::new(next));
        self.shared.memory.set_limit(memory_budget);
        Ok(report)
    }
}
