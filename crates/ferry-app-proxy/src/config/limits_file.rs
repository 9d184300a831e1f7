//! The TOML model of `[listener.limits]`, `[listener.access]` and `[listener.dump]`
//! (`deny_unknown_fields`) and their validation; every error names its key.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use ferry_app_core::ConfigError;
use ferry_bridge::Throttle;
use ferry_limit::{Quota, V6Prefix};
use serde::Deserialize;

use super::access::{AccessRules, TimeWindow};
use super::dump::{DEFAULT_DUMP_MAX_BYTES, DEFAULT_DUMP_QUEUE, DumpConfig};
use super::limits::{DataRate, LimitAction, ListenerLimits, Reply};

/// `action = "close" | "reset" | "reply"`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum ActionName {
    Close,
    Reset,
    Reply,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    connection_rate: Option<String>,
    connection_burst: Option<u32>,
    per_client_connections: Option<u32>,
    max_connections: Option<usize>,
    data_rate: Option<u64>,
    data_burst: Option<u64>,
    request_rate: Option<String>,
    request_burst: Option<u32>,
    action: Option<ActionName>,
    reply: Option<String>,
    v6_prefix: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessFile {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    windows: Vec<String>,
    action: Option<ActionName>,
    reply: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DumpFile {
    dir: PathBuf,
    hex_trace: Option<bool>,
    max_bytes: Option<u64>,
    queue: Option<usize>,
}

/// `action` and `reply` of the table at `key`: a reply alone means `action = "reply"`.
fn action(
    name: Option<ActionName>,
    reply: Option<String>,
    key: &str,
) -> Result<LimitAction, ConfigError> {
    match (name, reply) {
        (None | Some(ActionName::Close), None) => Ok(LimitAction::Close),
        (Some(ActionName::Reset), None) => Ok(LimitAction::Reset),
        (None | Some(ActionName::Reply), Some(text)) => Ok(LimitAction::Reply(Reply::new(&text))),
        (Some(ActionName::Reply), None) => Err(ConfigError::invalid(
            format!("{key}.reply"),
            "required when action = \"reply\"",
        )),
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            format!("{key}.reply"),
            "only used with action = \"reply\"",
        )),
    }
}

/// Parses `N/s`, `N/m` or `N/h` (also `second`, `minute`, `hour`) with an optional burst
/// (default N).
fn rate(text: &str, burst: Option<u32>, key: &str) -> Result<Quota, ConfigError> {
    let bad = |reason: String| ConfigError::invalid(key, reason);
    let (n, per) = text
        .split_once('/')
        .ok_or_else(|| bad(format!("{text:?} is not N/s, N/m or N/h")))?;
    let n = n
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| bad(format!("{text:?}: the count must be a whole number from 1")))?;
    let quota = match per.trim() {
        "s" | "sec" | "second" => Quota::per_second(n),
        "m" | "min" | "minute" => Quota::per_minute(n),
        "h" | "hour" => Quota::per_hour(n),
        other => return Err(bad(format!("{other:?} is not a period (s, m or h)"))),
    }
    .map_err(|e| bad(e.to_string()))?;
    match burst {
        None => Ok(quota),
        Some(b) => {
            let burst_key = key.replace("_rate", "_burst");
            let b = NonZeroU32::new(b)
                .ok_or_else(|| ConfigError::invalid(&burst_key, "must be at least 1"))?;
            quota
                .with_burst(b)
                .map_err(|e| ConfigError::invalid(burst_key, e.to_string()))
        }
    }
}

fn nonzero<T: TryInto<N> + Copy, N>(v: Option<T>, key: &str) -> Result<Option<N>, ConfigError> {
    v.map(|v| {
        v.try_into()
            .map_err(|_zero| ConfigError::invalid(key, "must be at least 1"))
    })
    .transpose()
}

impl LimitsFile {
    /// Validates the `[listener.limits]` table at `key`.
    pub(super) fn validate(self, key: &str) -> Result<ListenerLimits, ConfigError> {
        let k = |name: &str| format!("{key}.{name}");
        if self.connection_burst.is_some() && self.connection_rate.is_none() {
            return Err(ConfigError::invalid(
                k("connection_burst"),
                "needs connection_rate",
            ));
        }
        if self.request_burst.is_some() && self.request_rate.is_none() {
            return Err(ConfigError::invalid(
                k("request_burst"),
                "needs request_rate",
            ));
        }
        if self.data_burst.is_some() && self.data_rate.is_none() {
            return Err(ConfigError::invalid(k("data_burst"), "needs data_rate"));
        }
        let connection_rate = self
            .connection_rate
            .as_deref()
            .map(|t| rate(t, self.connection_burst, &k("connection_rate")))
            .transpose()?;
        let request_rate = self
            .request_rate
            .as_deref()
            .map(|t| rate(t, self.request_burst, &k("request_rate")))
            .transpose()?;
        let data_rate = match nonzero::<u64, NonZeroU64>(self.data_rate, &k("data_rate"))? {
            None => None,
            Some(r) => {
                let burst = nonzero::<u64, NonZeroU64>(self.data_burst, &k("data_burst"))?;
                Some(DataRate {
                    throttle: Throttle::new(r, burst.unwrap_or(r)),
                })
            }
        };
        let v6_prefix = match self.v6_prefix {
            None => V6Prefix::DEFAULT,
            Some(bits) => V6Prefix::new(bits)
                .map_err(|e| ConfigError::invalid(k("v6_prefix"), e.to_string()))?,
        };
        Ok(ListenerLimits {
            connection_rate,
            per_client_connections: nonzero(
                self.per_client_connections,
                &k("per_client_connections"),
            )?,
            max_connections: nonzero::<usize, NonZeroUsize>(
                self.max_connections,
                &k("max_connections"),
            )?,
            data_rate,
            request_rate,
            action: action(self.action, self.reply, key)?,
            v6_prefix,
        })
    }
}

impl AccessFile {
    /// Validates the `[listener.access]` table at `key`.
    pub(super) fn validate(self, key: &str) -> Result<AccessRules, ConfigError> {
        let nets = |list: &[String], name: &str| {
            list.iter()
                .enumerate()
                .map(|(i, t)| {
                    ferry_app_core::net::parse_net(t)
                        .map_err(|r| ConfigError::invalid(format!("{key}.{name}[{i}]"), r))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let windows = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, t)| {
                TimeWindow::parse(t)
                    .map_err(|r| ConfigError::invalid(format!("{key}.windows[{i}]"), r))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessRules {
            allow: nets(&self.allow, "allow")?,
            deny: nets(&self.deny, "deny")?,
            windows,
            action: action(self.action, self.reply, key)?,
        })
    }
}

impl DumpFile {
    /// Validates the `[listener.dump]` table at `key`. The directory is not checked here
    /// (validation reads no file); the proxy checks it when it is built.
    pub(super) fn validate(self, key: &str) -> Result<DumpConfig, ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.dir"),
                "must not be empty",
            ));
        }
        Ok(DumpConfig {
            dir: self.dir,
            hex_trace: self.hex_trace.unwrap_or(false),
            max_bytes: nonzero(self.max_bytes, &format!("{key}.max_bytes"))?
                .unwrap_or(DEFAULT_DUMP_MAX_BYTES),
            queue: nonzero(self.queue, &format!("{key}.queue"))?.unwrap_or(DEFAULT_DUMP_QUEUE),
        })
    }
}
