//! The agent's egress proxy: which proxy, if any, reaches the gateway (the `proxy` and
//! `no_proxy` keys, else the environment), and the [`TcpDialer`] that goes through it.

use std::io;
use std::net::{IpAddr, SocketAddr};

use ferry_app_core::ConfigError;
use ferry_egress::{ConnectConfig, EgressPolicy, EgressProxy, NoProxy, connect_via};
use ferry_front::Address;
use ferry_tunnel::{DialFuture, TcpDialer, Transport};

use crate::config::AgentConfig;

/// How the agent reaches its gateway, decided at load (start, reload, `check`).
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The gateway's TCP-transport address as the proxy is asked for it: its name (or
    /// address) as configured, and `tcp_port` (default the `gateway` port).
    pub(crate) target: Address,
    /// The policy: configuration, then the environment.
    pub(crate) policy: EgressPolicy,
}

impl Route {
    /// The proxy the gateway is reached through, if any.
    pub(crate) fn proxy(&self) -> Option<&EgressProxy> {
        self.policy.proxy_for(&self.target)
    }

    /// One line for logs and `check`: which proxy and why, or why none.
    pub(crate) fn describe(&self) -> String {
        match (self.policy.proxy(), self.proxy()) {
            (None, _) => "none (no proxy key, and none of https_proxy, HTTPS_PROXY, all_proxy, \
                          ALL_PROXY is set): the gateway is reached directly"
                .to_owned(),
            (Some(p), Some(_)) => format!(
                "{p} (from {}) for the gateway {}: TLS + HTTP/2 over TCP through it, QUIC not tried",
                self.policy.proxy_source(),
                self.target
            ),
            (Some(p), None) => format!(
                "{p} (from {}) bypassed for the gateway {}: no_proxy entry {} (from {}) matches it; reached directly",
                self.policy.proxy_source(),
                self.target,
                matching_entry(self.policy.no_proxy(), &self.target),
                self.policy.no_proxy_source(),
            ),
        }
    }
}

/// The `no_proxy` entry that matches `target` (`*` for the match-all entry).
fn matching_entry(list: &NoProxy, target: &Address) -> String {
    if list.matches_all() {
        return "*".to_owned();
    }
    list.entries()
        .iter()
        .map(ToString::to_string)
        .find(|e| NoProxy::parse(e).is_ok_and(|one| one.matches(target)))
        .unwrap_or_else(|| list.to_string())
}

/// The route for `config`: its `proxy` and `no_proxy`, else the environment through `env`.
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming `proxy` / `no_proxy` for a variable that is not a proxy
/// URL or a `NO_PROXY` list (the variable is named, its value never shown), and naming
/// `transport` when `transport = "quic"` and the gateway would go through a proxy.
pub(crate) fn route(
    config: &AgentConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Route, ConfigError> {
    let policy =
        EgressPolicy::from_config_and_env(config.proxy.clone(), config.no_proxy.clone(), env)
            .map_err(|e| {
                let key = match e {
                    ferry_egress::EnvError::NoProxy { .. } => "no_proxy",
                    _ => "proxy",
                };
                ConfigError::invalid(key, ferry_app_core::error::error_line(&e))
            })?;
    let (host, port) = (
        &config.gateway.0,
        config.tcp_port.unwrap_or(config.gateway.1),
    );
    let target = match host.parse::<IpAddr>() {
        Ok(ip) => Address::Ip(SocketAddr::new(ip, port)),
        Err(_name) => Address::Domain(host.clone(), port),
    };
    let route = Route { target, policy };
    if let (Some(proxy), Transport::Quic) = (route.proxy(), config.transport) {
        return Err(ConfigError::invalid(
            "transport",
            format!(
                "\"quic\" cannot reach the gateway through the egress proxy {proxy} (from {}): QUIC \
                 is UDP and an HTTP or SOCKS proxy carries TCP; set transport = \"tcp\" or \"auto\" \
                 to use the TCP transport through it, or list the gateway in no_proxy to connect directly",
                route.policy.proxy_source()
            ),
        ));
    }
    Ok(route)
}

/// Opens the agent's TCP-transport connection through an egress proxy: asks `proxy` for a
/// tunnel to the gateway's name and TCP port (never the address resolved here, so an
/// `http://` or `socks5h://` proxy resolves the name itself) with `ferry-egress`'s
/// timeouts (5 s to reach the proxy, 10 s for the handshake; the agent's authentication
/// deadline bounds both).
#[derive(Debug)]
pub(crate) struct EgressDialer {
    pub(crate) proxy: EgressProxy,
    pub(crate) target: Address,
    pub(crate) connect: ConnectConfig,
}

impl EgressDialer {
    pub(crate) fn new(proxy: EgressProxy, target: Address) -> Self {
        Self {
            proxy,
            target,
            connect: ConnectConfig::default(),
        }
    }

    async fn open(&self) -> io::Result<tokio::net::TcpStream> {
        let failed = |why: String| {
            io::Error::other(format!(
                "to the gateway {} through the egress proxy {}: {why}",
                self.target, self.proxy
            ))
        };
        let stream = connect_via(&self.proxy, &self.target, &self.connect)
            .await
            .map_err(|e| failed(ferry_app_core::error::error_line(&e)))?;
        let (tcp, early) = stream.into_parts();
        if !early.is_empty() {
            // The gateway never speaks first on the TCP transport: these bytes are the proxy's.
            return Err(failed(format!(
                "the egress proxy sent {} bytes before TLS started",
                early.len()
            )));
        }
        Ok(tcp)
    }
}

impl TcpDialer for EgressDialer {
    fn dial<'a>(&'a self, _gateway: SocketAddr, _server_name: &'a str) -> DialFuture<'a> {
        Box::pin(self.open())
    }
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

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_route_says_which_proxy_and_why() {
        let none = route(&config(""), &env(&[])).unwrap();
        assert!(none.proxy().is_none());
        assert!(
            none.describe().starts_with("none (no proxy key"),
            "{}",
            none.describe()
        );

        let r = route(
            &config("proxy = \"http://u:pw@proxy.corp:3128\"\ntcp_port = 443"),
            &env(&[("HTTPS_PROXY", "socks5://other:1080")]),
        )
        .unwrap();
        assert_eq!(r.target, Address::Domain("gw.example.com".into(), 443));
        assert_eq!(
            r.proxy().unwrap().to_string(),
            "http://u:***@proxy.corp:3128"
        );
        assert_eq!(
            r.describe(),
            "http://u:***@proxy.corp:3128 (from configuration) for the gateway gw.example.com:443: \
             TLS + HTTP/2 over TCP through it, QUIC not tried"
        );

        let r = route(&config(""), &env(&[("https_proxy", "socks5h://p:1080")])).unwrap();
        assert!(
            r.describe()
                .contains("(from environment variable https_proxy)"),
            "{}",
            r.describe()
        );

        let r = route(
            &config(""),
            &env(&[
                ("ALL_PROXY", "http://p:3128"),
                ("NO_PROXY", "10.0.0.0/8, .example.com"),
            ]),
        )
        .unwrap();
        assert!(r.proxy().is_none());
        assert_eq!(
            r.describe(),
            "http://p:3128 (from environment variable ALL_PROXY) bypassed for the gateway \
             gw.example.com:4433: no_proxy entry example.com (from environment variable \
             NO_PROXY) matches it; reached directly"
        );
    }

    #[test]
    fn quic_through_a_proxy_is_refused_and_says_what_to_do() {
        let e = route(
            &config("transport = \"quic\"\nproxy = \"http://u:hunter2@p:3128\""),
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("invalid value for `transport`: \"quic\" cannot reach the gateway through the egress proxy http://u:***@p:3128 (from configuration)"), "{e}");
        assert!(
            e.contains("transport = \"tcp\" or \"auto\"") && e.contains("no_proxy"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        // From the environment too; and not when no_proxy bypasses it.
        let e = route(
            &config("transport = \"quic\""),
            &env(&[("HTTPS_PROXY", "http://p:3128")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("(from environment variable HTTPS_PROXY)"), "{e}");
        assert!(
            route(
                &config("transport = \"quic\"\nno_proxy = \"gw.example.com\""),
                &env(&[("HTTPS_PROXY", "http://p:3128")]),
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_variables_name_the_key_and_variable_never_the_value() {
        let e = route(
            &config(""),
            &env(&[("HTTPS_PROXY", "https://u:hunter2@p:1")]),
        )
        .unwrap_err();
        let text = ferry_app_core::error::error_line(&e);
        assert!(
            text.starts_with("invalid value for `proxy`: environment variable HTTPS_PROXY"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let e = route(&config(""), &env(&[("no_proxy", "192.168.")])).unwrap_err();
        assert!(
            e.to_string()
                .contains("`no_proxy`: environment variable no_proxy"),
            "{e}"
        );
    }
}
