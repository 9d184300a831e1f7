//! Reloading a running agent ([`AgentReloader`]): the whole config file, or (with flags only)
//! the files the flags name. The binary calls it on SIGHUP.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use ferry_app_core::ConfigError;
use ferry_app_core::reload::{ReloadError, Reloaded, finish};

use super::egress;
use super::load::tunnel_config;
use crate::config::AgentConfig;

/// The program name reloads are logged and counted under.
const PROGRAM: &str = "ferry-agent";

/// An environment lookup (`|name| std::env::var(name).ok()` in the program).
pub(crate) type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reloads a running agent; get one from [`AgentApp::reloader`](super::AgentApp::reloader).
///
/// A reload reads and validates everything first (the file, the token file or variable, the
/// CA file, the allowlist) and changes nothing when any of it is wrong. Then it applies,
/// without touching the live connection to the gateway or its open tunnels:
///
/// | keys | from |
/// |---|---|
/// | `allow`, `allow_special_addresses`, `connect_timeout`, `udp_idle_timeout` | the next tunnel |
/// | `ca`, `cert` / `key` (read again), `token_file` / `token_env` / `insecure_no_auth`, `keep_alive`, `idle_timeout`, `stream_receive_window`, `receive_window`, `tcp_port`, `fallback_after`, `quic_retry`, `proxy`, `no_proxy` (and the proxy variables, read again) | the next connection to the gateway |
/// | `reconnect_min`, `reconnect_max` | the next reconnect delay |
/// | `connections` | at once when raised (the new connections start); when lowered, the connections above the new count stay until they end |
///
/// `gateway`, `server_name`, `agent_id` and `transport` cannot change while the agent runs
/// (its identity, where and how it connects): a file that changes them is refused
/// ([`ReloadError::NeedsRestart`]). Likewise a `proxy` / `no_proxy` change that would move
/// an agent between the TCP transport through a proxy and QUIC (`transport = "auto"`), or
/// connect directly to a gateway whose name was left to the proxy at start (never
/// resolved). A changed `metrics` address keeps the running endpoint and is reported in
/// [`Reloaded::needs_restart`].
///
/// Every reload is logged and counted in `ferry_config_reloads_total{result}`
/// ([`finish`]). Reloads are serialised. Cheap to clone.
#[derive(Clone)]
pub struct AgentReloader {
    pub(crate) agent: Arc<ferry_tunnel::Agent>,
    /// The config in force (with `--metrics` already applied).
    pub(crate) running: Arc<Mutex<AgentConfig>>,
    /// The gateway's address, resolved at start.
    pub(crate) gateway: SocketAddr,
    pub(crate) env: Env,
    pub(crate) metrics_flag: Option<SocketAddr>,
}

impl fmt::Debug for AgentReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentReloader")
            .field("gateway", &self.gateway)
            .field("metrics_flag", &self.metrics_flag)
            .finish_non_exhaustive()
    }
}

impl AgentReloader {
    /// The `--metrics` flag's address, which wins over the file's `metrics` at every reload
    /// as it did at start. Default: none (the file decides).
    #[must_use]
    pub fn with_metrics_flag(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics_flag = addr;
        self
    }

    /// Reads, validates and applies the config file at `path` (see [`AgentReloader`]).
    /// Blocking: it reads files (call it from a blocking thread in async code).
    ///
    /// # Errors
    ///
    /// [`ReloadError::Config`] naming the key or file at fault, or
    /// [`ReloadError::NeedsRestart`]; the running settings are then unchanged.
    pub fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let result = AgentConfig::from_file(path)
            .map_err(ReloadError::from)
            .and_then(|config| self.apply(config));
        finish(PROGRAM, result)
    }

    /// Re-reads the files the running config names (the token file and the CA file; the
    /// token variable too) and applies them: the reload of an agent started with flags only.
    /// Blocking, like [`reload_file`](Self::reload_file).
    ///
    /// # Errors
    ///
    /// [`ReloadError::Config`] naming the key or file; the running settings are then
    /// unchanged.
    pub fn reload_files(&self) -> Result<Reloaded, ReloadError> {
        let running = self.running().clone();
        finish(PROGRAM, self.apply(running))
    }

    /// Validates and applies an already parsed config; like
    /// [`reload_file`](Self::reload_file) without reading the config file.
    ///
    /// # Errors
    ///
    /// As for [`reload_file`](Self::reload_file).
    pub fn reload_config(&self, config: AgentConfig) -> Result<Reloaded, ReloadError> {
        finish(PROGRAM, self.apply(config))
    }

    fn running(&self) -> std::sync::MutexGuard<'_, AgentConfig> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn apply(&self, mut config: AgentConfig) -> Result<Reloaded, ReloadError> {
        if self.metrics_flag.is_some() {
            config.metrics = self.metrics_flag;
        }
        // Serialised: the lock is held from the comparison to the swap.
        let mut running = self.running();
        let report = plan(&running, &config)?;
        let route = egress::route(&config, &*self.env)?;
        let tunnel = tunnel_config(&config, self.gateway, &route, &*self.env)?;
        let before = self.agent.config().transport;
        if tunnel.transport != before {
            // The transport is fixed at start (`tcp` runs without a UDP socket).
            return Err(ReloadError::NeedsRestart {
                key: "proxy".to_owned(),
                reason: format!(
                    "would move the gateway connection from transport {before} to {} ({})",
                    tunnel.transport,
                    route.describe()
                ),
            });
        }
        if route.proxy().is_none() && self.gateway.ip().is_unspecified() {
            return Err(ReloadError::NeedsRestart {
                key: "proxy".to_owned(),
                reason: format!(
                    "would connect directly to the gateway {}, whose name was left to the egress proxy at start and never resolved",
                    route.target
                ),
            });
        }
        self.agent.update(tunnel).map_err(|e| {
            ReloadError::from(ConfigError::invalid(
                "idle_timeout",
                ferry_app_core::error::error_line(&e),
            ))
        })?;
        if config.proxy != running.proxy || config.no_proxy != running.no_proxy {
            tracing::info!(route = %route.describe(), "egress proxy for the next connection");
        }
        if matches!(config.credential, crate::config::AgentCredential::None) {
            tracing::warn!("insecure_no_auth: the next connection goes without a credential");
        }
        let kept_metrics = running.metrics;
        *running = config;
        running.metrics = kept_metrics;
        Ok(report)
    }
}

/// What a reload from `running` to `new` does, before anything is read: refuses a change of
/// identity or gateway, reports a changed metrics address as kept.
fn plan(running: &AgentConfig, new: &AgentConfig) -> Result<Reloaded, ReloadError> {
    if new.agent_id != running.agent_id {
        return Err(ReloadError::changed(
            "agent_id",
            &running.agent_id,
            &new.agent_id,
        ));
    }
    if new.gateway != running.gateway {
        return Err(ReloadError::changed(
            "gateway",
            running.gateway_text(),
            new.gateway_text(),
        ));
    }
    if new.server_name != running.server_name {
        return Err(ReloadError::changed(
            "server_name",
            &running.server_name,
            &new.server_name,
        ));
    }
    if new.transport != running.transport {
        // `tcp` runs without a UDP socket, so the transport is fixed at start.
        return Err(ReloadError::changed(
            "transport",
            running.transport,
            new.transport,
        ));
    }
    let mut report = Reloaded::new([
        "allow (next tunnel)",
        "connect_timeout (next tunnel)",
        "udp_idle_timeout (next UDP tunnel)",
        "ca and credential, re-read (next connect)",
        "keep_alive, idle_timeout and receive windows (next connect)",
        "tcp_port, fallback_after and quic_retry (next connect)",
        "proxy and no_proxy (next connect)",
        "reconnect_min and reconnect_max (next delay)",
        "connections (raised: at once; lowered: as connections end)",
    ]);
    if new.metrics != running.metrics {
        let show = |m: Option<SocketAddr>| m.map_or_else(|| "off".to_owned(), |a| a.to_string());
        report.kept("metrics", show(running.metrics), show(new.metrics));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(extra: &str) -> AgentConfig {
        AgentConfig::from_toml(&format!(
            "gateway = \"gw.example.com:4433\"\nca = \"ca.pem\"\nagent_id = \"edge-1\"\n\
             token_env = \"T\"\nallow = [\"127.0.0.1\"]\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn identity_and_gateway_changes_are_refused_naming_the_key() {
        let running = config("");
        for (extra, key) in [
            ("", None),
            ("server_name = \"other.example.com\"", Some("server_name")),
            ("transport = \"tcp\"", Some("transport")),
            ("transport = \"auto\"", None),
            (
                "tcp_port = 443\nfallback_after = \"1s\"\nquic_retry = \"1m\"",
                None,
            ),
        ] {
            let r = plan(&running, &config(extra));
            match key {
                None => assert!(r.is_ok()),
                Some(key) => assert!(
                    matches!(&r, Err(ReloadError::NeedsRestart { key: k, .. }) if k == key),
                    "{r:?}"
                ),
            }
        }
        let mut moved = config("");
        moved.gateway.1 = 4434;
        let e = plan(&running, &moved).unwrap_err();
        assert!(
            e.to_string()
                .contains("`gateway` changed from gw.example.com:4433 to gw.example.com:4434"),
            "{e}"
        );
        let mut other = config("");
        other.agent_id = "edge-2".to_owned();
        let e = plan(&running, &other).unwrap_err();
        assert!(e.to_string().starts_with("`agent_id` changed"), "{e}");
    }

    #[test]
    fn a_new_metrics_address_is_kept_and_reported() {
        let running = config("");
        let r = plan(&running, &config("metrics = \"127.0.0.1:9\"")).unwrap();
        assert_eq!(
            r.needs_restart,
            vec!["metrics: 127.0.0.1:9 in the file, off kept (restart to apply it)".to_owned()]
        );
        assert!(r.applied.iter().any(|a| a.starts_with("allow")));
        // New allowlist and timeouts alone: nothing kept.
        let r = plan(
            &running,
            &config("connect_timeout = \"1s\"\nreconnect_min = \"2s\""),
        )
        .unwrap();
        assert!(r.needs_restart.is_empty());
    }
}
