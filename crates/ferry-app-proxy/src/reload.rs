//! Reloading TLS certificates at run time ([`Reloader`]); the binary calls it on SIGHUP.

use std::sync::Arc;

use ferry_tls::TlsConfigError;

use crate::listener::TlsListener;
use crate::upstream::Upstream;

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

/// Reloads the certificates of a running proxy: every TLS listener's certificates, keys, client
/// CA and shared ticket key file, and every re-encrypting pool's CA and client certificate.
///
/// Each configuration is read, checked and swapped on its own: one with a bad file keeps its
/// current settings while the others apply. Live connections are never touched; sessions
/// issued before the reload still resume. Other settings (addresses, pools, timeouts) are not
/// reloaded. Cheap to clone; get one from [`Proxy::reloader`](crate::Proxy::reloader).
#[derive(Clone)]
pub struct Reloader {
    pub(crate) listeners: Arc<[Arc<TlsListener>]>,
    pub(crate) pools: Arc<[Arc<Upstream>]>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("tls_listeners", &self.listeners.len())
            .field("tls_pools", &self.pools.len())
            .finish()
    }
}

impl Reloader {
    /// Reload every TLS configuration; each result is also logged.
    pub fn reload_tls(&self) -> ReloadOutcome {
        let mut outcome = ReloadOutcome::default();
        for l in self.listeners.iter() {
            match l.reload() {
                Ok(()) => outcome.reloaded += 1,
                Err(source) => outcome.failed.push(ReloadError::Listener {
                    listener: l.name.clone(),
                    key: l.key.clone(),
                    source,
                }),
            }
        }
        for p in self.pools.iter() {
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
}

pub(crate) use ferry_app_core::error::error_line as error_chain;
