//! `ferry-gateway check`: the validated gateway config as text, every default filled in, no
//! secret shown (files are named by path).

use std::fmt::Write as _;
use std::time::Duration;

use ferry_allow::SpecialAddresses;
use ferry_app_core::duration::format_duration;
use ferry_app_core::size::format_size;
use ferry_limit::Quota;
use ferry_registry::Server;

use super::{CertSpec, ClusterConfig, GatewayConfig, RegistrySpec};

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "off".to_owned(), format_duration)
}

fn rate(q: Option<Quota>) -> String {
    q.map_or_else(
        || "off".to_owned(),
        |q| {
            format!(
                "burst {}, then 1 every {}",
                q.burst(),
                format_duration(q.emission_interval())
            )
        },
    )
}

fn cert(spec: &CertSpec) -> String {
    match spec {
        CertSpec::Files { cert, key } => {
            format!("cert={} key={}", cert.display(), key.display())
        }
        CertSpec::SelfSigned => {
            "self-signed for localhost, 127.0.0.1, ::1 (new at every start; development only)"
                .to_owned()
        }
    }
}

fn cluster(c: &ClusterConfig, agent_tls: &CertSpec) -> String {
    let registry = match &c.registry {
        RegistrySpec::Memory => "memory (this process only)".to_owned(),
        RegistrySpec::Memcached(servers) => {
            let names = if servers.iter().any(|s| matches!(s, Server::Name { .. })) {
                ", host names resolved when connecting and again when connecting fails"
            } else {
                ""
            };
            let spread = if servers.len() > 1 {
                format!(
                    ", {} servers, each agent's record on one by rendezvous hashing of its key \
                     over the server names",
                    servers.len()
                )
            } else {
                String::new()
            };
            format!("{}{spread}{names}", c.registry)
        }
    };
    format!(
        "cluster: registry={registry} peer_listen={} advertise={} peer_ca={} peer_server_name={} \
         peer_credential_file={} ttl={} heartbeat={} registry_timeout={} lookup_timeout={} \
         forward_connect_timeout={}\ncluster peer_tls: {}\n",
        c.peer_listen,
        c.advertise,
        c.peer_ca.display(),
        c.forward
            .server_name
            .as_deref()
            .unwrap_or("none (the peer's IP address)"),
        c.peer_credential_file.display(),
        format_duration(c.lease.ttl()),
        format_duration(c.lease.heartbeat()),
        format_duration(c.registry_timeout),
        format_duration(c.lookup_timeout),
        format_duration(c.forward.connect_timeout),
        c.peer_tls.as_ref().map_or_else(
            || format!("the [tls] certificate ({})", cert(agent_tls)),
            cert
        ),
    )
}

impl GatewayConfig {
    /// A multi-line, human-readable account of the validated config with every default filled
    /// in, for `ferry-gateway check`. Credentials are named by file path, never shown.
    #[must_use]
    pub fn explain(&self) -> String {
        let f = &self.front;
        let l = &f.limits;
        let mut out = String::new();
        let _ = writeln!(out, "listen: {} (client front, HTTP CONNECT)", self.listen);
        let _ = writeln!(
            out,
            "accept_proxy: {}",
            f.accept_proxy.as_ref().map_or_else(
                || "off (the TCP peer is the client)".to_owned(),
                ferry_app_core::proxy_protocol::AcceptProxy::explain
            )
        );
        let _ = writeln!(out, "agent_listen: {} (QUIC, UDP)", self.agent_listen);
        match self.agent_listen_tcp {
            super::AgentTcpListen::SameAsQuic => {
                let _ = writeln!(
                    out,
                    "agent_listen_tcp: {} (TCP transport: TLS + HTTP/2, same address and port as agent_listen)",
                    self.agent_listen
                );
            }
            super::AgentTcpListen::Addr(a) => {
                let _ = writeln!(out, "agent_listen_tcp: {a} (TCP transport: TLS + HTTP/2)");
            }
            _ => {
                let _ = writeln!(
                    out,
                    "agent_listen_tcp: off (agents on UDP-blocked networks cannot connect)"
                );
            }
        }
        let _ = writeln!(
            out,
            "metrics: {}",
            self.metrics
                .map_or_else(|| "off".to_owned(), |m| m.to_string())
        );
        let _ = writeln!(out, "log_format: {}", self.log_format);
        let rules: Vec<&str> = f.allow.rules().map(|r| r.entry()).collect();
        let special = match f.allow.special_addresses() {
            SpecialAddresses::Allow => "the rules alone decide",
            _ => "denied unless a rule names an address inside them",
        };
        let _ = writeln!(
            out,
            "allow: {} (special addresses: {special})",
            rules.join(", ")
        );
        let _ = writeln!(out, "tls (agents): {}", cert(&self.agent_tls));
        let _ = writeln!(
            out,
            "client_tls: {}",
            self.client_tls
                .as_ref()
                .map_or_else(|| "off (plain HTTP CONNECT)".to_owned(), cert)
        );
        if self.client_tls.is_some() {
            let _ = writeln!(
                out,
                "client certificates: {}",
                self.client_certs.as_ref().map_or_else(
                    || "not asked for".to_owned(),
                    |c| format!(
                        "{} (a resumed session is checked again; the access log names the certificate)",
                        c.explain()
                    )
                )
            );
        }
        let a = &self.auth;
        let keys: Vec<String> = a
            .jwt_keys
            .iter()
            .map(|k| match &k.kid {
                Some(kid) => format!("{} (kid {kid})", k.path.display()),
                None => k.path.display().to_string(),
            })
            .collect();
        let _ = writeln!(
            out,
            "auth: tokens={} jwt_keys=[{}] audience={} issuer={} leeway={} revoked_client_tunnels={}",
            a.tokens
                .as_ref()
                .map_or_else(|| "none".to_owned(), |t| t.display().to_string()),
            keys.join(", "),
            a.jwt.audience.as_deref().unwrap_or("not checked"),
            a.jwt.issuer.as_deref().unwrap_or("not checked"),
            format_duration(Duration::from_secs(a.jwt.leeway_secs)),
            f.revoked_client_tunnels.as_str(),
        );
        let _ = writeln!(
            out,
            "agent auth: {}{}",
            a.agent_mode,
            a.agent_certs.as_ref().map_or_else(
                || " (no client certificate asked for)".to_owned(),
                |c| format!(
                    " certificates: {} (the agent id must be the certificate's one DNS subjectAltName)",
                    c.explain()
                )
            )
        );
        let _ = writeln!(
            out,
            "limits: max_tunnels={} max_tunnels_per_client={} max_tunnels_per_agent={} max_connections_per_agent={}",
            l.max_tunnels,
            l.max_tunnels_per_client,
            l.max_tunnels_per_agent,
            l.max_connections_per_agent
        );
        let _ = writeln!(
            out,
            "memory: budget={} per connection: {}",
            format_size(f.memory_budget.get()),
            format_size(f.memory_reservation(self.client_tls.is_some()))
        );
        let _ = writeln!(
            out,
            "limits: client_rate={} agent_rate={} auth_failures={}",
            rate(l.client_rate),
            rate(l.agent_rate),
            rate(l.auth_failures)
        );
        let _ = writeln!(
            out,
            "timeouts: header={} open={} idle={} half_close={} drain={} agent_keep_alive={} agent_idle={}",
            format_duration(f.header_timeout),
            format_duration(f.open_timeout),
            opt(f.bridge.idle_timeout),
            opt(f.bridge.half_close_timeout),
            format_duration(f.drain_timeout),
            format_duration(self.agent_quic.keep_alive_interval),
            format_duration(self.agent_quic.idle_timeout),
        );
        match &self.cluster {
            Some(c) => out.push_str(&cluster(c, &self.agent_tls)),
            None => out.push_str("cluster: off (a single gateway)\n"),
        }
        if self.services.is_empty() {
            out.push_str("services: none\n");
        }
        for s in &self.services {
            let _ = writeln!(out, "{}", s.explain());
        }
        out
    }
}
