//! The `access` TOML file model (`deny_unknown_fields`) and its validation into
//! [`AccessConfig`].

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_app_core::duration::de_opt_duration;
use ferry_chain::{Address, Chain, ChainHop, KeyId, Keyring};
use serde::Deserialize;

use super::{
    AccessConfig, AccessListener, AccessMode, ChainConfig, KeysFile, RouteAction, RouteRule,
    UserPass, allowlist, de_some_duration, nonzero,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessFile {
    keys: Option<KeysFile>,
    #[serde(default)]
    chain: Vec<ChainFile>,
    #[serde(default)]
    listener: Vec<ListenerFile>,
    #[serde(default)]
    route: Vec<RouteFile>,
    default_via: Option<Via>,
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
    udp_max_flows: Option<usize>,
    #[serde(default, deserialize_with = "de_some_duration")]
    udp_idle_timeout: Option<Duration>,
    metrics: Option<String>,
    log_format: Option<ferry_app_core::log::LogFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChainFile {
    name: String,
    weight: Option<u32>,
    hops: Vec<HopFile>,
    tls_ca: Option<Vec<std::path::PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HopFile {
    address: String,
    key_id: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenerFile {
    name: Option<String>,
    mode: String,
    bind: String,
    destination: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    destinations: Vec<String>,
    via: Via,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Via {
    One(String),
    Many(Vec<String>),
}

impl ChainFile {
    /// A chain named `name` over `hops`, with the file's defaults (weight 1, no TLS).
    pub(super) fn new(name: &str, hops: Vec<HopFile>) -> Self {
        Self {
            name: name.to_owned(),
            weight: None,
            hops,
            tls_ca: None,
        }
    }
}

impl HopFile {
    pub(super) fn new(address: &str, key_id: u16) -> Self {
        Self {
            address: address.to_owned(),
            key_id,
        }
    }
}

impl ListenerFile {
    /// A listener of `mode` on `bind`, without a name or credentials.
    pub(super) fn new(mode: &str, bind: &str) -> Self {
        Self {
            name: None,
            mode: mode.to_owned(),
            bind: bind.to_owned(),
            destination: None,
            username: None,
            password: None,
        }
    }
}

impl AccessFile {
    /// A file with `keys`, one `chain` (every connection routed over it) and `listener`s,
    /// everything else at its default.
    pub(super) fn one_chain(keys: KeysFile, chain: ChainFile, listener: Vec<ListenerFile>) -> Self {
        Self {
            keys: Some(keys),
            chain: vec![chain],
            listener,
            route: Vec::new(),
            default_via: None,
            handshake_timeout: None,
            connect_timeout: None,
            idle_timeout: None,
            drain_timeout: None,
            max_connections: None,
            memory_budget: None,
            udp_max_flows: None,
            udp_idle_timeout: None,
            metrics: None,
            log_format: None,
        }
    }

    pub(super) fn validate(self) -> Result<AccessConfig, ConfigError> {
        let key_source = self.keys.map(|k| k.source("keys")).transpose()?;
        let keys = key_source.as_ref().map(|k| k.load("keys")).transpose()?;
        let chains = chains(self.chain, keys.as_ref())?;
        let names: BTreeMap<&str, usize> = chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let mut routes = Vec::with_capacity(self.route.len());
        for (i, r) in self.route.into_iter().enumerate() {
            let key = format!("route[{i}]");
            if r.destinations.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.destinations"),
                    "at least one pattern is required",
                ));
            }
            let destinations =
                Arc::new(allowlist(&r.destinations, &format!("{key}.destinations"))?);
            let action = via(&r.via, &names, &format!("{key}.via"))?;
            routes.push(RouteRule {
                destinations,
                action,
            });
        }
        let default_route = match &self.default_via {
            Some(v) => via(v, &names, "default_via")?,
            None if chains.is_empty() => RouteAction::Block,
            None => RouteAction::Chains((0..chains.len()).collect()),
        };
        let mut listeners = Vec::with_capacity(self.listener.len());
        for (i, l) in self.listener.into_iter().enumerate() {
            listeners.push(listener(l, i)?);
        }
        let mut c = AccessConfig {
            chains,
            listeners,
            routes,
            default_route,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            drain_timeout: Duration::from_secs(30),
            max_connections: NonZeroUsize::new(10_000).unwrap_or(NonZeroUsize::MIN),
            memory_budget: ferry_app_core::memory::DEFAULT_MEMORY_BUDGET,
            udp_max_flows: NonZeroUsize::new(1_024).unwrap_or(NonZeroUsize::MIN),
            udp_idle_timeout: Duration::from_secs(60),
            metrics: self
                .metrics
                .as_deref()
                .map(super::metrics_addr)
                .transpose()?,
            log_format: self.log_format.unwrap_or_default(),
            resolver: ferry_base::resolve::system(),
            key_source,
        };
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
            c.max_connections = NonZeroUsize::new(v)
                .ok_or_else(|| ConfigError::invalid("max_connections", "must be at least 1"))?;
        }
        if let Some(v) = self.udp_max_flows {
            c.udp_max_flows = NonZeroUsize::new(v)
                .ok_or_else(|| ConfigError::invalid("udp_max_flows", "must be at least 1"))?;
        }
        if let Some(d) = self.udp_idle_timeout {
            c.udp_idle_timeout = nonzero(d, "udp_idle_timeout")?;
        }
        if let Some(b) = self.memory_budget {
            c.memory_budget = ferry_app_core::memory::check_budget(b, c.largest_reservation())
                .map_err(|reason| ConfigError::invalid("memory_budget", reason))?;
        }
        Ok(c)
    }
}

fn chains(files: Vec<ChainFile>, keys: Option<&Keyring>) -> Result<Vec<ChainConfig>, ConfigError> {
    let mut out: Vec<ChainConfig> = Vec::with_capacity(files.len());
    for (i, c) in files.into_iter().enumerate() {
        let key = format!("chain[{i}]");
        if c.name.is_empty() || matches!(c.name.as_str(), "direct" | "block") {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "must be non-empty and not `direct` or `block`",
            ));
        }
        if out.iter().any(|o| o.name == c.name) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("chain {:?} is defined twice", c.name),
            ));
        }
        let weight = NonZeroU32::new(c.weight.unwrap_or(1))
            .ok_or_else(|| ConfigError::invalid(format!("{key}.weight"), "must be at least 1"))?;
        let Some(keys) = keys else {
            return Err(ConfigError::invalid(
                "keys",
                "chains need [keys] with `file` or `env`",
            ));
        };
        let mut hops = Vec::with_capacity(c.hops.len());
        for (j, h) in c.hops.iter().enumerate() {
            let hk = format!("{key}.hops[{j}]");
            let address: Address = h.address.parse().map_err(|e| {
                ConfigError::invalid(format!("{hk}.address"), format!("{:?}: {e}", h.address))
            })?;
            let hop_key = keys.get(KeyId(h.key_id)).ok_or_else(|| {
                ConfigError::invalid(
                    format!("{hk}.key_id"),
                    format!("no key with id {} in [keys]", h.key_id),
                )
            })?;
            hops.push(ChainHop {
                address,
                key: hop_key.clone(),
            });
        }
        let chain = Chain::new(hops)
            .map_err(|e| ConfigError::invalid(format!("{key}.hops"), e.to_string()))?;
        let tls = c
            .tls_ca
            .as_deref()
            .map(|cas| super::connector(cas, &format!("{key}.tls_ca")))
            .transpose()?;
        out.push(ChainConfig {
            name: c.name,
            weight,
            chain,
            tls,
            tls_ca: c.tls_ca.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn via(v: &Via, names: &BTreeMap<&str, usize>, key: &str) -> Result<RouteAction, ConfigError> {
    let list: Vec<&str> = match v {
        Via::One(s) if s == "direct" => return Ok(RouteAction::Direct),
        Via::One(s) if s == "block" => return Ok(RouteAction::Block),
        Via::One(s) => vec![s.as_str()],
        Via::Many(v) => v.iter().map(String::as_str).collect(),
    };
    if list.is_empty() {
        return Err(ConfigError::invalid(key, "name at least one chain"));
    }
    let mut out = Vec::with_capacity(list.len());
    for name in list {
        let i = names.get(name).ok_or_else(|| {
            ConfigError::invalid(
                key,
                format!("no [[chain]] named {name:?} (or use \"direct\" / \"block\")"),
            )
        })?;
        if !out.contains(i) {
            out.push(*i);
        }
    }
    Ok(RouteAction::Chains(out))
}

fn listener(l: ListenerFile, i: usize) -> Result<AccessListener, ConfigError> {
    let key = format!("listener[{i}]");
    let bind = l.bind.parse().map_err(|_bad| {
        ConfigError::invalid(
            format!("{key}.bind"),
            format!("{:?} is not IP:PORT or [IPV6]:PORT", l.bind),
        )
    })?;
    let destination = |required: bool| -> Result<Option<Address>, ConfigError> {
        match (&l.destination, required) {
            (Some(d), true) => d.parse().map(Some).map_err(|e| {
                ConfigError::invalid(format!("{key}.destination"), format!("{d:?}: {e}"))
            }),
            (None, true) => Err(ConfigError::invalid(
                format!("{key}.destination"),
                format!("required for mode {:?}", l.mode),
            )),
            (Some(_), false) => Err(ConfigError::invalid(
                format!("{key}.destination"),
                "only for modes \"tcp\" and \"udp\"",
            )),
            (None, false) => Ok(None),
        }
    };
    let mode = match l.mode.as_str() {
        "tcp" | "udp" => {
            let Some(destination) = destination(true)? else {
                return Err(ConfigError::invalid(
                    format!("{key}.destination"),
                    "required",
                ));
            };
            if l.mode == "tcp" {
                AccessMode::Tcp { destination }
            } else {
                AccessMode::Udp { destination }
            }
        }
        "socks5" => {
            destination(false)?;
            AccessMode::Socks5
        }
        "http" => {
            destination(false)?;
            AccessMode::HttpConnect
        }
        other => {
            return Err(ConfigError::invalid(
                format!("{key}.mode"),
                format!("{other:?} is not \"tcp\", \"udp\", \"socks5\" or \"http\""),
            ));
        }
    };
    let auth = match (l.username, l.password) {
        (None, None) => None,
        (Some(u), Some(p)) => {
            if !matches!(mode, AccessMode::Socks5 | AccessMode::HttpConnect) {
                return Err(ConfigError::invalid(
                    format!("{key}.username"),
                    "credentials are only for modes \"socks5\" and \"http\"",
                ));
            }
            let ok = |s: &str| (1..=255).contains(&s.len()) && !s.chars().any(char::is_control);
            if !ok(&u) || u.contains(':') {
                return Err(ConfigError::invalid(
                    format!("{key}.username"),
                    "1 to 255 bytes, no control characters and no `:`",
                ));
            }
            if !ok(&p) {
                return Err(ConfigError::invalid(
                    format!("{key}.password"),
                    "1 to 255 bytes, no control characters",
                ));
            }
            Some(UserPass {
                username: u,
                password: p,
            })
        }
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                format!("{key}.password"),
                "required with username",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{key}.username"),
                "required with password",
            ));
        }
    };
    Ok(AccessListener {
        name: l.name.unwrap_or(key),
        bind,
        mode,
        auth,
    })
}
