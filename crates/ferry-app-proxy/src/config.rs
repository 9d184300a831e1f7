//! The reverse proxy's configuration: the TOML file model (`*File` types, `deny_unknown_fields`)
//! and the validated runtime types it is converted into.
//!
//! Validation here reads no file: certificates and keys are loaded when a
//! [`Proxy`](crate::Proxy) is built from the config.

mod access;
mod dump;
mod explain;
mod file;
mod limits;
mod limits_explain;
mod limits_file;
mod tls;
mod tls_file;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_bridge::BridgeConfig;

pub use self::access::{AccessDenied, AccessRules, TimeWindow};
pub use self::dump::{DEFAULT_DUMP_MAX_BYTES, DEFAULT_DUMP_QUEUE, DumpConfig};
use self::file::{ListenerFile, PoolFile, ProxyFile, TimeoutsFile};
pub use self::limits::{DataRate, LimitAction, ListenerLimits, RETRY_AFTER_PLACEHOLDER, Reply};
pub use self::tls::{CertFiles, ClientCa, ListenerTls, SELF_SIGNED_NAMES, SniCert, UpstreamTls};
pub use crate::route::NamePattern;

/// Default upstream connect timeout (per attempt): 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total budget for connecting to an upstream, across retries: 10 s.
pub const DEFAULT_CONNECT_BUDGET: Duration = Duration::from_secs(10);
/// Default idle timeout of a proxied connection (both directions silent): 1 h.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default linger after one direction finished: 30 s.
pub const DEFAULT_HALF_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time given to live connections to finish after shutdown was asked: 30 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on concurrent proxied connections for the whole process: 16,384.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Where an upstream is: an address, or a host name resolved at every connect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamAddr {
    /// A literal socket address.
    Socket(SocketAddr),
    /// A host name and port, resolved when connecting.
    Host(String, u16),
}

impl UpstreamAddr {
    /// Parses `IP:PORT`, `[V6]:PORT` or `HOST:PORT`.
    ///
    /// # Errors
    ///
    /// Returns a reason when the port is missing or invalid or the host is empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err("port 0 is not a valid upstream port".into());
            }
            return Ok(Self::Socket(addr));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} has no port (expected HOST:PORT)"))?;
        let port: u16 = port
            .parse()
            .map_err(|_bad_port| format!("{text:?} has an invalid port"))?;
        if port == 0 {
            return Err("port 0 is not a valid upstream port".into());
        }
        if host.is_empty()
            || host.contains(':')
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(format!("{text:?} is not HOST:PORT, IP:PORT or [IPV6]:PORT"));
        }
        Ok(Self::Host(host.to_ascii_lowercase(), port))
    }
}

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(a) => write!(f, "{a}"),
            Self::Host(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// A validated upstream pool.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Name of the pool (the key under `[pool.NAME]`).
    pub name: String,
    /// Upstreams, tried in round-robin order; at least one.
    pub upstreams: Vec<UpstreamAddr>,
    /// Timeout of one connect attempt. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Total time for all attempts of one client connection (retry on the next upstream).
    /// Default [`DEFAULT_CONNECT_BUDGET`].
    pub connect_budget: Duration,
    /// TLS to the upstreams (re-encryption). Default `None`: plain TCP.
    pub tls: Option<UpstreamTls>,
}

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
    /// Per-client and per-listener limits (`[listener.limits]`). Default: none.
    pub limits: ListenerLimits,
    /// Source address and time-of-day rules (`[listener.access]`). Default: allow all.
    pub access: AccessRules,
    /// Payload dump (`[listener.dump]`). Default `None`.
    pub dump: Option<DumpConfig>,
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
    /// How long live connections may run on after shutdown was asked before they are cut.
    /// Default [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
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
                pool: Some("default".into()),
                routes: BTreeMap::new(),
                tls: None,
                limits: None,
                access: None,
                dump: None,
                timeouts: TimeoutsFile::default(),
            }],
            pool: BTreeMap::from([(
                "default".to_owned(),
                PoolFile {
                    upstreams: upstreams.to_vec(),
                    connect_timeout: None,
                    connect_budget: None,
                    tls: None,
                },
            )]),
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
        }
        Ok(config)
    }
}

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
