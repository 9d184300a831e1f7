//! `accept_proxy` of a listener: which peers may send a PROXY protocol header, in which
//! versions, within what deadline. The TOML model and its validation.

use std::net::IpAddr;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ipnet::IpNet;
use serde::Deserialize;

use super::file::de_some_duration;

/// Default deadline for a trusted peer's PROXY header: 5 s.
pub const DEFAULT_PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A listener that receives the PROXY protocol (`accept_proxy = { trusted = [...] }`): every
/// connection must come from a trusted network and start with a v1 or v2 header, whose source
/// address then stands for the client (logs, consistent hashing, limits, the header sent to
/// upstreams). Connections from anywhere else are closed before a byte is read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptProxy {
    /// Networks whose peers may send a header (`10.0.0.0/8`, `2001:db8::/32`, or a single
    /// address); at least one. IPv4-mapped IPv6 peers are matched as IPv4.
    pub trusted: Vec<IpNet>,
    /// Accept v1 (text) headers. Default true.
    pub v1: bool,
    /// Accept v2 (binary) headers. Default true.
    pub v2: bool,
    /// Deadline for the whole header. Default [`DEFAULT_PROXY_HEADER_TIMEOUT`] (5 s).
    pub timeout: Duration,
}

impl AcceptProxy {
    /// Whether `peer` is in a trusted network.
    #[must_use]
    pub fn trusts(&self, peer: IpAddr) -> bool {
        ferry_app_core::net::contains(&self.trusted, peer)
    }

    /// One line for `ferry-proxy check`.
    pub(crate) fn explain(&self) -> String {
        let nets: Vec<String> = self.trusted.iter().map(ToString::to_string).collect();
        let versions = match (self.v1, self.v2) {
            (true, true) => "v1,v2",
            (true, false) => "v1",
            _ => "v2",
        };
        format!(
            "PROXY header required from trusted=[{}] versions={} timeout={}; other peers are closed",
            nets.join(", "),
            versions,
            ferry_app_core::duration::format_duration(self.timeout)
        )
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum VersionFile {
    V1,
    V2,
}

/// `accept_proxy` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AcceptProxyFile {
    trusted: Vec<String>,
    versions: Option<Vec<VersionFile>>,
    #[serde(default, deserialize_with = "de_some_duration")]
    timeout: Option<Duration>,
}

impl AcceptProxyFile {
    /// Validates the table at `key` (`listener[0].accept_proxy`).
    pub(super) fn validate(self, key: &str) -> Result<AcceptProxy, ConfigError> {
        if self.trusted.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.trusted"),
                "at least one trusted network is required",
            ));
        }
        let trusted = self
            .trusted
            .iter()
            .enumerate()
            .map(|(i, t)| {
                ferry_app_core::net::parse_net(t)
                    .map_err(|reason| ConfigError::invalid(format!("{key}.trusted[{i}]"), reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (v1, v2) = match &self.versions {
            None => (true, true),
            Some(v) if v.is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{key}.versions"),
                    "at least one of \"v1\" and \"v2\" is required",
                ));
            }
            Some(v) => (v.contains(&VersionFile::V1), v.contains(&VersionFile::V2)),
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_PROXY_HEADER_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::invalid(
                format!("{key}.timeout"),
                "must be greater than zero",
            ));
        }
        Ok(AcceptProxy {
            trusted,
            v1,
            v2,
            timeout,
        })
    }
}
