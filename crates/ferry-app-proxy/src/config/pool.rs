//! The validated upstream pool ([`PoolConfig`]): upstreams with weights, the `ferry-pool`
//! settings (policy, timeouts, health checks, ejection, DNS), PROXY protocol and TLS.

use ferry_app_core::duration::format_duration;
use ferry_front::proxy_protocol::Version;
use ferry_pool::{AllDown, Upstream};

use super::UpstreamTls;

/// A validated upstream pool (`[pool.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Name of the pool (the key under `[pool.NAME]`).
    pub name: String,
    /// Upstreams with their weights (default weight 1); at least one.
    pub upstreams: Vec<Upstream>,
    /// Balancing, connect timeout and budget, health checks, passive ejection, DNS interval
    /// and all-down behaviour, with the defaults of [`ferry_pool::PoolConfig::default`].
    pub settings: ferry_pool::PoolConfig,
    /// PROXY protocol header written to every upstream connection before any client byte
    /// (and before upstream TLS). Default `None`: no header.
    pub send_proxy: Option<Version>,
    /// TLS to the upstreams (re-encryption). Default `None`: plain TCP.
    pub tls: Option<UpstreamTls>,
}

impl PoolConfig {
    /// The `ferry-pool` settings actually used: with `send_proxy`, health probes start with a
    /// PROXY `LOCAL` header so upstreams that require the header accept them.
    pub(crate) fn effective_settings(&self) -> ferry_pool::PoolConfig {
        let mut settings = self.settings.clone();
        if let (Some(version), Some(check)) = (self.send_proxy, settings.health_check.as_mut()) {
            let mut send = ferry_app_core::proxy_protocol::local_header(version);
            send.extend_from_slice(check.send.as_deref().unwrap_or_default());
            check.send = Some(send);
        }
        settings
    }

    /// One or two lines for `ferry-proxy check`.
    pub(crate) fn explain(&self) -> String {
        let s = &self.settings;
        let ups: Vec<String> = self
            .upstreams
            .iter()
            .map(|u| {
                if u.weight.get() == 1 {
                    u.target.to_string()
                } else {
                    format!("{} (weight {})", u.target, u.weight)
                }
            })
            .collect();
        let ejection = s.ejection.as_ref().map_or_else(
            || "off".to_owned(),
            |e| {
                format!(
                    "after {} failures for {} doubling up to {}",
                    e.consecutive_failures,
                    format_duration(e.base_time),
                    format_duration(e.max_time)
                )
            },
        );
        let all_down = match s.all_down {
            AllDown::Fail => "fail",
            _ => "try_all",
        };
        let mut out = format!(
            "pool {}: policy={} upstreams=[{}] connect_timeout={} connect_budget={} dns_interval={} ejection={} all_down={} send_proxy={}\n",
            self.name,
            s.policy.to_string().replace('-', "_"),
            ups.join(", "),
            format_duration(s.connect_timeout),
            format_duration(s.connect_budget),
            format_duration(s.dns_interval),
            ejection,
            all_down,
            match self.send_proxy {
                Some(Version::V1) => "v1",
                Some(_) => "v2",
                None => "off",
            },
        );
        match &s.health_check {
            None => out.push_str(&format!(
                "pool {} health: off (no active checks)\n",
                self.name
            )),
            Some(h) => out.push_str(&format!(
                "pool {} health: every {} timeout {} rise={} fall={} send={} expect={}\n",
                self.name,
                format_duration(h.interval),
                format_duration(h.timeout),
                h.rise,
                h.fall,
                h.send.as_ref().map_or_else(|| "-".to_owned(), |b| shown(b)),
                h.expect
                    .as_ref()
                    .map_or_else(|| "- (connect only)".to_owned(), |b| shown(b)),
            )),
        }
        out
    }
}

/// Probe bytes as a quoted, escaped string.
fn shown(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
