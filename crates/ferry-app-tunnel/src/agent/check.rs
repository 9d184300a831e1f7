//! `ferry-agent check FILE`: everything the agent would load, loaded, and the config
//! explained.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferry_app_core::{AppError, ConfigError};

use super::egress;
use super::load::{proxied_address, tunnel_config};
use crate::config::{AgentConfig, AgentCredential};

/// How long `check` waits for the gateway's name to resolve: 3 s.
pub const CHECK_RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Loads everything `config` names, as the agent would at start (the token file or variable,
/// the CA file, the agent id, the QUIC settings), without connecting, and returns
/// [`AgentConfig::explain`] followed by what was loaded. The secret is never shown.
///
/// The gateway's name is looked up (within [`CHECK_RESOLVE_TIMEOUT`]) but a name that does
/// not resolve is not an error here (that would make the check depend on the DNS of the host
/// it runs on): the output says whether it resolved. When an egress proxy reaches the gateway
/// (`proxy`, or `HTTPS_PROXY` and the others read through `env`), the name is not looked up
/// at all. The output says which proxy the gateway goes through and why (configuration, which
/// variable, or the `no_proxy` entry that bypasses it); its password is never shown. Must be
/// called inside a tokio runtime.
///
/// # Errors
///
/// [`AppError::Config`] naming the key or file at fault.
pub async fn check(
    config: &AgentConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, AppError> {
    let (host, port) = (&config.gateway.0, config.gateway.1);
    let route = egress::route(config, &env)?;
    let proxied = proxied_address(config, &route);
    let (gateway, resolved) = match (proxied, host.parse::<IpAddr>()) {
        (Some(addr), _) => (
            addr,
            match route.proxy().map(ferry_egress::EgressProxy::kind) {
                Some(ferry_egress::ProxyKind::Socks5) => {
                    "not resolved now: with socks5:// the agent resolves it at each connection and sends the proxy the address"
                }
                _ => "not resolved here: the egress proxy is asked for it by name",
            }
            .to_owned(),
        ),
        (None, Ok(ip)) => (
            SocketAddr::new(ip, port),
            "an IP address, nothing to resolve".to_owned(),
        ),
        (None, Err(_name)) => match tokio::time::timeout(
            CHECK_RESOLVE_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(mut addrs)) => match addrs.next() {
                Some(addr) => (addr, format!("resolves now to {addr}")),
                None => (
                    unresolved(port),
                    "resolves to no address now; the agent resolves it when it starts".to_owned(),
                ),
            },
            Ok(Err(e)) => (
                unresolved(port),
                format!("does not resolve now ({e}); the agent resolves it when it starts"),
            ),
            Err(_elapsed) => (
                unresolved(port),
                format!(
                    "did not resolve within {}s; the agent resolves it when it starts",
                    CHECK_RESOLVE_TIMEOUT.as_secs()
                ),
            ),
        },
    };
    let tunnel = tunnel_config(config, gateway, &route, &env)?;
    let certificates = tunnel.roots.len();
    let client_cert = tunnel
        .client_cert
        .as_ref()
        .map(|key| client_cert_line(config, key));
    ferry_tunnel::Agent::new(tunnel)
        .map_err(|e| ConfigError::invalid("ca", ferry_app_core::error::error_line(&e)))?;
    let mut out = config.explain();
    out.push_str(&format!(
        "loaded: gateway {}: {resolved}\n",
        config.gateway_text()
    ));
    out.push_str(&format!("loaded: egress proxy: {}\n", route.describe()));
    out.push_str(&match &config.credential {
        AgentCredential::File(path) => format!(
            "loaded: token_file {}: read (the secret is not shown)\n",
            path.display()
        ),
        AgentCredential::Env(name) => {
            format!("loaded: token_env {name}: set (the secret is not shown)\n")
        }
        AgentCredential::None if config.client_cert.is_some() => {
            "loaded: no token (the client certificate is the credential)\n".to_owned()
        }
        AgentCredential::None => "loaded: no credential (insecure_no_auth)\n".to_owned(),
    });
    if let Some(line) = client_cert {
        out.push_str(&line);
    }
    out.push_str(&format!(
        "loaded: ca {}: {certificates} certificate{}\n",
        config.ca.display(),
        if certificates == 1 { "" } else { "s" }
    ));
    Ok(out)
}

/// What the client certificate names, and a warning when the gateway would refuse it for
/// this agent id.
fn client_cert_line(config: &AgentConfig, key: &ferry_tls::rustls::sign::CertifiedKey) -> String {
    let path = config
        .client_cert
        .as_ref()
        .map_or_else(String::new, |f| f.cert.display().to_string());
    let Some(leaf) = key.cert.first() else {
        return format!("loaded: cert {path}: no certificate\n");
    };
    match ferry_tls::CertIdentity::parse(leaf) {
        Ok(identity) => match identity.agent_name() {
            Ok(name) if name == config.agent_id => {
                format!("loaded: cert {path}: for agent {name} ({identity})\n")
            }
            Ok(name) => format!(
                "loaded: cert {path}: for agent {name} ({identity})\nwarning: the certificate names the agent {name:?}, not agent_id {:?}: a gateway checking certificates refuses it\n",
                config.agent_id
            ),
            Err(e) => format!(
                "loaded: cert {path}: {identity}\nwarning: {e}: a gateway checking certificates refuses it\n"
            ),
        },
        Err(e) => format!("loaded: cert {path}: {e}\n"),
    }
}

fn unresolved(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}
