//! The TOML model of `[pool.NAME]`, `[pool.NAME.health]` and `[pool.NAME.ejection]`, and its
//! validation into [`PoolConfig`]; errors name the key.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_front::proxy_protocol::Version;
use ferry_pool::{AllDown, Ejection, HealthCheck, MAX_WEIGHT, Policy, Target, Upstream};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::PoolConfig;
use super::file::de_some_duration;
use super::tls_file::UpstreamTlsFile;

/// `[pool.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolFile {
    upstreams: Vec<UpstreamEntry>,
    policy: Option<String>,
    #[serde(default, deserialize_with = "de_some_duration")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    connect_budget: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    dns_interval: Option<Duration>,
    all_down: Option<AllDownFile>,
    send_proxy: Option<SendProxyFile>,
    health: Option<HealthFile>,
    ejection: Option<EjectionFile>,
    tls: Option<UpstreamTlsFile>,
}

impl PoolFile {
    /// A pool of plain addresses with every default (the command-line flags).
    pub(super) fn from_addresses(upstreams: &[String]) -> Self {
        Self {
            upstreams: upstreams
                .iter()
                .map(|a| UpstreamEntry {
                    address: a.clone(),
                    weight: None,
                })
                .collect(),
            policy: None,
            connect_timeout: None,
            connect_budget: None,
            dns_interval: None,
            all_down: None,
            send_proxy: None,
            health: None,
            ejection: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AllDownFile {
    TryAll,
    Fail,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SendProxyFile {
    V1,
    V2,
}

/// `[pool.NAME.health]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthFile {
    #[serde(default, deserialize_with = "de_some_duration")]
    interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    timeout: Option<Duration>,
    rise: Option<u32>,
    fall: Option<u32>,
    send: Option<String>,
    expect: Option<String>,
}

/// `[pool.NAME.ejection]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EjectionFile {
    enabled: Option<bool>,
    consecutive_failures: Option<u32>,
    #[serde(default, deserialize_with = "de_some_duration")]
    base_time: Option<Duration>,
    #[serde(default, deserialize_with = "de_some_duration")]
    max_time: Option<Duration>,
}

/// One entry of `upstreams`: `"HOST:PORT"` or `{ address = "HOST:PORT", weight = N }`.
#[derive(Debug)]
struct UpstreamEntry {
    address: String,
    weight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamTable {
    address: String,
    weight: Option<u32>,
}

impl<'de> Deserialize<'de> for UpstreamEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = UpstreamEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"HOST:PORT\" or { address = \"HOST:PORT\", weight = N }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(UpstreamEntry {
                    address: v.to_owned(),
                    weight: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let t = UpstreamTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(UpstreamEntry {
                    address: t.address,
                    weight: t.weight,
                })
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

fn positive(n: Option<u32>, default: NonZeroU32, key: &str) -> Result<NonZeroU32, ConfigError> {
    match n {
        None => Ok(default),
        Some(n) => {
            NonZeroU32::new(n).ok_or_else(|| ConfigError::invalid(key, "must be at least 1"))
        }
    }
}

fn nonzero(d: Option<Duration>, default: Duration, key: &str) -> Result<Duration, ConfigError> {
    let d = d.unwrap_or(default);
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be greater than zero"));
    }
    Ok(d)
}

/// Parses `round_robin`, `weighted`, `least_connections` or `consistent_hash` (the `-`
/// spellings of `ferry-pool` are accepted too).
fn policy(text: &str, key: &str) -> Result<Policy, ConfigError> {
    text.replace('_', "-").parse().map_err(|_unknown| {
        ConfigError::invalid(
            key,
            format!(
                "{:?} is not a policy (expected round_robin, weighted, least_connections or consistent_hash)",
                text.chars().take(64).collect::<String>()
            ),
        )
    })
}

fn upstream(entry: &UpstreamEntry, key: &str) -> Result<Upstream, ConfigError> {
    let target =
        Target::parse(&entry.address).map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    let weight = positive(entry.weight, NonZeroU32::MIN, &format!("{key}.weight"))?;
    if weight.get() > MAX_WEIGHT {
        return Err(ConfigError::invalid(
            format!("{key}.weight"),
            format!("must be at most {MAX_WEIGHT}"),
        ));
    }
    Ok(Upstream::new(target).with_weight(weight))
}

fn health(h: HealthFile, key: &str) -> Result<HealthCheck, ConfigError> {
    let d = HealthCheck::default();
    let mut check = HealthCheck::default();
    check.interval = nonzero(h.interval, d.interval, &format!("{key}.interval"))?;
    check.timeout = nonzero(h.timeout, d.timeout, &format!("{key}.timeout"))?;
    check.rise = positive(h.rise, d.rise, &format!("{key}.rise"))?;
    check.fall = positive(h.fall, d.fall, &format!("{key}.fall"))?;
    check.send = h.send.map(String::into_bytes);
    check.expect = h.expect.map(String::into_bytes);
    Ok(check)
}

fn ejection(e: EjectionFile, key: &str) -> Result<Option<Ejection>, ConfigError> {
    if e.enabled == Some(false) {
        return Ok(None);
    }
    let d = Ejection::default();
    let mut out = Ejection::default();
    out.consecutive_failures = positive(
        e.consecutive_failures,
        d.consecutive_failures,
        &format!("{key}.consecutive_failures"),
    )?;
    out.base_time = nonzero(e.base_time, d.base_time, &format!("{key}.base_time"))?;
    out.max_time = nonzero(e.max_time, d.max_time, &format!("{key}.max_time"))?;
    Ok(Some(out))
}

/// Validates `[pool.NAME]`.
pub(super) fn validate(name: &str, p: PoolFile) -> Result<PoolConfig, ConfigError> {
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
        .map(|(i, u)| upstream(u, &format!("{key}.upstreams[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let d = ferry_pool::PoolConfig::default();
    let mut settings = ferry_pool::PoolConfig::default();
    if let Some(text) = &p.policy {
        settings.policy = policy(text, &format!("{key}.policy"))?;
    }
    settings.connect_timeout = nonzero(
        p.connect_timeout,
        d.connect_timeout,
        &format!("{key}.connect_timeout"),
    )?;
    settings.connect_budget = nonzero(
        p.connect_budget,
        d.connect_budget,
        &format!("{key}.connect_budget"),
    )?;
    settings.dns_interval = nonzero(
        p.dns_interval,
        d.dns_interval,
        &format!("{key}.dns_interval"),
    )?;
    settings.all_down = match p.all_down {
        Some(AllDownFile::Fail) => AllDown::Fail,
        Some(AllDownFile::TryAll) | None => AllDown::TryAll,
    };
    settings.health_check = p
        .health
        .map(|h| health(h, &format!("{key}.health")))
        .transpose()?;
    if let Some(e) = p.ejection {
        settings.ejection = ejection(e, &format!("{key}.ejection"))?;
    }
    // Every remaining range check (probe sizes, max_time >= base_time), named by its key.
    settings.validate().map_err(|e| {
        ConfigError::invalid(
            format!("{key}.{}", e.field.replace("health_check", "health")),
            e.reason,
        )
    })?;
    let tls = p
        .tls
        .map(|t| t.validate(&format!("{key}.tls")))
        .transpose()?;
    Ok(PoolConfig {
        name: name.to_owned(),
        upstreams,
        settings,
        send_proxy: p.send_proxy.map(|v| match v {
            SendProxyFile::V1 => Version::V1,
            SendProxyFile::V2 => Version::V2,
        }),
        tls,
    })
}
