//! The gateway front's Prometheus metrics, through the [`metrics`] facade. Every name starts with
//! `ferry_gateway_`.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_gateway_replies_total` | counter | `code` (`200`, `400`, `403`, `405`, `407`, `408`, `429`, `502`, `503`, `504`) |
//! | `ferry_gateway_auth_failures_total` | counter | `reason` (`missing`, `malformed`, `refused`, `blocked`) |
//! | `ferry_gateway_proxy_rejected_total` | counter | `reason` (`proxy_untrusted`, `proxy_header_invalid`, `proxy_header_timeout`): client front connections refused by `accept_proxy` |
//! | `ferry_gateway_tunnels_total` | counter | `end` (the bridge's end labels, `cut_at_drain`, or `cut_revoked`) |
//! | `ferry_gateway_active_tunnels` | gauge | none |
//! | `ferry_gateway_bytes_total` | counter | `direction` (`client_to_agent`, `agent_to_client`) |
//! | `ferry_gateway_service_connections_total` | counter | `service`, `result` (`ok`, `refused_source`, `client_rate_limited`, `limited`, `denied_by_gateway`, `agent_denied`, `agent_not_connected`, `dial_failed`, `open_timeout`, `overloaded`, `transport_failed`, `proxy_header_failed`, `proxy_untrusted`, `proxy_header_invalid`, `proxy_header_timeout`, `cut_at_drain`; UDP flows also `udp_unsupported`) |
//! | `ferry_gateway_service_active_connections` | gauge | `service` |
//! | `ferry_gateway_service_bytes_total` | counter | `service`, `direction` (`client_to_agent`, `agent_to_client`) |
//! | `ferry_gateway_service_udp_flows` | gauge | `service` (UDP services: flows in the table) |
//! | `ferry_gateway_service_udp_datagrams_total` | counter | `service`, `direction` (`client_to_agent`, `agent_to_client`) |
//! | `ferry_gateway_service_udp_dropped_total` | counter | `service`, `reason` (`too_large`, `queue_full`, `refused_source`, `closing`, `flow_cap`, `client_rate_limited`, `limited`, `denied_by_gateway`, `open_failed`) |
//!
//! [`describe_metrics`] registers their HELP text (the gateway calls it once its admin endpoint
//! has started).
//!
//! Agent-side figures (agents connected, streams per agent) belong to the tunnel transport.

use std::sync::OnceLock;

pub(crate) fn reply(code: u16) {
    metrics::counter!("ferry_gateway_replies_total", "code" => code.to_string()).increment(1);
}

pub(crate) fn auth_failure(reason: &'static str) {
    metrics::counter!("ferry_gateway_auth_failures_total", "reason" => reason).increment(1);
}

pub(crate) fn proxy_rejected(reason: &'static str) {
    metrics::counter!("ferry_gateway_proxy_rejected_total", "reason" => reason).increment(1);
}

pub(crate) fn tunnel_ended(end: &'static str, up: u64, down: u64) {
    metrics::counter!("ferry_gateway_tunnels_total", "end" => end).increment(1);
    if up > 0 {
        metrics::counter!("ferry_gateway_bytes_total", "direction" => "client_to_agent")
            .increment(up);
    }
    if down > 0 {
        metrics::counter!("ferry_gateway_bytes_total", "direction" => "agent_to_client")
            .increment(down);
    }
}

/// The metric handles of one service's connections, resolved at their first use (after the
/// program installed its recorder) rather than by name and labels on every connection: the
/// active-connections gauge, `result="ok"` and the byte counters. Other results are rare and
/// looked up by name.
#[derive(Debug, Default)]
pub(crate) struct ServiceMetrics {
    active: OnceLock<metrics::Gauge>,
    ok: OnceLock<metrics::Counter>,
    bytes_up: OnceLock<metrics::Counter>,
    bytes_down: OnceLock<metrics::Counter>,
}

impl ServiceMetrics {
    /// Counts one finished connection of `service` with `result`, and its bytes.
    pub(crate) fn connection(&self, service: &str, result: &'static str, up: u64, down: u64) {
        if result == "ok" {
            self.ok
                .get_or_init(|| {
                    metrics::counter!(
                        "ferry_gateway_service_connections_total",
                        "service" => service.to_owned(),
                        "result" => "ok"
                    )
                })
                .increment(1);
        } else {
            metrics::counter!(
                "ferry_gateway_service_connections_total",
                "service" => service.to_owned(),
                "result" => result
            )
            .increment(1);
        }
        if up > 0 {
            self.bytes_up
                .get_or_init(|| {
                    metrics::counter!(
                        "ferry_gateway_service_bytes_total",
                        "service" => service.to_owned(),
                        "direction" => "client_to_agent"
                    )
                })
                .increment(up);
        }
        if down > 0 {
            self.bytes_down
                .get_or_init(|| {
                    metrics::counter!(
                        "ferry_gateway_service_bytes_total",
                        "service" => service.to_owned(),
                        "direction" => "agent_to_client"
                    )
                })
                .increment(down);
        }
    }

    /// Holds `ferry_gateway_service_active_connections{service}` up until the guard drops.
    pub(crate) fn active(&self, service: &str) -> ActiveServiceConnection {
        let g = self
            .active
            .get_or_init(|| {
                metrics::gauge!(
                    "ferry_gateway_service_active_connections",
                    "service" => service.to_owned()
                )
            })
            .clone();
        g.increment(1.0);
        ActiveServiceConnection(g)
    }
}

/// Holds `ferry_gateway_service_active_connections{service}` up while alive.
pub(crate) struct ActiveServiceConnection(metrics::Gauge);

impl Drop for ActiveServiceConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Holds `ferry_gateway_active_tunnels` up while alive.
pub(crate) struct ActiveTunnel(metrics::Gauge);

impl ActiveTunnel {
    pub(crate) fn new() -> Self {
        let g = metrics::gauge!("ferry_gateway_active_tunnels");
        g.increment(1.0);
        Self(g)
    }
}

impl Drop for ActiveTunnel {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Registers the HELP text of the `ferry_gateway_*` metrics with the installed recorder (call
/// it once the recorder is installed, e.g. after `ferry_app_core::admin::start`; without a
/// recorder it does nothing).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "ferry_gateway_replies_total",
        "Replies the client front sent, by HTTP status code."
    );
    metrics::describe_counter!(
        "ferry_gateway_auth_failures_total",
        "Failed client authentications, by reason (missing, malformed, refused, blocked)."
    );
    metrics::describe_counter!(
        "ferry_gateway_proxy_rejected_total",
        "Client connections refused by accept_proxy, by reason (proxy_untrusted, proxy_header_invalid, proxy_header_timeout)."
    );
    metrics::describe_counter!(
        "ferry_gateway_tunnels_total",
        "Client tunnels that ended, by how they ended (the relay's end, cut_at_drain, cut_revoked)."
    );
    metrics::describe_gauge!("ferry_gateway_active_tunnels", "Client tunnels open now.");
    metrics::describe_counter!(
        "ferry_gateway_bytes_total",
        "Bytes relayed by finished client tunnels, by direction (client_to_agent, agent_to_client)."
    );
    metrics::describe_counter!(
        "ferry_gateway_service_connections_total",
        "Connections to a [[service]] port, by service and result (ok, refused_source, limited, agent_denied, ...)."
    );
    metrics::describe_gauge!(
        "ferry_gateway_service_active_connections",
        "Connections to a [[service]] port relaying now, by service."
    );
    metrics::describe_counter!(
        "ferry_gateway_service_bytes_total",
        "Bytes relayed by finished [[service]] connections, by service and direction (client_to_agent, agent_to_client)."
    );
    metrics::describe_gauge!(
        "ferry_gateway_service_udp_flows",
        "Flows in a UDP [[service]]'s table, by service."
    );
    metrics::describe_counter!(
        "ferry_gateway_service_udp_datagrams_total",
        "Datagrams relayed by UDP [[service]] flows, by service and direction (client_to_agent, agent_to_client)."
    );
    metrics::describe_counter!(
        "ferry_gateway_service_udp_dropped_total",
        "Datagrams a UDP [[service]] dropped without an answer, by service and reason (refused_source, flow_cap, queue_full, ...)."
    );
    metrics::describe_counter!(
        "ferry_gateway_registry_failures_total",
        "Registry operations that failed, by operation (lookup, forget_stale; [cluster] only)."
    );
    metrics::describe_counter!(
        "ferry_gateway_peer_replies_total",
        "Replies the peer listener sent to other gateways, by code ([cluster] only)."
    );
    metrics::describe_counter!(
        "ferry_gateway_peer_auth_failures_total",
        "Peer connections refused for a bad gateway credential ([cluster] only)."
    );
}
