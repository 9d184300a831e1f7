//! The `ferry-agent` program: loads the credential and the CA, resolves the gateway, and runs
//! `ferry_tunnel::Agent` (reconnecting with back-off) until shutdown; reloads its settings
//! while it runs ([`AgentReloader`]); checks a config file ([`check()`]); describes its
//! metrics ([`describe_metrics`]).
//!
//! # Metrics
//!
//! Recorded by `ferry-tunnel`'s agent half (see `ferry_tunnel::metrics`), shown on the
//! program's `/metrics`:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_agent_connected` | gauge (0/1) | |
//! | `ferry_agent_connects_total` | counter | `kind` (`initial`, `reconnect`), `result` (`ok`, `rejected`, `failed`), `transport` (`quic`, `tcp`) |
//! | `ferry_agent_transport` | gauge (0/1) | `transport` (`quic`, `tcp`): the live connection's |
//! | `ferry_agent_transport_fallbacks_total` | counter | |
//! | `ferry_agent_quic_probes_total` | counter | `result` (`ok`, `failed`) |
//! | `ferry_agent_disconnects_total` | counter | `reason` (`lost`, `replaced`) |
//! | `ferry_agent_tunnels_total` | counter | `status` (`ok`, `denied`, `refused`, `unreachable`, `timeout`, `dns_failure`, `failure`, `unavailable`, `malformed`, `unsupported_version`) |
//! | `ferry_agent_active_tunnels` | gauge | |
//! | `ferry_agent_bytes_total` | counter | `direction` (`gateway_to_destination`, `destination_to_gateway`) |
//! | `ferry_config_reloads_total` | counter | `result` (`ok`, `error`) |
//! | `ferry_build_info` | gauge | `program`, `version` |

mod check;
mod egress;
mod load;
mod reload;

pub use check::{CHECK_RESOLVE_TIMEOUT, check};
pub use reload::AgentReloader;

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use ferry_app_core::{AppError, ConfigError};
use ferry_tunnel::AgentStatus;
use tokio::sync::watch;

use crate::config::AgentConfig;

/// A loaded agent, ready to run.
#[derive(Debug)]
pub struct AgentApp {
    agent: Arc<ferry_tunnel::Agent>,
    running: Arc<Mutex<AgentConfig>>,
}

impl AgentApp {
    /// Loads `config`: the secret (from the file as given, or from the environment through
    /// `env`; pass `|name| std::env::var(name).ok()`), the CA file, the egress proxy (`proxy`
    /// and `no_proxy`, else `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`,
    /// `no_proxy`, `NO_PROXY` through `env`), and resolves the gateway's address (once, now)
    /// unless a proxy reaches it: then the name is left to the proxy and
    /// [`gateway_addr`](Self::gateway_addr) is `0.0.0.0:PORT` (or the gateway's IP address
    /// when it is given as one). Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`AppError::Config`] naming the key or file: unreadable or empty secret, a secret the
    /// tunnel cannot carry (not visible ASCII, over 8 KiB), an unusable CA file, an agent id
    /// the tunnel cannot carry, a gateway name that does not resolve (without a proxy), a
    /// proxy variable that is not a proxy URL (`proxy`, `no_proxy`), or `transport = "quic"`
    /// with a proxy for the gateway (`transport`).
    pub async fn load(
        config: &AgentConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AppError> {
        let route = egress::route(config, &env)?;
        let gateway = match load::proxied_address(config, &route) {
            Some(addr) => addr,
            None => load::resolve(&config.gateway.0, config.gateway.1).await?,
        };
        let tunnel = load::tunnel_config(config, gateway, &route, &env)?;
        if let Some(proxy) = route.proxy() {
            tracing::info!(
                proxy = %proxy,
                source = %route.policy.proxy_source(),
                gateway = %route.target,
                transport = %config.transport,
                "the gateway is reached through an egress proxy: tcp transport, quic not tried (it cannot cross an http or socks proxy)"
            );
        } else if route.policy.proxy().is_some() {
            tracing::info!(route = %route.describe(), "egress proxy not used for the gateway");
        }
        if matches!(config.credential, crate::config::AgentCredential::None) {
            tracing::warn!("insecure_no_auth: connecting without a credential");
        }
        let agent = ferry_tunnel::Agent::new(tunnel)
            .map_err(|e| ConfigError::invalid("ca", ferry_app_core::error::error_line(&e)))?;
        Ok(Self {
            agent: Arc::new(agent),
            running: Arc::new(Mutex::new(config.clone())),
        })
    }

    /// The gateway address in use (resolved at load; `0.0.0.0:PORT` when an egress proxy
    /// reaches a gateway given by name, which is then never resolved here).
    #[must_use]
    pub fn gateway_addr(&self) -> SocketAddr {
        self.agent.config().gateway
    }

    /// The agent's status (connected, attempts, rejections, updates, ...).
    #[must_use]
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.agent.status()
    }

    /// A reloader for this agent (see [`AgentReloader`]); it reads the secret through `env`
    /// (pass `|name| std::env::var(name).ok()`).
    #[must_use]
    pub fn reloader(
        &self,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> AgentReloader {
        AgentReloader {
            agent: Arc::clone(&self.agent),
            running: Arc::clone(&self.running),
            gateway: self.gateway_addr(),
            env: Arc::new(env),
            metrics_flag: None,
        }
    }

    /// Binds a UDP socket of the gateway's address family on an ephemeral port (none with
    /// `transport = "tcp"`), then connects and serves tunnels, reconnecting with back-off, until `shutdown` completes;
    /// then drains (open tunnels get 30 s).
    ///
    /// # Errors
    ///
    /// [`AppError::Bind`] when the UDP socket cannot be bound.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        let bind = match self.gateway_addr() {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let config = self.agent.config();
        tracing::info!(gateway = %config.gateway, server_name = %config.server_name, agent = %config.agent_id, transport = %config.transport, "agent starting");
        if config.transport == ferry_tunnel::Transport::Tcp {
            // No UDP socket at all when QUIC is off.
            drop(config);
            self.agent.run_tcp(shutdown).await;
        } else {
            let endpoint = ferry_tunnel::bind_endpoint(bind, &config.quic, None)
                .map_err(|source| AppError::Bind { addr: bind, source })?;
            drop(config);
            self.agent.run(endpoint, shutdown).await;
        }
        tracing::info!("agent stopped");
        Ok(())
    }
}

/// Gives the agent's metrics their HELP text (`ferry_agent_*`; the table in the module docs).
/// Call it after the admin endpoint started (which installs the recorder and describes
/// `ferry_build_info` and `ferry_config_reloads_total`).
pub fn describe_metrics() {
    ferry_tunnel::metrics::describe_agent_metrics();
}

/// Loads `config` (secret from the process environment) and runs until `shutdown`.
///
/// # Errors
///
/// As for [`AgentApp::load`] and [`AgentApp::run`].
pub async fn run(config: &AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    AgentApp::load(config, |name| std::env::var(name).ok())
        .await?
        .run(shutdown)
        .await
}
