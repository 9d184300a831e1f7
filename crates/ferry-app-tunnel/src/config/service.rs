//! `[[service]]`: a public TCP or UDP port of the gateway forwarded, without CONNECT and
//! without a client credential, through one agent to one destination.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_app_core::ConfigError;
use ferry_app_core::duration::de_opt_duration;
use ferry_app_core::net::{IpNet, parse_net};
use ferry_app_core::proxy_protocol::{AcceptProxy, AcceptProxyFile};
use ferry_bridge::BridgeConfig;
use ferry_front::Address;
use ferry_front::proxy_protocol::Version;
use ferry_tunnel::{AgentId, Destination, Protocol};
use serde::Deserialize;

use super::parse_rate;
use crate::front::FrontLimits;

/// Longest service name: 64 characters (it is a metric label and a log field).
pub const MAX_SERVICE_NAME: usize = 64;

/// Default `max_flows` of a UDP service: 1024 (the hop's `udp_max_flows` default).
pub const DEFAULT_MAX_FLOWS: usize = 1024;

/// Default `idle_timeout` of a UDP service's flows: 60 s (the hop's `udp_idle_timeout`).
pub const DEFAULT_FLOW_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `[[service]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceFile {
    name: String,
    bind: String,
    protocol: Option<String>,
    agent: String,
    destination: String,
    allow_from: Option<Vec<String>>,
    max_connections_per_client: Option<u32>,
    client_rate: Option<String>,
    send_proxy: Option<SendProxyFile>,
    accept_proxy: Option<AcceptProxyFile>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    idle_timeout: Option<Option<Duration>>,
    max_flows: Option<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SendProxyFile {
    V1,
    V2,
}

/// One TCP or UDP service of the gateway (`[[service]]`): clients connect (TCP) or send
/// datagrams (UDP) to [`ServiceConfig::bind`] and are forwarded through
/// [`ServiceConfig::agent`] to [`ServiceConfig::destination`].
///
/// ```toml
/// [[service]]
/// name = "ssh"                    # required: unique, 1-64 of A-Z a-z 0-9 - _ .
/// bind = "0.0.0.0:2222"           # required: unique per protocol
/// protocol = "tcp"                # default "tcp"; or "udp" (see below)
/// agent = "edge-1"                # required: the agent id
/// destination = "127.0.0.1:22"    # required: HOST:PORT the gateway's `allow` permits
/// allow_from = ["203.0.113.0/24"] # default: every source
/// max_connections_per_client = 16 # default: limits.max_tunnels_per_client
/// client_rate = "5/s burst 10"    # default: limits.client_rate ("off" for none)
/// send_proxy = "v2"               # default: none ("v1" or "v2")
/// accept_proxy = { trusted = ["10.0.0.0/8"], versions = ["v1", "v2"], timeout = "5s" }
///                                 # default: none (clients connect directly)
/// idle_timeout = "1h"             # default: timeouts.idle ("off" to disable)
///
/// [[service]]
/// name = "dns"
/// bind = "0.0.0.0:5353"
/// protocol = "udp"                # one flow (tunnel) per client address
/// agent = "edge-1"
/// destination = "10.0.0.53:53"
/// allow_from = ["203.0.113.0/24"] # other sources' datagrams are dropped, never answered
/// max_flows = 1024                # default 1024: flows at once; new clients dropped beyond
/// max_connections_per_client = 16 # flows per source IP; default limits.max_tunnels_per_client
/// client_rate = "5/s burst 10"    # new flows per source IP; default limits.client_rate
/// idle_timeout = "60s"            # default 60 s: a flow ends after this long without a datagram
/// # send_proxy and accept_proxy are refused with "udp"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The service's name (`name`): in logs, metrics and `check`.
    pub name: String,
    /// The public address clients connect to (`bind`).
    pub bind: SocketAddr,
    /// TCP (a listener, one tunnel per connection) or UDP (a socket, one tunnel per client
    /// address: a flow) (`protocol`). Default [`Protocol::Tcp`].
    pub protocol: Protocol,
    /// UDP: flows open at once (`max_flows`); a datagram from a new client address beyond it
    /// is dropped (live flows are not affected). Default [`DEFAULT_MAX_FLOWS`]. Refused for
    /// TCP.
    pub max_flows: NonZeroUsize,
    /// UDP: a flow ends after this long without a datagram either way (`idle_timeout`).
    /// Default [`DEFAULT_FLOW_IDLE_TIMEOUT`]; `"off"` is refused for UDP.
    pub flow_idle_timeout: Duration,
    /// The agent the service's tunnels go through (`agent`).
    pub agent: AgentId,
    /// Where the agent connects (`destination`). The gateway's `allow` must permit it (checked
    /// here and for every connection); the agent's own allowlist decides again.
    pub destination: Destination,
    /// Source networks allowed to connect (`allow_from`); connections from anywhere else are
    /// closed at accept. Default empty: every source. With [`ServiceConfig::accept_proxy`]
    /// it is checked against the client the PROXY header names, once the header is read.
    pub allow_from: Vec<IpNet>,
    /// A load balancer in front (`accept_proxy`): every connection must come from one of its
    /// trusted networks and start with a PROXY header, whose source address is the client
    /// from then on (`allow_from`, limits, access log, the `send_proxy` header). Default none.
    pub accept_proxy: Option<AcceptProxy>,
    /// The service's own limits: `max_tunnels_per_client` is `max_connections_per_client`
    /// (default `limits.max_tunnels_per_client`), `client_rate` is the service's `client_rate`
    /// (default `limits.client_rate`), `max_tunnels` and `max_tunnels_per_agent` are the
    /// gateway's; no agent rate and no failed-auth block (there is no credential).
    pub limits: FrontLimits,
    /// The PROXY protocol header written to the tunnel before the client's bytes
    /// (`send_proxy`): the client's address and the service's bound address (with
    /// `accept_proxy`, the source and destination of the received header). Default none.
    pub send_proxy: Option<Version>,
    /// Relay settings: the idle timeout is `idle_timeout` (default `timeouts.idle`, 5 min),
    /// the rest the gateway's (`timeouts.half_close`).
    pub bridge: BridgeConfig,
}

impl ServiceConfig {
    /// Whether `peer` may connect ([`ServiceConfig::allow_from`]).
    #[must_use]
    pub fn admits(&self, peer: std::net::IpAddr) -> bool {
        self.allow_from.is_empty() || ferry_app_core::net::contains(&self.allow_from, peer)
    }

    /// One line for `ferry-gateway check`.
    #[must_use]
    pub fn explain(&self) -> String {
        if self.protocol == Protocol::Udp {
            return self.explain_udp();
        }
        let from: Vec<String> = self.allow_from.iter().map(ToString::to_string).collect();
        let rate = self.rate_text();
        format!(
            "service {}: tcp bind={} agent={} destination={} allow_from={} \
             max_connections_per_client={} client_rate={rate} send_proxy={} idle_timeout={}{}",
            self.name,
            self.bind,
            self.agent.as_str(),
            self.destination,
            if from.is_empty() {
                "any".to_owned()
            } else {
                from.join(", ")
            },
            self.limits.max_tunnels_per_client,
            match self.send_proxy {
                Some(Version::V1) => "v1",
                Some(_) => "v2",
                None => "off",
            },
            self.bridge.idle_timeout.map_or_else(
                || "off".to_owned(),
                ferry_app_core::duration::format_duration
            ),
            self.accept_proxy
                .as_ref()
                .map_or_else(String::new, |a| format!(" accept_proxy: {}", a.explain())),
        )
    }
}

impl ServiceConfig {
    fn rate_text(&self) -> String {
        self.limits.client_rate.map_or_else(
            || "off".to_owned(),
            |q| {
                format!(
                    "burst {}, then 1 every {}",
                    q.burst(),
                    ferry_app_core::duration::format_duration(q.emission_interval())
                )
            },
        )
    }

    fn explain_udp(&self) -> String {
        let from: Vec<String> = self.allow_from.iter().map(ToString::to_string).collect();
        format!(
            "service {}: udp bind={} agent={} destination={} allow_from={} max_flows={} \
             max_flows_per_client={} client_rate={} idle_timeout={} max_datagram={}",
            self.name,
            self.bind,
            self.agent.as_str(),
            self.destination,
            if from.is_empty() {
                "any".to_owned()
            } else {
                from.join(", ")
            },
            self.max_flows,
            self.limits.max_tunnels_per_client,
            self.rate_text(),
            ferry_app_core::duration::format_duration(self.flow_idle_timeout),
            ferry_tunnel::MAX_DATAGRAM,
        )
    }
}

/// Whether the gateway's allowlist permits `target` (names are matched as names; the agent
/// resolves and checks again). The client front and the services decide with it.
pub(crate) fn gateway_allows(allow: &Allowlist, target: &Address) -> bool {
    match target {
        Address::Ip(sa) => allow.check_ip(sa.ip(), sa.port()).is_allowed(),
        Address::Domain(name, port) => allow.matches(name, *port).is_allowed(),
        _ => false,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVICE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What the services inherit from the rest of the gateway config.
pub(super) struct Inherited<'a> {
    pub(super) allow: &'a Allowlist,
    pub(super) limits: &'a FrontLimits,
    pub(super) bridge: &'a BridgeConfig,
    /// Other TCP listeners of the gateway (key, address): a service may not take theirs.
    pub(super) listeners: Vec<(&'static str, SocketAddr)>,
    /// The gateway's UDP sockets (the agents' QUIC endpoint): a UDP service may not take them.
    pub(super) udp_listeners: Vec<(&'static str, SocketAddr)>,
}

/// Validates every `[[service]]` (keys named `service[i].KEY`).
pub(super) fn validate(
    files: Vec<ServiceFile>,
    inherited: &Inherited<'_>,
) -> Result<Vec<ServiceConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut binds = HashSet::new();
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let key = |k: &str| format!("service[{i}].{k}");
            let s = f.validate(&key, inherited)?;
            if !names.insert(s.name.clone()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("{:?} is used by another service", s.name),
                ));
            }
            // Port 0 (tests) binds a fresh port each time: no clash. A TCP and a UDP service
            // may share an address.
            if s.bind.port() != 0 && !binds.insert((s.protocol, s.bind)) {
                return Err(ConfigError::invalid(
                    key("bind"),
                    format!("{} is used by another service", s.bind),
                ));
            }
            Ok(s)
        })
        .collect()
}

impl ServiceFile {
    fn validate(
        self,
        key: &dyn Fn(&str) -> String,
        inherited: &Inherited<'_>,
    ) -> Result<ServiceConfig, ConfigError> {
        if !valid_name(&self.name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("{:?}: 1-64 characters of A-Z a-z 0-9 - _ .", self.name),
            ));
        }
        let protocol = match self.protocol.as_deref() {
            None | Some("tcp") => Protocol::Tcp,
            Some("udp") => Protocol::Udp,
            Some(other) => {
                return Err(ConfigError::invalid(
                    key("protocol"),
                    format!("{other:?}: expected \"tcp\" or \"udp\""),
                ));
            }
        };
        let udp = protocol == Protocol::Udp;
        if udp && self.send_proxy.is_some() {
            return Err(ConfigError::invalid(
                key("send_proxy"),
                "not available with protocol = \"udp\" (a PROXY header belongs in front of a \
                 byte stream; datagrams are sent as they came)",
            ));
        }
        if udp && self.accept_proxy.is_some() {
            return Err(ConfigError::invalid(
                key("accept_proxy"),
                "not available with protocol = \"udp\" (a load balancer's PROXY header comes \
                 on a TCP connection)",
            ));
        }
        if !udp && self.max_flows.is_some() {
            return Err(ConfigError::invalid(
                key("max_flows"),
                "only for protocol = \"udp\" (TCP services use max_connections_per_client)",
            ));
        }
        let max_flows = match self.max_flows {
            None => NonZeroUsize::new(DEFAULT_MAX_FLOWS).unwrap_or(NonZeroUsize::MIN),
            Some(n) => NonZeroUsize::new(n)
                .ok_or_else(|| ConfigError::invalid(key("max_flows"), "must be at least 1"))?,
        };
        let flow_idle_timeout = match self.idle_timeout {
            None => DEFAULT_FLOW_IDLE_TIMEOUT,
            Some(Some(d)) => d,
            Some(None) => DEFAULT_FLOW_IDLE_TIMEOUT,
        };
        if udp && self.idle_timeout == Some(None) {
            return Err(ConfigError::invalid(
                key("idle_timeout"),
                "\"off\" is not available with protocol = \"udp\": a flow ends only by \
                 expiring",
            ));
        }
        let bind: SocketAddr = self.bind.parse().map_err(|_bad| {
            ConfigError::invalid(
                key("bind"),
                format!("{:?} is not IP:PORT or [IPv6]:PORT", self.bind),
            )
        })?;
        let taken = if udp {
            &inherited.udp_listeners
        } else {
            &inherited.listeners
        };
        if bind.port() != 0
            && let Some((other, _)) = taken.iter().find(|(_, a)| *a == bind)
        {
            return Err(ConfigError::invalid(
                key("bind"),
                format!("{bind} is the gateway's `{other}`"),
            ));
        }
        let agent = AgentId::new(&self.agent)
            .map_err(|e| ConfigError::invalid(key("agent"), format!("{:?}: {e}", self.agent)))?;
        let target: Address = self.destination.parse().map_err(|e| {
            ConfigError::invalid(key("destination"), format!("{:?}: {e}", self.destination))
        })?;
        let destination = crate::destination::from_target(&target).map_err(|e| {
            ConfigError::invalid(key("destination"), format!("{:?}: {e}", self.destination))
        })?;
        if !gateway_allows(inherited.allow, &target) {
            return Err(ConfigError::invalid(
                key("destination"),
                format!("{destination} is not permitted by the gateway's `allow`"),
            ));
        }
        let allow_from = self
            .allow_from
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(j, t)| {
                parse_net(t)
                    .map_err(|why| ConfigError::invalid(key(&format!("allow_from[{j}]")), why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let accept_proxy = self
            .accept_proxy
            .map(|a| a.validate(&key("accept_proxy")))
            .transpose()?;
        let mut limits = FrontLimits {
            agent_rate: None,
            auth_failures: None,
            ..inherited.limits.clone()
        };
        if let Some(v) = self.max_connections_per_client {
            limits.max_tunnels_per_client = std::num::NonZeroU32::new(v).ok_or_else(|| {
                ConfigError::invalid(key("max_connections_per_client"), "must be at least 1")
            })?;
        }
        if let Some(t) = &self.client_rate {
            limits.client_rate =
                parse_rate(t).map_err(|why| ConfigError::invalid(key("client_rate"), why))?;
        }
        let mut bridge = inherited.bridge.clone();
        if let Some(idle) = self.idle_timeout {
            bridge = bridge.idle_timeout(idle);
        }
        Ok(ServiceConfig {
            name: self.name,
            bind,
            protocol,
            max_flows,
            flow_idle_timeout,
            agent,
            destination,
            allow_from,
            accept_proxy,
            limits,
            send_proxy: self.send_proxy.map(|v| match v {
                SendProxyFile::V1 => Version::V1,
                SendProxyFile::V2 => Version::V2,
            }),
            bridge,
        })
    }
}
