//! Loading what an agent config names: the secret, the CA file, the gateway's address; and
//! building the tunnel's settings from them. Shared by start, reload and `check`.

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_app_core::ConfigError;
use ferry_tunnel::{AgentId, Backoff, Credential};

use super::egress::{EgressDialer, Route};
use crate::config::{AgentConfig, AgentCredential};
use crate::gateway::load;

/// The tunnel's settings for `config`, connecting to `gateway` along `route`: reads the
/// secret (from the file, or through `env`) and the CA file. When `route` gives a proxy for
/// the gateway, the TCP transport is used (QUIC is not tried) and dials through it.
///
/// # Errors
///
/// [`ConfigError`] naming the key or file: unreadable or empty secret, a secret the tunnel
/// cannot carry, an unusable CA file, an agent id the tunnel cannot carry.
pub(crate) fn tunnel_config(
    config: &AgentConfig,
    gateway: SocketAddr,
    route: &Route,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ferry_tunnel::AgentConfig, ConfigError> {
    let secret = config.credential.load(env)?;
    let key = match config.credential {
        AgentCredential::Env(_) => "token_env",
        _ => "token_file",
    };
    let credential = Credential::new(secret.as_deref().unwrap_or(""))
        .map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    let roots = load::roots("ca", &config.ca)?;
    let agent_id = AgentId::new(&config.agent_id)
        .map_err(|e| ConfigError::invalid("agent_id", e.to_string()))?;
    let mut tunnel = ferry_tunnel::AgentConfig::new(
        gateway,
        config.server_name.clone(),
        Arc::new(roots),
        agent_id,
        credential,
        Arc::clone(&config.allow),
    );
    tunnel.roots_source = Some(format!("{} (ca / --tls-ca)", config.ca.display()));
    if let Some(files) = &config.client_cert {
        let source = ferry_tls::CertSource::files(files.cert.clone(), files.key.clone());
        tunnel.client_cert =
            Some(source.certified_key().map_err(|e| {
                ConfigError::invalid("cert", ferry_app_core::error::error_line(&e))
            })?);
    }
    tunnel.dial_timeout = config.connect_timeout;
    tunnel.backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    tunnel.quic = config.quic;
    tunnel.udp_idle_timeout = config.udp_idle_timeout;
    tunnel.transport = config.transport;
    tunnel.gateway_tcp = config
        .tcp_port
        .map(|port| SocketAddr::new(gateway.ip(), port));
    tunnel.fallback_after = config.fallback_after;
    tunnel.quic_retry = config.quic_retry;
    tunnel.key_exchange = config.key_exchange;
    tunnel.connections = config.connections;
    if let Some(proxy) = route.proxy() {
        tunnel.transport = ferry_tunnel::Transport::Tcp;
        tunnel.tcp_dialer = Arc::new(EgressDialer::new(proxy.clone(), route.target.clone()));
    }
    Ok(tunnel)
}

/// The gateway's address when `route` takes it through a proxy: its IP address when
/// `gateway` is one, else `0.0.0.0:PORT` (unresolved: the proxy, or `ferry-egress` for
/// `socks5://`, resolves the name at each connection). `None` when the gateway is reached
/// directly and must be resolved here.
pub(crate) fn proxied_address(config: &AgentConfig, route: &Route) -> Option<SocketAddr> {
    route.proxy()?;
    let port = config.gateway.1;
    Some(match config.gateway.0.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_name) => SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
    })
}

/// The first address `host:port` resolves to.
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming `gateway` when the name does not resolve.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let unresolved = |why: String| ConfigError::invalid("gateway", format!("{host}:{port}: {why}"));
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolved(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| unresolved("no address".to_owned()))
}
