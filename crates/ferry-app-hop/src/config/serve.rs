//! `serve` mode: one hop.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_app_core::ConfigError;
use ferry_app_core::duration::de_opt_duration;
use ferry_chain::{Keyring, ReplayConfig};
use serde::Deserialize;

use ferry_app_core::error::error_line;
use ferry_tls::{AcceptorConfig, CertSource, TlsAcceptor, TlsConnector};

use super::{KeySource, KeysFile, allowlist, connector, de_some_duration, nonzero, parse, read};

/// Settings of one hop (`ferry-hop serve`). Build with [`ServeConfig::new`] and adjust the
/// public fields, or read a TOML file with [`ServeConfig::from_file`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeConfig {
    /// TCP (and, with [`ServeConfig::udp`], UDP) listening address. No default.
    pub listen: SocketAddr,
    /// Also serve datagram chains on the same address over UDP. Default `false`.
    pub udp: bool,
    /// The keys clients seal this hop's records with. No default.
    pub keys: Arc<Keyring>,
    /// Where this hop may connect next (other hops and destinations), checked with the
    /// special-address deny set on every resolved address. Default: empty, which denies
    /// everything.
    pub allow: Arc<Allowlist>,
    /// Time a client gets to send this hop's whole record. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time to connect to the next address (resolution included). Default 5 s.
    pub connect_timeout: Duration,
    /// Relayed connections with no byte either way for this long are closed. Default 5 min;
    /// `None` never.
    pub idle_timeout: Option<Duration>,
    /// Time live connections get after shutdown before they are cut. Default 30 s.
    pub drain_timeout: Duration,
    /// Connections open at once (handshaking or relaying). Default 10 000.
    pub max_connections: NonZeroUsize,
    /// Memory budget for connection buffers (`memory_budget`, a size such as `"256MiB"`): a
    /// new connection whose reservation ([`ServeConfig::memory_reservation`]) would take the
    /// total above it is closed at accept and counted in `ferry_hop_memory_refused_total`;
    /// live connections are never cut. Reloadable. Default 1 GiB
    /// ([`DEFAULT_MEMORY_BUDGET`](ferry_app_core::memory::DEFAULT_MEMORY_BUDGET)); a file
    /// must give at least one connection's reservation.
    pub memory_budget: NonZeroU64,
    /// Handshakes in flight at once, over all clients. Default 1 024.
    pub max_handshakes: NonZeroUsize,
    /// Handshakes in flight at once per client IP (IPv6 by /64). Default 64.
    pub per_client_handshakes: NonZeroU32,
    /// Connections open at once per client IP (IPv6 by /64). Default 1 024.
    pub per_client_connections: NonZeroU32,
    /// New connections per second per client IP (burst twice that). Default 200; `None`
    /// unlimited.
    pub per_client_rate: Option<NonZeroU32>,
    /// Replay guard: timestamp window (the clock skew accepted either way) and remembered
    /// nonces. Default 30 s and 524 288 nonces (at most about 40 MiB). A nonce is remembered
    /// for one window, so new connections above `capacity / window` per second (17 476/s by
    /// default) are refused with `authentication failure` until older nonces expire.
    pub replay: ReplayConfig,
    /// Senders (this hop's TCP or UDP peers, usually earlier hops or a local front) whose
    /// records may reveal the original client's address: from them, the access log names the
    /// revealed client (`client`, with the sender as `via`). From anyone else a revealed
    /// address is ignored (logged at debug) and the peer is the client. Per-client limits
    /// always count the peer. Default: empty, trust nobody.
    pub trusted_senders: Vec<ipnet::IpNet>,
    /// Most UDP flows (client address to next address) at once; datagrams that would open
    /// one more are dropped. Default 4 096.
    pub udp_max_flows: NonZeroUsize,
    /// A UDP flow with no datagram either way for this long is removed. Default 60 s.
    pub udp_idle_timeout: Duration,
    /// TLS on the listener: clients (the access side or the previous hop) must speak TLS;
    /// the TLS handshake counts against [`ServeConfig::handshake_timeout`]. Default none.
    pub tls: Option<TlsAcceptor>,
    /// TLS towards the next *hop* (records without the final flag), verified by this
    /// connector against the next address's host; the destination itself is always reached
    /// over plain TCP. Default none.
    pub next_hop_tls: Option<TlsConnector>,
    /// The wall clock the records' timestamps are checked against (milliseconds). Default
    /// [`SystemClock`](ferry_app_core::clock::SystemClock). (A `fn() -> u64` before 0.1; now
    /// the one clock every program shares.)
    pub clock: ferry_app_core::clock::SharedClock,
    /// Resolves next addresses given as names, once per connection (or UDP flow target); only
    /// addresses of that answer that pass [`ServeConfig::allow`] are dialled. Default the
    /// system resolver ([`ferry_base::resolve::SystemResolver`]); not set by a file, and kept
    /// across reloads.
    pub resolver: ferry_base::resolve::SharedResolver,
    /// Address of the admin endpoint (`/metrics`, `/healthz`); the `--metrics` flag overrides
    /// it. Default none (off).
    pub metrics: Option<SocketAddr>,
    /// Log line format (`log_format`, top level, `text` or `json`; `--log-format`
    /// overrides it). Default text.
    pub log_format: ferry_app_core::log::LogFormat,
    /// Where the keys and certificates were read from (for `check` and reloads).
    pub(crate) files: ServeFiles,
}

/// The files a [`ServeConfig`] was loaded from; never key material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServeFiles {
    pub(crate) keys: Option<KeySource>,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) next_hop_ca: Vec<PathBuf>,
}

/// Default [`ServeConfig::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServeConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl ServeConfig {
    /// A hop on `listen` with `keys` and `allow` and every other setting at its default.
    #[must_use]
    pub fn new(listen: SocketAddr, keys: Keyring, allow: Allowlist) -> Self {
        Self {
            listen,
            udp: false,
            keys: Arc::new(keys),
            allow: Arc::new(allow),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: Some(Duration::from_secs(300)),
            drain_timeout: Duration::from_secs(30),
            max_connections: NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN),
            memory_budget: ferry_app_core::memory::DEFAULT_MEMORY_BUDGET,
            max_handshakes: NonZeroUsize::new(1_024).unwrap_or(NonZeroUsize::MIN),
            per_client_handshakes: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
            per_client_connections: NonZeroU32::new(1_024).unwrap_or(NonZeroU32::MIN),
            per_client_rate: NonZeroU32::new(200),
            replay: ReplayConfig {
                window: Duration::from_secs(30),
                capacity: NonZeroUsize::new(524_288).unwrap_or(NonZeroUsize::MIN),
            },
            trusted_senders: Vec::new(),
            udp_max_flows: NonZeroUsize::new(4_096).unwrap_or(NonZeroUsize::MIN),
            udp_idle_timeout: Duration::from_secs(60),
            tls: None,
            next_hop_tls: None,
            clock: Arc::new(ferry_app_core::clock::SystemClock),
            resolver: ferry_base::resolve::system(),
            metrics: None,
            log_format: ferry_app_core::log::LogFormat::Text,
            files: ServeFiles::default(),
        }
    }

    /// From the command line: `--listen`, `--key-file` (or a key variable) and `--allow`
    /// (comma-separated ferry-allow patterns; `None` denies everything).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `--listen`, `--key-file` or `--allow`.
    pub fn from_flags(
        listen: &str,
        keys: &KeySource,
        allow: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let addr = listen.parse().map_err(|_bad| {
            ConfigError::invalid(
                "--listen",
                format!("{listen:?} is not IP:PORT or [IPV6]:PORT"),
            )
        })?;
        let ring = keys.load("--key-file")?;
        let allow = match allow {
            Some(list) => Allowlist::parse(list)
                .map_err(|e| ConfigError::invalid("--allow", e.to_string()))?,
            None => Allowlist::default(),
        };
        let mut c = Self::new(addr, ring, allow);
        c.files.keys = Some(keys.clone());
        Ok(c)
    }

    /// Sets [`ServeConfig::tls`] from a PEM certificate chain (leaf first) and its private
    /// key, as `--tls-cert` / `--tls-key` or `[tls] cert` / `key` do.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `key` when a file cannot be read or the pair is unusable.
    pub fn set_tls_files(
        &mut self,
        cert: &Path,
        private_key: &Path,
        key: &str,
    ) -> Result<(), ConfigError> {
        let source = CertSource::files(cert.to_owned(), private_key.to_owned());
        let acceptor = TlsAcceptor::new(&AcceptorConfig::new(source))
            .map_err(|e| ConfigError::invalid(key, error_line(&e)))?;
        self.tls = Some(acceptor);
        self.files.tls = Some((cert.to_owned(), private_key.to_owned()));
        Ok(())
    }

    /// Sets [`ServeConfig::next_hop_tls`]: TLS to the next hop, verified against the PEM CA
    /// files `cas` (never skipped), as `ferry-hop serve --tls-ca` or `[next_hop_tls] ca` do.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `key` when `cas` is empty or a file is unusable.
    pub fn set_next_hop_tls_cas(&mut self, cas: &[PathBuf], key: &str) -> Result<(), ConfigError> {
        self.next_hop_tls = Some(connector(cas, key)?);
        self.files.next_hop_ca = cas.to_vec();
        Ok(())
    }

    /// Bytes each connection reserves from [`ServeConfig::memory_budget`] at accept: the
    /// relay's two 16 KiB buffers, the 4 KiB record buffer, and 128 KiB for each TLS side
    /// (the listener's [`tls`](Self::tls), the [`next_hop_tls`](Self::next_hop_tls)); see
    /// `ferry_app_core::memory`.
    #[must_use]
    pub fn memory_reservation(&self) -> u64 {
        let tls_sides = u8::from(self.tls.is_some()) + u8::from(self.next_hop_tls.is_some());
        ferry_app_core::memory::per_connection(
            &ferry_bridge::BridgeConfig::default(),
            tls_sides,
            crate::serve::handshake::READ_BUF,
        )
    }

    /// Reads a TOML file (see [`ServeConfig::from_toml`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`], or as [`ServeConfig::from_toml`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::parse_text(&read(path)?, Some(path))
    }

    /// Parses TOML text:
    ///
    /// ```toml
    /// listen = "0.0.0.0:7000"      # required
    /// udp = true                   # default false
    /// allow = ["*.example.com:443", "hop2.example.net:7000"]   # default [] = deny all
    /// handshake_timeout = "10s"
    /// connect_timeout = "5s"
    /// idle_timeout = "5m"          # or "off"
    /// drain_timeout = "30s"
    /// max_connections = 10000
    /// memory_budget = "1GiB"       # buffers reserved by open connections; above: refused
    /// max_handshakes = 1024
    /// per_client_handshakes = 64
    /// per_client_connections = 1024
    /// per_client_rate = 200        # new connections/s per client IP; 0 = unlimited
    /// trusted_senders = ["10.0.0.0/8"]   # whose revealed client address is believed; default []
    /// replay_window = "30s"
    /// replay_capacity = 524288
    /// udp_max_flows = 4096
    /// udp_idle_timeout = "60s"
    /// metrics = "127.0.0.1:9100"   # admin endpoint (default off; --metrics overrides)
    /// [tls]                        # TLS on the listener (optional)
    /// cert = "hop.pem"
    /// key = "hop.key"
    /// [next_hop_tls]               # TLS to the next hop (optional)
    /// ca = ["ca.pem"]
    /// [keys]
    /// file = "/etc/ferry/hop.keys" # or env = "FERRY_HOP_KEYS"
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] for unknown keys and wrong types, [`ConfigError::Invalid`]
    /// naming the key whose value is unusable (and the key file when the keys are).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::parse_text(text, None)
    }

    fn parse_text(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let file: ServeFile = parse(text, path)?;
        file.validate()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: String,
    #[serde(default)]
    udp: bool,
    keys: KeysFile,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default, deserialize_with = "de_some_duration")]
    handshake_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    idle_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_some_duration")]
    drain_timeout: Option<Duration>,
    max_connections: Option<usize>,
    #[serde(default, deserialize_with = "ferry_app_core::size::de_some_size")]
    memory_budget: Option<u64>,
    max_handshakes: Option<usize>,
    per_client_handshakes: Option<u32>,
    per_client_connections: Option<u32>,
    per_client_rate: Option<u32>,
    #[serde(default)]
    trusted_senders: Vec<String>,
    #[serde(default, deserialize_with = "de_some_duration")]
    replay_window: Option<Duration>,
    replay_capacity: Option<usize>,
    udp_max_flows: Option<usize>,
    #[serde(default, deserialize_with = "de_some_duration")]
    udp_idle_timeout: Option<Duration>,
    metrics: Option<String>,
    log_format: Option<ferry_app_core::log::LogFormat>,
    tls: Option<TlsFile>,
    next_hop_tls: Option<NextHopTlsFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextHopTlsFile {
    ca: Vec<PathBuf>,
}

impl ServeConfig {
    /// Whether `peer` is one of [`ServeConfig::trusted_senders`] (IPv4-mapped IPv6 peers are
    /// taken as IPv4).
    #[must_use]
    pub fn trusts(&self, peer: std::net::IpAddr) -> bool {
        ferry_app_core::net::contains(&self.trusted_senders, peer)
    }
}

fn at_least_one_usize(v: usize, key: &str) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(v).ok_or_else(|| ConfigError::invalid(key, "must be at least 1"))
}

fn at_least_one_u32(v: u32, key: &str) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(v).ok_or_else(|| ConfigError::invalid(key, "must be at least 1"))
}

impl ServeFile {
    fn validate(self) -> Result<ServeConfig, ConfigError> {
        let listen = self.listen.parse().map_err(|_bad| {
            ConfigError::invalid(
                "listen",
                format!("{:?} is not IP:PORT or [IPV6]:PORT", self.listen),
            )
        })?;
        let source = self.keys.source("keys")?;
        let keys = source.load("keys")?;
        let allow = allowlist(&self.allow, "allow")?;
        let mut c = ServeConfig::new(listen, keys, allow);
        c.files.keys = Some(source);
        c.udp = self.udp;
        c.metrics = self
            .metrics
            .as_deref()
            .map(super::metrics_addr)
            .transpose()?;
        c.log_format = self.log_format.unwrap_or_default();
        if let Some(d) = self.handshake_timeout {
            c.handshake_timeout = nonzero(d, "handshake_timeout")?;
        }
        if let Some(d) = self.connect_timeout {
            c.connect_timeout = nonzero(d, "connect_timeout")?;
        }
        if let Some(d) = self.idle_timeout {
            c.idle_timeout = d.map(|d| nonzero(d, "idle_timeout")).transpose()?;
        }
        if let Some(d) = self.drain_timeout {
            c.drain_timeout = d;
        }
        if let Some(v) = self.max_connections {
            c.max_connections = at_least_one_usize(v, "max_connections")?;
        }
        if let Some(v) = self.max_handshakes {
            c.max_handshakes = at_least_one_usize(v, "max_handshakes")?;
        }
        if let Some(v) = self.per_client_handshakes {
            c.per_client_handshakes = at_least_one_u32(v, "per_client_handshakes")?;
        }
        if let Some(v) = self.per_client_connections {
            c.per_client_connections = at_least_one_u32(v, "per_client_connections")?;
        }
        if let Some(v) = self.per_client_rate {
            c.per_client_rate = NonZeroU32::new(v);
        }
        c.trusted_senders = self
            .trusted_senders
            .iter()
            .enumerate()
            .map(|(i, t)| {
                ferry_app_core::net::parse_net(t)
                    .map_err(|why| ConfigError::invalid(format!("trusted_senders[{i}]"), why))
            })
            .collect::<Result<_, _>>()?;
        if let Some(d) = self.replay_window {
            c.replay.window = nonzero(d, "replay_window")?;
        }
        if let Some(v) = self.replay_capacity {
            c.replay.capacity = at_least_one_usize(v, "replay_capacity")?;
        }
        if let Some(v) = self.udp_max_flows {
            c.udp_max_flows = at_least_one_usize(v, "udp_max_flows")?;
        }
        if let Some(d) = self.udp_idle_timeout {
            c.udp_idle_timeout = nonzero(d, "udp_idle_timeout")?;
        }
        if let Some(t) = self.tls {
            c.set_tls_files(&t.cert, &t.key, "tls")?;
        }
        if let Some(t) = self.next_hop_tls {
            c.set_next_hop_tls_cas(&t.ca, "next_hop_tls.ca")?;
        }
        if let Some(b) = self.memory_budget {
            c.memory_budget = ferry_app_core::memory::check_budget(b, c.memory_reservation())
                .map_err(|reason| ConfigError::invalid("memory_budget", reason))?;
        }
        Ok(c)
    }
}
