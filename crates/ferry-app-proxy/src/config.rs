//! The reverse proxy's configuration: the TOML file model (`*File` types, `deny_unknown_fields`)
//! and the validated runtime types it is converted into.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use ferry_bridge::{BridgeConfig, SplicePolicy};
use serde::Deserialize;

use ferry_app_core::ConfigError;
use ferry_app_core::duration::{de_duration, de_opt_duration, format_duration};

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
}

/// A validated listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Name used in logs (`listener[N]` when the file gives none).
    pub name: String,
    /// Address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Name of the pool connections are sent to.
    pub pool: String,
    /// Timeouts and splice policy of connections on this listener.
    pub bridge: BridgeConfig,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyFile {
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    defaults: TimeoutsFile,
    #[serde(default)]
    listener: Vec<ListenerFile>,
    #[serde(default)]
    pool: BTreeMap<String, PoolFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    max_connections: Option<usize>,
    #[serde(default, deserialize_with = "de_some_duration")]
    drain_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TimeoutsFile {
    #[serde(default, deserialize_with = "de_opt_duration")]
    idle_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    half_close_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    max_lifetime: Option<Option<Duration>>,
    splice: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenerFile {
    name: Option<String>,
    bind: String,
    pool: String,
    #[serde(flatten)]
    timeouts: TimeoutsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    upstreams: Vec<String>,
    #[serde(default, deserialize_with = "de_some_duration")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    connect_budget: Option<Duration>,
}

fn de_some_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
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
        Self::try_from_file(file)
    }

    /// The simple command-line case: one listener sending to one pool named `default`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when an address is invalid or no upstream is given.
    pub fn from_flags(listen: &str, upstreams: &[String]) -> Result<Self, ConfigError> {
        let file = ProxyFile {
            listener: vec![ListenerFile {
                name: Some("listen".into()),
                bind: listen.to_owned(),
                pool: "default".into(),
                timeouts: TimeoutsFile::default(),
            }],
            pool: BTreeMap::from([(
                "default".to_owned(),
                PoolFile {
                    upstreams: upstreams.to_vec(),
                    connect_timeout: None,
                    connect_budget: None,
                },
            )]),
            ..ProxyFile::default()
        };
        Self::try_from_file(file).map_err(|e| match e {
            ConfigError::Invalid { key, reason } => ConfigError::Invalid {
                key: key
                    .replace("listener[0].bind", "--listen")
                    .replace("pool.default.upstreams", "--upstream"),
                reason,
            },
            other => other,
        })
    }

    fn try_from_file(file: ProxyFile) -> Result<Self, ConfigError> {
        let max_connections = NonZeroUsize::new(
            file.server
                .max_connections
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
        )
        .ok_or_else(|| ConfigError::invalid("server.max_connections", "must be at least 1"))?;
        let mut pools = BTreeMap::new();
        for (name, p) in file.pool {
            let key = format!("pool.{name}");
            if p.upstreams.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.upstreams"),
                    "at least one upstream is required",
                ));
            }
            let upstreams = p
                .upstreams
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    UpstreamAddr::parse(u)
                        .map_err(|r| ConfigError::invalid(format!("{key}.upstreams[{i}]"), r))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let connect_timeout = nonzero_duration(
                p.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                &format!("{key}.connect_timeout"),
            )?;
            let connect_budget = nonzero_duration(
                p.connect_budget.unwrap_or(DEFAULT_CONNECT_BUDGET),
                &format!("{key}.connect_budget"),
            )?;
            pools.insert(
                name.clone(),
                PoolConfig {
                    name,
                    upstreams,
                    connect_timeout,
                    connect_budget,
                },
            );
        }
        if file.listener.is_empty() {
            return Err(ConfigError::invalid(
                "listener",
                "at least one [[listener]] is required",
            ));
        }
        let mut listeners = Vec::with_capacity(file.listener.len());
        for (i, l) in file.listener.into_iter().enumerate() {
            let key = format!("listener[{i}]");
            let bind: SocketAddr = l.bind.parse().map_err(|_bad_addr| {
                ConfigError::invalid(
                    format!("{key}.bind"),
                    format!("{:?} is not IP:PORT or [IPV6]:PORT", l.bind),
                )
            })?;
            if !pools.contains_key(&l.pool) {
                return Err(ConfigError::invalid(
                    format!("{key}.pool"),
                    format!("no [pool.{}] is defined", l.pool),
                ));
            }
            let bridge = bridge_config(&file.defaults, &l.timeouts, &key)?;
            listeners.push(ListenerConfig {
                name: l.name.unwrap_or_else(|| key.clone()),
                bind,
                pool: l.pool,
                bridge,
            });
        }
        let drain_timeout = file.server.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT);
        Ok(Self {
            listeners,
            pools,
            max_connections,
            drain_timeout,
        })
    }

    /// A multi-line, human-readable account of the validated config with every default filled in,
    /// for `ferry-proxy check`.
    #[must_use]
    pub fn explain(&self) -> String {
        let opt = |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), format_duration);
        let mut out = format!(
            "server: max_connections={} drain_timeout={}\n",
            self.max_connections,
            format_duration(self.drain_timeout)
        );
        for l in &self.listeners {
            let b = &l.bridge;
            out.push_str(&format!(
                "listener {}: bind={} pool={} idle_timeout={} half_close_timeout={} max_lifetime={} splice={}\n",
                l.name,
                l.bind,
                l.pool,
                opt(b.idle_timeout),
                opt(b.half_close_timeout),
                opt(b.max_lifetime),
                matches!(b.splice, SplicePolicy::Auto),
            ));
        }
        for p in self.pools.values() {
            let ups: Vec<String> = p.upstreams.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "pool {}: balance=round-robin upstreams=[{}] connect_timeout={} connect_budget={}\n",
                p.name,
                ups.join(", "),
                format_duration(p.connect_timeout),
                format_duration(p.connect_budget),
            ));
        }
        out
    }
}

fn nonzero_duration(d: Duration, key: &str) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be greater than zero"));
    }
    Ok(d)
}

fn bridge_config(
    defaults: &TimeoutsFile,
    own: &TimeoutsFile,
    key: &str,
) -> Result<BridgeConfig, ConfigError> {
    let pick = |a: Option<Option<Duration>>,
                b: Option<Option<Duration>>,
                dflt: Option<Duration>| { a.or(b).unwrap_or(dflt) };
    let idle = pick(
        own.idle_timeout,
        defaults.idle_timeout,
        Some(DEFAULT_IDLE_TIMEOUT),
    );
    let half = pick(
        own.half_close_timeout,
        defaults.half_close_timeout,
        Some(DEFAULT_HALF_CLOSE_TIMEOUT),
    );
    let life = pick(own.max_lifetime, defaults.max_lifetime, None);
    for (name, v) in [
        ("idle_timeout", idle),
        ("half_close_timeout", half),
        ("max_lifetime", life),
    ] {
        if v == Some(Duration::ZERO) {
            return Err(ConfigError::invalid(
                format!("{key}.{name}"),
                "must be greater than zero (write \"off\" for no limit)",
            ));
        }
    }
    let splice = if own.splice.or(defaults.splice).unwrap_or(true) {
        SplicePolicy::Auto
    } else {
        SplicePolicy::Off
    };
    Ok(BridgeConfig::default()
        .idle_timeout(idle)
        .half_close_timeout(half)
        .max_lifetime(life)
        .splice(splice))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
max_connections = 100
drain_timeout = "5s"

[defaults]
idle_timeout = "10m"

[[listener]]
name = "web"
bind = "127.0.0.1:0"
pool = "app"
max_lifetime = "1h"
splice = false

[pool.app]
upstreams = ["127.0.0.1:9000", "[::1]:9001", "backend.internal:80"]
connect_timeout = "2s"
"#;

    #[test]
    fn parses_a_full_file() {
        let c = ProxyConfig::from_toml(GOOD).unwrap();
        assert_eq!(c.max_connections.get(), 100);
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        let l = &c.listeners[0];
        assert_eq!(l.name, "web");
        assert_eq!(l.bridge.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(
            l.bridge.half_close_timeout,
            Some(DEFAULT_HALF_CLOSE_TIMEOUT)
        );
        assert_eq!(l.bridge.max_lifetime, Some(Duration::from_secs(3600)));
        assert!(matches!(l.bridge.splice, SplicePolicy::Off));
        let p = &c.pools["app"];
        assert_eq!(p.connect_timeout, Duration::from_secs(2));
        assert_eq!(
            p.upstreams[2],
            UpstreamAddr::Host("backend.internal".into(), 80)
        );
        assert!(c.explain().contains("pool app: balance=round-robin"));
    }

    fn err(text: &str) -> String {
        ProxyConfig::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            err("bogus = 1").contains("unknown field `bogus`"),
            "{}",
            err("bogus = 1")
        );
        let base = "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n";
        assert!(err(base).contains("listener[0].pool"));
        let with_pool = format!("{base}[pool.p]\nupstreams = []\n");
        assert!(err(&with_pool).contains("pool.p.upstreams"));
        let bad_up = format!("{base}[pool.p]\nupstreams = [\"nope\"]\n");
        assert!(err(&bad_up).contains("pool.p.upstreams[0]"));
        let bad_dur =
            format!("{base}idle_timeout = \"5\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n");
        assert!(err(&bad_dur).contains("missing unit"), "{}", err(&bad_dur));
        let zero =
            format!("{base}idle_timeout = \"0s\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n");
        assert!(err(&zero).contains("listener[0].idle_timeout"));
        assert!(err("").contains("at least one [[listener]]"));
        let bad_bind = "[[listener]]\nbind = \"localhost\"\npool = \"p\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n";
        assert!(err(bad_bind).contains("listener[0].bind"));
        assert!(err("[server]\nmax_connections = 0\n").contains("server.max_connections"));
    }

    #[test]
    fn flags_errors_name_the_flag() {
        let e = ProxyConfig::from_flags("nope", &["127.0.0.1:1".into()]).unwrap_err();
        assert!(e.to_string().contains("--listen"), "{e}");
        let e = ProxyConfig::from_flags("127.0.0.1:0", &[]).unwrap_err();
        assert!(e.to_string().contains("--upstream"), "{e}");
        let ok = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:1".into()]).unwrap();
        assert!(matches!(ok.listeners[0].bridge.splice, SplicePolicy::Auto));
    }

    #[test]
    fn upstream_addr_forms() {
        assert!(matches!(
            UpstreamAddr::parse("127.0.0.1:80"),
            Ok(UpstreamAddr::Socket(_))
        ));
        assert!(matches!(
            UpstreamAddr::parse("[::1]:80"),
            Ok(UpstreamAddr::Socket(_))
        ));
        assert_eq!(
            UpstreamAddr::parse("Example.COM:443"),
            Ok(UpstreamAddr::Host("example.com".into(), 443))
        );
        for bad in [
            "",
            "host",
            "host:",
            "host:0",
            "host:70000",
            ":80",
            "::1:80",
            "a b:80",
            "127.0.0.1:0",
        ] {
            assert!(UpstreamAddr::parse(bad).is_err(), "{bad:?}");
        }
    }
}
