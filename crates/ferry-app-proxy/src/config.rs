//! The reverse proxy's configuration: the TOML file model (`*File` types, `deny_unknown_fields`)
//! and the validated runtime types it is converted into.
//!
//! Validation here reads no file: certificates and keys are loaded when a
//! [`Proxy`](crate::Proxy) is built from the config.

mod accept_proxy;
mod access;
mod dump;
mod explain;
mod file;
mod limits;
mod limits_explain;
mod limits_file;
mod pool;
mod pool_file;
mod tls;
mod tls_file;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::Path;
use std::time::Duration;

use ferry_app_core::ConfigError;
pub use ferry_app_core::memory::DEFAULT_MEMORY_BUDGET;
use ferry_bridge::BridgeConfig;

pub use self::accept_proxy::{AcceptProxy, DEFAULT_PROXY_HEADER_TIMEOUT};
pub use self::access::{AccessDenied, AccessRules, TimeWindow};
pub use self::dump::{DEFAULT_DUMP_MAX_BYTES, DEFAULT_DUMP_QUEUE, DumpConfig};
use self::file::{ListenerFile, ProxyFile, TimeoutsFile};
pub use self::limits::{DataRate, LimitAction, ListenerLimits, RETRY_AFTER_PLACEHOLDER, Reply};
pub use self::pool::PoolConfig;
use self::pool_file::PoolFile;
pub use self::tls::{CertFiles, ClientCa, ListenerTls, SELF_SIGNED_NAMES, SniCert, UpstreamTls};
pub use crate::route::NamePattern;

/// Default idle timeout of a proxied connection (both directions silent): 1 h.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default linger after one direction finished: 30 s.
pub const DEFAULT_HALF_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time given to live connections to finish after shutdown was asked: 30 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on concurrent proxied connections for the whole process: 16,384.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// One SNI route of a listener: clients asking for a matching server name go to `pool`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Exact name or `*.suffix` (any depth below the suffix).
    pub pattern: NamePattern,
    /// The pool's name.
    pub pool: String,
}

/// A validated listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Name used in logs (`listener[N]` when the file gives none).
    pub name: String,
    /// Address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Bind with `SO_REUSEPORT` (`reuse_port = true`), so several proxy processes can listen
    /// on the same address and the kernel spreads new connections between them (zero-downtime
    /// restarts: start the new process, then drain the old one). Default `false`.
    pub reuse_port: bool,
    /// The pool connections are sent to, or with [`routes`](Self::routes) the pool for names
    /// no route matches (`None` only with routes: such connections are closed).
    pub pool: Option<String>,
    /// SNI routes (TLS listeners only); exact names win over `*.` suffixes, the longest suffix
    /// wins among those. Default: none.
    pub routes: Vec<Route>,
    /// TLS termination. Default `None`: plain TCP (spliced); with TLS, bytes are copied.
    pub tls: Option<ListenerTls>,
    /// Timeouts and splice policy of connections on this listener.
    pub bridge: BridgeConfig,
    /// Receive a PROXY protocol header from trusted peers (and close every other peer).
    /// Default `None`: the TCP peer is the client.
    pub accept_proxy: Option<AcceptProxy>,
    /// Per-client and per-listener limits (`[listener.limits]`). Default: none.
    pub limits: ListenerLimits,
    /// Source address and time-of-day rules (`[listener.access]`). Default: allow all.
    pub access: AccessRules,
    /// Payload dump (`[listener.dump]`). Default `None`.
    pub dump: Option<DumpConfig>,
    /// Bytes each connection on this listener reserves from [`ProxyConfig::memory_budget`] at
    /// accept: its relay buffers (2 × 16 KiB), 128 KiB per TLS side (client TLS; upstream
    /// TLS when a pool it sends to re-encrypts) and the PROXY header read with
    /// `accept_proxy` (see `ferry_app_core::memory`). Computed, not a setting.
    pub memory_reservation: u64,
    /// What errors about this listener's TLS settings name (`listener[0].tls` or the flags).
    pub(crate) tls_key: String,
}

/// The validated configuration of `ferry-proxy`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Listeners, in file order; `run` takes bound sockets in the same order.
    pub listeners: Vec<ListenerConfig>,
    /// Pools by name.
    pub pools: BTreeMap<String, PoolConfig>,
    /// Cap on concurrent proxied connections; accepting pauses at the cap.
    /// Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: NonZeroUsize,
    /// Connection workers (`server.workers`, a count or `"auto"`): threads that each run a
    /// single-threaded runtime, accept on every listener and keep each connection they accept
    /// (see [`ferry_app_core::workers`]). `None`, the default: connections run as tasks on the
    /// runtime that calls [`Proxy::run`](crate::Proxy::run), which the `ferry-proxy` program
    /// makes tokio's multi-thread runtime (one thread per core, or `TOKIO_WORKER_THREADS`).
    /// Workers cost fewer instructions per connection and message and give a lower median
    /// latency; the multi-thread runtime moves ready connections to whichever thread runs, so
    /// its tail latency holds up better when other processes share the cores. Needs a restart
    /// to change.
    pub workers: Option<NonZeroUsize>,
    /// Memory budget for connection buffers (`server.memory_budget`, a size such as
    /// `"256MiB"`): a new connection whose [reservation](ListenerConfig::memory_reservation)
    /// would take the total above it is closed at accept and counted in
    /// `ferry_proxy_memory_refused_total`; live connections are never cut. Reloadable.
    /// Default [`DEFAULT_MEMORY_BUDGET`] (1 GiB); it must cover one connection of every
    /// listener.
    pub memory_budget: NonZeroU64,
    /// How long live connections may run on after shutdown was asked before they are cut.
    /// Default [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// Log line format (`log_format`, top level; `--log-format` overrides it). Default text.
    pub log_format: ferry_app_core::log::LogFormat,
    /// Admin endpoint, `/metrics` and `/healthz` (`metrics`, top level; `--metrics` overrides
    /// it). Default none.
    pub metrics: Option<SocketAddr>,
}

impl ProxyConfig {
    /// Reads and validates a TOML config file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file, key and reason.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the key and reason.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: ProxyFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: None,
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        file::validate(file)
    }

    /// The simple command-line case: one listener sending to one pool named `default`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when an address is invalid or no upstream is given.
    pub fn from_flags(listen: &str, upstreams: &[String]) -> Result<Self, ConfigError> {
        Self::from_flags_tls(listen, upstreams, None)
    }

    /// [`from_flags`](Self::from_flags) with TLS termination by `cert` (`--tls-cert` and
    /// `--tls-key`, or `--tls-self-signed`) and the TLS defaults of [`ListenerTls::new`].
    ///
    /// # Errors
    ///
    /// As [`from_flags`](Self::from_flags). Certificate files are read later, by
    /// [`Proxy::new`](crate::Proxy::new); its errors then name the flags.
    pub fn from_flags_tls(
        listen: &str,
        upstreams: &[String],
        cert: Option<CertFiles>,
    ) -> Result<Self, ConfigError> {
        let file = ProxyFile {
            listener: vec![ListenerFile {
                name: Some("listen".into()),
                bind: listen.to_owned(),
                reuse_port: false,
                pool: Some("default".into()),
                routes: BTreeMap::new(),
                tls: None,
                accept_proxy: None,
                limits: None,
                access: None,
                dump: None,
                timeouts: TimeoutsFile::default(),
            }],
            pool: BTreeMap::from([("default".to_owned(), PoolFile::from_addresses(upstreams))]),
            ..ProxyFile::default()
        };
        let mut config = file::validate(file).map_err(|e| match e {
            ConfigError::Invalid { key, reason } => ConfigError::Invalid {
                key: key
                    .replace("listener[0].bind", "--listen")
                    .replace("pool.default.upstreams", "--upstream"),
                reason,
            },
            other => other,
        })?;
        if let (Some(cert), Some(listener)) = (cert, config.listeners.first_mut()) {
            listener.tls_key = match cert {
                CertFiles::SelfSigned => "--tls-self-signed".to_owned(),
                _ => "--tls-cert/--tls-key".to_owned(),
            };
            listener.tls = Some(ListenerTls::new(cert));
            listener.memory_reservation = listener
                .memory_reservation
                .saturating_add(ferry_app_core::memory::TLS_STREAM_BYTES);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;
