//! Metric names (through the `metrics` facade; every name starts with `ferry_tunnel_`).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `ferry_tunnel_agents_connected` | gauge | | authenticated agents with a live connection (gateway) |
//! | `ferry_tunnel_agent_auth_total` | counter | `result` = `ok`, `bad_credential`, `unavailable`, `malformed`, `timeout`, `handshake`, `alpn`, `refused` | agent authentication attempts (gateway) |
//! | `ferry_tunnel_agents_replaced_total` | counter | | connections closed because the same agent id authenticated again (gateway) |
//! | `ferry_tunnel_agents_revoked_total` | counter | | connections closed because their credential no longer verified at a [`Gateway::revalidate`](crate::Gateway::revalidate) (gateway) |
//! | `ferry_tunnel_tunnels_opened_total` | counter | `result` = `ok`, a [`TunnelStatus`](crate::TunnelStatus) label, `not_connected`, `timeout`, `stream_cap`, `connection_lost`, `protocol` | [`Gateway::open`](crate::Gateway::open) calls |
//! | `ferry_tunnel_agent_connects_total` | counter | `result` = `ok`, `rejected`, `failed` | agent connection attempts (agent) |
//! | `ferry_tunnel_agent_tunnels_total` | counter | `status` = a [`TunnelStatus`](crate::TunnelStatus) label | tunnel streams the agent answered (agent) |

pub(crate) const AGENTS_CONNECTED: &str = "ferry_tunnel_agents_connected";
pub(crate) const AGENT_AUTH: &str = "ferry_tunnel_agent_auth_total";
pub(crate) const AGENTS_REPLACED: &str = "ferry_tunnel_agents_replaced_total";
pub(crate) const AGENTS_REVOKED: &str = "ferry_tunnel_agents_revoked_total";
pub(crate) const TUNNELS_OPENED: &str = "ferry_tunnel_tunnels_opened_total";
pub(crate) const AGENT_CONNECTS: &str = "ferry_tunnel_agent_connects_total";
pub(crate) const AGENT_TUNNELS: &str = "ferry_tunnel_agent_tunnels_total";

/// Registers the HELP text of the gateway-side `ferry_tunnel_*` metrics with the installed
/// recorder (call it once the recorder is installed, for example after
/// `ferry_app_core::admin::start`). Without a recorder it does nothing.
pub fn describe_gateway_metrics() {
    metrics::describe_gauge!(
        AGENTS_CONNECTED,
        "Authenticated agents with a live connection to this gateway."
    );
    metrics::describe_counter!(
        AGENT_AUTH,
        "Agent authentication attempts, by result (ok, bad_credential, unavailable, malformed, timeout, handshake, alpn, refused)."
    );
    metrics::describe_counter!(
        AGENTS_REPLACED,
        "Agent connections closed because the same agent id authenticated again."
    );
    metrics::describe_counter!(
        AGENTS_REVOKED,
        "Agent connections closed because their credential no longer verified after a reload."
    );
    metrics::describe_counter!(
        TUNNELS_OPENED,
        "Tunnel opens towards agents, by result (ok, a tunnel status, not_connected, timeout, stream_cap, connection_lost, protocol)."
    );
}
