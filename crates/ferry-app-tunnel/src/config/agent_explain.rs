//! `ferry-agent check`: the agent's validated config as text, every default filled in, the
//! secret never shown.

use ferry_allow::SpecialAddresses;
use ferry_app_core::duration::format_duration;

use super::{AgentConfig, AgentCredential};

impl AgentConfig {
    /// A multi-line, human-readable account of the validated config with every default filled
    /// in, for `ferry-agent check`. Names where the secret comes from, never the secret.
    #[must_use]
    pub fn explain(&self) -> String {
        let mut out = format!(
            "gateway: {} server_name={}\n",
            self.gateway_text(),
            self.server_name
        );
        let tcp_port = self.tcp_port.unwrap_or(self.gateway.1);
        out.push_str(&match self.transport {
            ferry_tunnel::Transport::Quic => "transport: quic (UDP only, no TCP fallback)\n".to_owned(),
            ferry_tunnel::Transport::Tcp => {
                format!("transport: tcp (TLS + HTTP/2 to TCP port {tcp_port}, no UDP)\n")
            }
            _ => format!(
                "transport: auto (QUIC first; TLS + HTTP/2 to TCP port {tcp_port} when QUIC has not connected within fallback_after={}; while on TCP, QUIC probed every quic_retry={})\n",
                format_duration(self.fallback_after),
                format_duration(self.quic_retry),
            ),
        });
        out.push_str(&match self.connections {
            Some(n) => format!(
                "connections: {n} (tunnels spread over them; a gateway without connection groups gets 1)\n"
            ),
            None => format!(
                "connections: not set: {} on the TCP transport, 1 on QUIC (tunnels spread over them)\n",
                ferry_tunnel::DEFAULT_TCP_CONNECTIONS
            ),
        });
        out.push_str(&format!("agent_id: {}\n", self.agent_id));
        out.push_str(&match &self.credential {
            AgentCredential::File(path) => format!("credential: token_file {}\n", path.display()),
            AgentCredential::Env(name) => format!("credential: token_env {name}\n"),
            AgentCredential::None if self.client_cert.is_some() => {
                "credential: none (the client certificate only)\n".to_owned()
            }
            AgentCredential::None => {
                "credential: none (insecure_no_auth = true: the gateway must not check)\n"
                    .to_owned()
            }
        });
        out.push_str(&match &self.client_cert {
            Some(files) => format!(
                "client certificate: cert={} key={} (its one DNS subjectAltName must be the agent id)\n",
                files.cert.display(),
                files.key.display()
            ),
            None => "client certificate: none\n".to_owned(),
        });
        out.push_str(&format!("ca: {}\n", self.ca.display()));
        let rules: Vec<&str> = self.allow.rules().map(|r| r.entry()).collect();
        let special = match self.allow.special_addresses() {
            SpecialAddresses::Allow => {
                "allow_special_addresses=true: the rules alone decide for loopback, private, link-local and metadata addresses"
            }
            _ => {
                "allow_special_addresses=false: loopback, private, link-local and metadata addresses only through a rule inside their range"
            }
        };
        out.push_str(&format!("allow: {} ({special})\n", rules.join(", ")));
        out.push_str(&format!(
            "timeouts: connect_timeout={} keep_alive={} idle_timeout={} (the lower of this and the gateway's agent_idle is used) udp_idle_timeout={}\n",
            format_duration(self.connect_timeout),
            format_duration(self.quic.keep_alive_interval),
            format_duration(self.quic.idle_timeout),
            format_duration(self.udp_idle_timeout),
        ));
        out.push_str(&format!(
            "reconnect: reconnect_min={} reconnect_max={} (full jitter)\n",
            format_duration(self.reconnect_min),
            format_duration(self.reconnect_max),
        ));
        out.push_str(&match &self.proxy {
            Some(p) => format!("proxy: {p} (unless no_proxy matches the gateway: the TCP transport through it, QUIC not tried)\n"),
            None => "proxy: not set (https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY are read at start)\n".to_owned(),
        });
        out.push_str(&match &self.no_proxy {
            Some(n) => format!("no_proxy: {n}\n"),
            None => "no_proxy: not set (no_proxy, NO_PROXY are read at start)\n".to_owned(),
        });
        out.push_str(&match self.metrics {
            Some(addr) => format!("metrics: {addr} (/metrics, /healthz)\n"),
            None => "metrics: off\n".to_owned(),
        });
        out.push_str(&format!("log_format: {}\n", self.log_format));
        out
    }
}

impl AgentConfig {
    /// `gateway` as `host:port`, with brackets around an IPv6 address.
    pub(crate) fn gateway_text(&self) -> String {
        let (host, port) = (&self.gateway.0, self.gateway.1);
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn explain_fills_in_every_default_and_names_the_secret_source_only() {
        let c = AgentConfig::from_toml(
            r#"
            gateway = "gw.example.com:4433"
            ca = "/etc/ferry/ca.pem"
            agent_id = "edge-1"
            token_file = "/etc/ferry/edge-1.token"
            allow = ["10.0.0.0/8:22", "*.internal:443"]
            "#,
        )
        .unwrap();
        let text = c.explain();
        for want in [
            "gateway: gw.example.com:4433 server_name=gw.example.com\n",
            "agent_id: edge-1\n",
            "credential: token_file /etc/ferry/edge-1.token\n",
            "ca: /etc/ferry/ca.pem\n",
            "allow: 10.0.0.0/8:22, *.internal:443 (allow_special_addresses=false",
            "connect_timeout=5s keep_alive=10s idle_timeout=30s",
            "reconnect_min=1s reconnect_max=1m",
            "metrics: off\n",
            "proxy: not set (https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY are read at start)\n",
            "no_proxy: not set (no_proxy, NO_PROXY are read at start)\n",
            "transport: auto (QUIC first; TLS + HTTP/2 to TCP port 4433 when QUIC has not connected within fallback_after=3s; while on TCP, QUIC probed every quic_retry=5m)\n",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
        let c = AgentConfig::from_toml(
            r#"
            gateway = "[::1]:4433"
            ca = "ca.pem"
            agent_id = "edge-1"
            token_env = "FERRY_AGENT_TOKEN"
            allow = ["127.0.0.1"]
            allow_special_addresses = true
            metrics = "127.0.0.1:9091"
            proxy = "socks5h://agent-7:s3cr%40t@proxy.corp.example:1080"
            no_proxy = ".internal, 10.0.0.0/8:443"
            "#,
        )
        .unwrap();
        let text = c.explain();
        assert!(!text.contains("s3cr"), "{text}");
        for want in [
            "proxy: socks5h://agent-7:***@proxy.corp.example:1080 (unless no_proxy matches the gateway: the TCP transport through it, QUIC not tried)\n",
            "no_proxy: internal,10.0.0.0/8:443\n",
            "gateway: [::1]:4433 server_name=::1\n",
            "credential: token_env FERRY_AGENT_TOKEN\n",
            "allow_special_addresses=true",
            "metrics: 127.0.0.1:9091",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
    }
}
