//! The TOML file model (`*File` types, `deny_unknown_fields`) and its validation into
//! [`ProxyConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_app_core::duration::{de_duration, de_opt_duration};
use ferry_app_core::memory::{DEFAULT_MEMORY_BUDGET, check_budget, per_connection};
use ferry_bridge::{BridgeConfig, SplicePolicy};
use serde::Deserialize;

use super::limits_file::{AccessFile, DumpFile, LimitsFile};
use super::pool_file::PoolFile;
use super::tls_file::ListenerTlsFile;
use super::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HALF_CLOSE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, ListenerConfig, NamePattern, PoolConfig, ProxyConfig, Route,
};
use crate::route::Router;
use ferry_app_core::proxy_protocol::AcceptProxyFile;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyFile {
    /// `text` or `json`; read by the binary before logging starts, kept here for `check`.
    #[serde(default)]
    pub(super) log_format: Option<ferry_app_core::log::LogFormat>,
    /// `IP:PORT` of the admin endpoint; `--metrics` overrides it.
    pub(super) metrics: Option<String>,
    #[serde(default)]
    pub(super) server: ServerFile,
    #[serde(default)]
    pub(super) defaults: TimeoutsFile,
    #[serde(default)]
    pub(super) listener: Vec<ListenerFile>,
    #[serde(default)]
    pub(super) pool: BTreeMap<String, PoolFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerFile {
    pub(super) max_connections: Option<usize>,
    #[serde(default)]
    pub(super) workers: Option<WorkersFile>,
    #[serde(default, deserialize_with = "de_some_duration")]
    pub(super) drain_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "ferry_app_core::size::de_some_size")]
    pub(super) memory_budget: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct TimeoutsFile {
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub(super) idle_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub(super) half_close_timeout: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub(super) max_lifetime: Option<Option<Duration>>,
    pub(super) splice: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenerFile {
    pub(super) name: Option<String>,
    pub(super) bind: String,
    #[serde(default)]
    pub(super) reuse_port: bool,
    pub(super) pool: Option<String>,
    #[serde(default)]
    pub(super) routes: BTreeMap<String, String>,
    pub(super) tls: Option<ListenerTlsFile>,
    pub(super) accept_proxy: Option<AcceptProxyFile>,
    pub(super) limits: Option<LimitsFile>,
    pub(super) access: Option<AccessFile>,
    pub(super) dump: Option<DumpFile>,
    #[serde(flatten)]
    pub(super) timeouts: TimeoutsFile,
}

pub(super) fn de_some_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// `server.workers`: a count, or `"auto"` (one per core).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum WorkersFile {
    Count(i64),
    Word(String),
}

impl WorkersFile {
    fn validate(&self) -> Result<NonZeroUsize, ConfigError> {
        match self {
            Self::Count(n) => usize::try_from(*n)
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| {
                    ConfigError::invalid("server.workers", "must be at least 1, or \"auto\"")
                }),
            Self::Word(w) if w == "auto" => Ok(ferry_app_core::workers::default_count()),
            Self::Word(w) => Err(ConfigError::invalid(
                "server.workers",
                format!("{w:?} is neither a count nor \"auto\""),
            )),
        }
    }
}

/// Validates a parsed file into a [`ProxyConfig`].
pub(super) fn validate(file: ProxyFile) -> Result<ProxyConfig, ConfigError> {
    let max_connections = NonZeroUsize::new(
        file.server
            .max_connections
            .unwrap_or(DEFAULT_MAX_CONNECTIONS),
    )
    .ok_or_else(|| ConfigError::invalid("server.max_connections", "must be at least 1"))?;
    let workers = file
        .server
        .workers
        .as_ref()
        .map(WorkersFile::validate)
        .transpose()?;
    let mut pools = BTreeMap::new();
    for (name, p) in file.pool {
        let pool = super::pool_file::validate(&name, p)?;
        pools.insert(name, pool);
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
        if let Some(pool) = &l.pool
            && !pools.contains_key(pool)
        {
            return Err(ConfigError::invalid(
                format!("{key}.pool"),
                format!("no [pool.{pool}] is defined"),
            ));
        }
        let tls = l
            .tls
            .map(|t| t.validate(&format!("{key}.tls")))
            .transpose()?;
        let routes = routes(l.routes, &pools, &key)?;
        if !routes.is_empty() && tls.is_none() {
            return Err(ConfigError::invalid(
                format!("{key}.routes"),
                "SNI routes need TLS on the listener (add [listener.tls])",
            ));
        }
        if l.pool.is_none() && routes.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.pool"),
                "required (it may be left out only when `routes` are given)",
            ));
        }
        let bridge = bridge_config(&file.defaults, &l.timeouts, &key)?;
        let accept_proxy = l
            .accept_proxy
            .map(|a| a.validate(&format!("{key}.accept_proxy")))
            .transpose()?;
        let limits = l
            .limits
            .map(|t| t.validate(&format!("{key}.limits")))
            .transpose()?
            .unwrap_or_default();
        let access = l
            .access
            .map(|t| t.validate(&format!("{key}.access")))
            .transpose()?
            .unwrap_or_default();
        let dump = l
            .dump
            .map(|t| t.validate(&format!("{key}.dump")))
            .transpose()?;
        let memory_reservation = memory_reservation(
            &bridge,
            tls.is_some(),
            &l.pool,
            &routes,
            &pools,
            accept_proxy.is_some(),
        );
        listeners.push(ListenerConfig {
            name: l.name.unwrap_or_else(|| key.clone()),
            memory_reservation,
            bind,
            reuse_port: l.reuse_port,
            pool: l.pool,
            routes,
            tls,
            bridge,
            accept_proxy,
            limits,
            access,
            dump,
            tls_key: format!("{key}.tls"),
        });
    }
    let drain_timeout = file.server.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT);
    let most = listeners
        .iter()
        .map(|l| l.memory_reservation)
        .max()
        .unwrap_or(0);
    let memory_budget = match file.server.memory_budget {
        None => DEFAULT_MEMORY_BUDGET,
        Some(b) => check_budget(b, most)
            .map_err(|reason| ConfigError::invalid("server.memory_budget", reason))?,
    };
    Ok(ProxyConfig {
        listeners,
        pools,
        max_connections,
        workers,
        memory_budget,
        drain_timeout,
        log_format: file.log_format.unwrap_or_default(),
        metrics: file
            .metrics
            .as_deref()
            .map(|m| {
                m.parse().map_err(|_not_an_address| {
                    ConfigError::invalid("metrics", format!("{m:?} is not IP:PORT or [IPv6]:PORT"))
                })
            })
            .transpose()?,
    })
}

/// What one connection of a listener reserves from the memory budget: the relay's buffers,
/// the client's TLS (on a TLS listener), the upstream's TLS (when any pool the listener sends
/// to re-encrypts) and the PROXY header read (with `accept_proxy`).
fn memory_reservation(
    bridge: &BridgeConfig,
    client_tls: bool,
    pool: &Option<String>,
    routes: &[Route],
    pools: &BTreeMap<String, PoolConfig>,
    accept_proxy: bool,
) -> u64 {
    let upstream_tls = pool
        .iter()
        .chain(routes.iter().map(|r| &r.pool))
        .any(|name| pools.get(name).is_some_and(|p| p.tls.is_some()));
    let head = if accept_proxy {
        ferry_app_core::proxy_protocol::head_bytes()
    } else {
        0
    };
    per_connection(bridge, u8::from(client_tls) + u8::from(upstream_tls), head)
}

/// Validates `routes` (pattern -> pool name) of the listener at `key`.
fn routes(
    raw: BTreeMap<String, String>,
    pools: &BTreeMap<String, PoolConfig>,
    key: &str,
) -> Result<Vec<Route>, ConfigError> {
    let mut seen = Router::new(None);
    let mut out = Vec::with_capacity(raw.len());
    for (text, pool) in raw {
        let route_key = format!("{key}.routes.{text:?}");
        let pattern = NamePattern::parse(&text).map_err(|r| ConfigError::invalid(&route_key, r))?;
        if !pools.contains_key(&pool) {
            return Err(ConfigError::invalid(
                route_key,
                format!("no [pool.{pool}] is defined"),
            ));
        }
        if let Err(dup) = seen.add(pattern.clone(), ()) {
            return Err(ConfigError::invalid(
                route_key,
                format!("{dup} is routed twice (names compare without case and trailing dot)"),
            ));
        }
        out.push(Route { pattern, pool });
    }
    Ok(out)
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
