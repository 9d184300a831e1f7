//! The `ferry-agent` program: loads the credential and the CA, resolves the gateway, and runs
//! `ferry_tunnel::Agent` (reconnecting with back-off) until shutdown.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ferry_app_core::{AppError, ConfigError};
use ferry_tunnel::{AgentId, AgentStatus, Backoff, Credential};
use tokio::sync::watch;

use crate::config::{AgentConfig, AgentCredential};
use crate::gateway::load;

/// A loaded agent, ready to run.
#[derive(Debug)]
pub struct AgentApp {
    agent: ferry_tunnel::Agent,
}

impl AgentApp {
    /// Loads `config`: the secret (from the file as given, or from the environment through
    /// `env`; pass `|name| std::env::var(name).ok()`), the CA file, and resolves the gateway's
    /// address (once, now). Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`AppError::Config`] naming the key or file: unreadable or empty secret, a secret the
    /// tunnel cannot carry (not visible ASCII, over 8 KiB), an unusable CA file, an agent id
    /// the tunnel cannot carry, or a gateway name that does not resolve.
    pub async fn load(
        config: &AgentConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AppError> {
        let secret = config.credential.load(env)?;
        let key = match config.credential {
            AgentCredential::Env(_) => "token_env",
            _ => "token_file",
        };
        let credential = Credential::new(secret.as_deref().unwrap_or(""))
            .map_err(|e| ConfigError::invalid(key, e.to_string()))?;
        if secret.is_none() {
            tracing::warn!("insecure_no_auth: connecting without a credential");
        }
        let roots = load::roots("ca", &config.ca)?;
        let agent_id = AgentId::new(&config.agent_id)
            .map_err(|e| ConfigError::invalid("agent_id", e.to_string()))?;
        let gateway = resolve(&config.gateway.0, config.gateway.1).await?;
        let mut tunnel = ferry_tunnel::AgentConfig::new(
            gateway,
            config.server_name.clone(),
            Arc::new(roots),
            agent_id,
            credential,
            Arc::clone(&config.allow),
        );
        tunnel.dial_timeout = config.connect_timeout;
        tunnel.backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
        tunnel.quic = config.quic;
        let agent = ferry_tunnel::Agent::new(tunnel)
            .map_err(|e| ConfigError::invalid("ca", ferry_app_core::error::error_line(&e)))?;
        Ok(Self { agent })
    }

    /// The gateway address in use (resolved at load).
    #[must_use]
    pub fn gateway_addr(&self) -> SocketAddr {
        self.agent.config().gateway
    }

    /// The agent's status (connected, attempts, rejections, ...).
    #[must_use]
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.agent.status()
    }

    /// Binds a UDP socket of the gateway's address family on an ephemeral port, then
    /// connects and serves tunnels, reconnecting with back-off, until `shutdown` completes;
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
        let endpoint = ferry_tunnel::bind_endpoint(bind, &self.agent.config().quic, None)
            .map_err(|source| AppError::Bind { addr: bind, source })?;
        tracing::info!(gateway = %self.gateway_addr(), agent = %self.agent.config().agent_id, "agent starting");
        self.agent.run(endpoint, shutdown).await;
        tracing::info!("agent stopped");
        Ok(())
    }
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

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let unresolved = |why: String| ConfigError::invalid("gateway", format!("{host}:{port}: {why}"));
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolved(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| unresolved("no address".to_owned()))
}
