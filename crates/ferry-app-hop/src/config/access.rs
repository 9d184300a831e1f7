//! `access` and `trace` modes: chains, local listeners and routing rules.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_app_core::ConfigError;
use ferry_chain::{Address, Chain};

use super::access_file::AccessFile;
use super::{parse, read};

/// Settings of `ferry-hop access` (and the chains `ferry-hop trace` probes).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AccessConfig {
    /// The chains, in file order. At least one unless every route is `direct` or `block`.
    pub chains: Vec<ChainConfig>,
    /// Local listeners, in file order (may be empty for `trace`).
    pub listeners: Vec<AccessListener>,
    /// Routing rules, first match wins.
    pub routes: Vec<RouteRule>,
    /// What destinations no rule matches take. Default: every chain, by weight.
    pub default_route: RouteAction,
    /// Time a local client gets to send its SOCKS5 or HTTP CONNECT request. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time for a chain's handshake (connecting to hop 1 and every hop's status), or for a
    /// direct connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Relayed connections with no byte either way for this long are closed. Default 5 min;
    /// `None` never.
    pub idle_timeout: Option<Duration>,
    /// Time live connections get after shutdown before they are cut. Default 30 s.
    pub drain_timeout: Duration,
    /// Connections open at once over all listeners. Default 10 000.
    pub max_connections: NonZeroUsize,
    /// Memory budget for connection buffers (`memory_budget`, a size such as `"256MiB"`): a
    /// new TCP connection whose reservation ([`AccessConfig::memory_reservation`]) would take
    /// the total above it is closed at accept and counted in `ferry_hop_memory_refused_total`;
    /// live connections are never cut. Reloadable. Default 1 GiB
    /// ([`DEFAULT_MEMORY_BUDGET`](ferry_app_core::memory::DEFAULT_MEMORY_BUDGET)); a file
    /// must give at least one connection's reservation on every listener.
    pub memory_budget: NonZeroU64,
    /// UDP flows (client and destination pairs) at once per UDP listener or association.
    /// Default 1 024.
    pub udp_max_flows: NonZeroUsize,
    /// A UDP flow with no datagram either way for this long is removed. Default 60 s.
    pub udp_idle_timeout: Duration,
    /// Address of the admin endpoint (`/metrics`, `/healthz`); the `--metrics` flag overrides
    /// it. Default none (off).
    pub metrics: Option<SocketAddr>,
    /// Log line format (`log_format`, top level, `text` or `json`; `--log-format`
    /// overrides it). Default text.
    pub log_format: ferry_app_core::log::LogFormat,
    /// Resolves the destinations of `direct` routes and UDP flows, once per connection (or
    /// flow). Default the system resolver ([`ferry_base::resolve::SystemResolver`]); not set
    /// by a file, and kept across reloads.
    pub resolver: ferry_base::resolve::SharedResolver,
    /// Where the keys were read from (for `check`); never key material.
    pub(crate) key_source: Option<super::KeySource>,
}

/// One named chain and its weight.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChainConfig {
    /// Its name (`[[chain]] name`).
    pub name: String,
    /// Share of new connections it gets first among the chains of a route. Default 1.
    pub weight: NonZeroU32,
    /// The hops.
    pub chain: Chain,
    /// TLS to hop 1 (`tls_ca`), verified against the hop's address. Default none.
    pub tls: Option<ferry_tls::TlsConnector>,
    /// The CA files of [`ChainConfig::tls`] (for `check`).
    pub(crate) tls_ca: Vec<std::path::PathBuf>,
}

/// One local listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AccessListener {
    /// Name for logs and metrics. Default `listener[i]`.
    pub name: String,
    /// Local address.
    pub bind: SocketAddr,
    /// What it speaks.
    pub mode: AccessMode,
    /// Credentials clients must give (SOCKS5 username/password, HTTP Basic). Default none.
    pub auth: Option<UserPass>,
}

/// What an access listener speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessMode {
    /// Plain TCP, every connection to one destination.
    Tcp {
        /// The destination.
        destination: Address,
    },
    /// Plain UDP, every datagram to one destination.
    Udp {
        /// The destination.
        destination: Address,
    },
    /// SOCKS5: CONNECT and UDP ASSOCIATE.
    Socks5,
    /// HTTP CONNECT.
    HttpConnect,
}

/// A username and password. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserPass {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl UserPass {
    /// A username and password.
    #[must_use]
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    /// Whether `username`/`password` match, comparing in time independent of where they differ.
    #[must_use]
    pub fn matches(&self, username: &str, password: &str) -> bool {
        let u = ferry_base::ct_eq(self.username.as_bytes(), username.as_bytes());
        let p = ferry_base::ct_eq(self.password.as_bytes(), password.as_bytes());
        u & p
    }
}

impl fmt::Debug for UserPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPass")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A routing rule: destinations matching `destinations` take `action`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RouteRule {
    /// ferry-allow patterns over the destination (rules only; no special-address set).
    pub destinations: Arc<Allowlist>,
    /// What to do.
    pub action: RouteAction,
}

/// Where a destination's traffic goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteAction {
    /// Connect from this machine, without a chain.
    Direct,
    /// Refuse.
    Block,
    /// Over these chains (indexes into [`AccessConfig::chains`]): the first pick by weight,
    /// then the others in order when a chain fails.
    Chains(Vec<usize>),
}

impl AccessConfig {
    /// Reads a TOML file (see [`AccessConfig::from_toml`]).
    ///
    /// Bytes each TCP connection of `listener` reserves from
    /// [`AccessConfig::memory_reservation`] at accept: the relay's two 16 KiB buffers, the
    /// request head (8 KiB for HTTP CONNECT, 512 B for SOCKS5), 4 KiB for the chain's
    /// statuses, and 128 KiB when any chain speaks TLS to its first hop; see
    /// `ferry_app_core::memory`.
    #[must_use]
    pub fn memory_reservation(&self, listener: &AccessListener) -> u64 {
        let head = match listener.mode {
            AccessMode::HttpConnect => ferry_front::http_connect::DEFAULT_MAX_HEAD,
            AccessMode::Socks5 => 512,
            _ => 0,
        };
        let tls = self.chains.iter().any(|c| c.tls.is_some());
        ferry_app_core::memory::per_connection(
            &ferry_bridge::BridgeConfig::default(),
            u8::from(tls),
            head + crate::serve::handshake::READ_BUF,
        )
    }

    /// The largest [`memory_reservation`](Self::memory_reservation) of the listeners.
    #[must_use]
    pub fn largest_reservation(&self) -> u64 {
        self.listeners
            .iter()
            .map(|l| self.memory_reservation(l))
            .max()
            .unwrap_or(0)
    }

    /// # Errors
    ///
    /// [`ConfigError::Read`], or as [`AccessConfig::from_toml`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file: AccessFile = parse(&read(path)?, Some(path))?;
        file.validate()
    }

    /// Parses TOML text:
    ///
    /// ```toml
    /// default_via = ["eu", "us"]   # default: every chain; or "direct" / "block"
    /// handshake_timeout = "10s"
    /// connect_timeout = "10s"
    /// idle_timeout = "5m"          # or "off"
    /// drain_timeout = "30s"
    /// max_connections = 10000
    /// memory_budget = "1GiB"       # buffers reserved by open connections; above: refused
    /// udp_max_flows = 1024
    /// udp_idle_timeout = "60s"
    /// metrics = "127.0.0.1:9101"   # admin endpoint (default off; --metrics overrides)
    ///
    /// [keys]
    /// file = "client.keys"         # or env = "FERRY_CHAIN_KEYS"
    ///
    /// [[chain]]
    /// name = "eu"
    /// weight = 2                   # default 1
    /// tls_ca = ["ca.pem"]          # TLS to hop 1 (optional)
    /// hops = [{ address = "hop1.example.net:7000", key_id = 1 },
    ///         { address = "hop2.example.net:7000", key_id = 2 }]
    ///
    /// [[listener]]
    /// name = "socks"               # default listener[i]
    /// mode = "socks5"              # "tcp", "udp", "socks5" or "http"
    /// bind = "127.0.0.1:1080"
    /// destination = "db.internal:5432"   # tcp and udp only (required there)
    /// username = "alice"           # socks5 and http only, with password
    /// password = "secret"
    ///
    /// [[route]]
    /// destinations = ["*.corp.example", "10.0.0.0/8"]
    /// via = "direct"               # "block", a chain name, or a list of chain names
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] for unknown keys and wrong types, [`ConfigError::Invalid`]
    /// naming the key whose value is unusable.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: AccessFile = parse(text, None)?;
        file.validate()
    }

    /// Checks what `ferry-hop access` needs beyond a valid file: at least one listener.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `listener` when the file defines none.
    pub fn require_listeners(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(ConfigError::invalid(
                "listener",
                "at least one [[listener]] is required",
            ));
        }
        Ok(())
    }

    /// The chain named `name`.
    #[must_use]
    pub fn chain(&self, name: &str) -> Option<&ChainConfig> {
        self.chains.iter().find(|c| c.name == name)
    }
}
