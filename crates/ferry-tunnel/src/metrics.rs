//! Metric names (through the `metrics` facade). The gateway half's names start with
//! `ferry_tunnel_`, the agent half's with `ferry_agent_` (they are what the `ferry-agent`
//! program's `/metrics` shows). [`describe_gateway_metrics`] and [`describe_agent_metrics`] give
//! each half its HELP text.
//!
//! Gateway:
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `ferry_tunnel_agents_connected` | gauge | `transport` = `quic`, `tcp` | authenticated agents with a live connection (gateway) |
//! | `ferry_tunnel_agent_connections` | gauge | `transport` = `quic`, `tcp` | live agent connections, every member of every agent's connection group (gateway) |
//! | `ferry_tunnel_agent_auth_total` | counter | `result` = `ok`, `bad_credential`, `unavailable`, `malformed`, `timeout`, `handshake`, `alpn`, `refused`, `probe` (an agent's QUIC probe, closed after the handshake), `no_group` (a group member whose group is not connected here), `group_full`; `transport` = `quic`, `tcp` | agent authentication attempts, one per connection (gateway) |
//! | `ferry_tunnel_agents_replaced_total` | counter | | connections closed because the same agent id authenticated again (gateway) |
//! | `ferry_tunnel_agents_revoked_total` | counter | | connections closed because their credential no longer verified at a [`Gateway::revalidate`](crate::Gateway::revalidate) (gateway) |
//! | `ferry_tunnel_tunnels_opened_total` | counter | `result` = `ok`, a [`TunnelStatus`](crate::TunnelStatus) label, `not_connected`, `timeout`, `stream_cap`, `connection_lost`, `protocol`, `udp_unsupported` | [`Gateway::open`](crate::Gateway::open) and [`Gateway::open_udp`](crate::Gateway::open_udp) calls |
//!
//! Agent (these were `ferry_tunnel_agent_connects_total` and `ferry_tunnel_agent_tunnels_total`
//! before the agent program had a metrics endpoint):
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `ferry_agent_connected` | gauge | | 1 while an authenticated connection to the gateway is up, else 0 |
//! | `ferry_agent_connections` | gauge | | live connections of the agent's connection group (its first connection included) |
//! | `ferry_agent_connects_total` | counter | `kind` = `initial` (no connection yet since start), `reconnect`, `group` (a connection of the group other than the first); `result` = `ok`, `rejected`, `failed`; `transport` = `quic`, `tcp` (the one that connected, or the last one tried) | connection attempts |
//! | `ferry_agent_transport` | gauge | `transport` = `quic`, `tcp` | 1 for the transport of the live connection, 0 for the other |
//! | `ferry_agent_transport_fallbacks_total` | counter | | times `transport = auto` fell back from QUIC to TCP |
//! | `ferry_agent_quic_probes_total` | counter | `result` = `ok`, `failed` | background QUIC probes while on TCP in auto mode |
//! | `ferry_agent_disconnects_total` | counter | `reason` = `lost`, `replaced` | authenticated connections that ended other than by shutdown |
//! | `ferry_agent_tunnels_total` | counter | `status` = a [`TunnelStatus`](crate::TunnelStatus) label (`ok`, `denied`, `refused`, `unreachable`, `timeout`, `dns_failure`, `failure`, `unavailable`, `malformed`, `unsupported_version`) | tunnel streams answered: the dial result |
//! | `ferry_agent_active_tunnels` | gauge | | tunnels relaying now |
//! | `ferry_agent_bytes_total` | counter | `direction` = `gateway_to_destination`, `destination_to_gateway` | bytes relayed, counted when a tunnel ends (UDP tunnels: datagram payload bytes) |
//! | `ferry_agent_udp_datagrams_total` | counter | `direction` = `gateway_to_destination`, `destination_to_gateway` | datagrams relayed by UDP tunnels, counted when a tunnel ends |

pub(crate) const AGENTS_CONNECTED: &str = "ferry_tunnel_agents_connected";
pub(crate) const AGENT_AUTH: &str = "ferry_tunnel_agent_auth_total";
pub(crate) const AGENT_GROUP_CONNECTIONS: &str = "ferry_tunnel_agent_connections";
pub(crate) const AGENTS_REPLACED: &str = "ferry_tunnel_agents_replaced_total";
pub(crate) const AGENTS_REVOKED: &str = "ferry_tunnel_agents_revoked_total";
pub(crate) const TUNNELS_OPENED: &str = "ferry_tunnel_tunnels_opened_total";

/// Gauge: 1 while the agent's authenticated connection is up.
pub const AGENT_CONNECTED: &str = "ferry_agent_connected";
/// Gauge: live connections of the agent's connection group.
pub const AGENT_CONNECTIONS: &str = "ferry_agent_connections";
/// Counter: the agent's connection attempts, by `kind` and `result`.
pub const AGENT_CONNECTS: &str = "ferry_agent_connects_total";
/// Counter: the agent's connections that were lost or replaced, by `reason`.
pub const AGENT_DISCONNECTS: &str = "ferry_agent_disconnects_total";
/// Counter: tunnel streams the agent answered, by `status`.
pub const AGENT_TUNNELS: &str = "ferry_agent_tunnels_total";
/// Gauge: tunnels the agent relays now.
pub const AGENT_ACTIVE_TUNNELS: &str = "ferry_agent_active_tunnels";
/// Counter: bytes the agent relayed, by `direction`.
pub const AGENT_BYTES: &str = "ferry_agent_bytes_total";
/// Counter: datagrams the agent relayed on UDP tunnels, by `direction`.
pub const AGENT_UDP_DATAGRAMS: &str = "ferry_agent_udp_datagrams_total";
/// Gauge: 1 for the transport (`quic`, `tcp`) of the live connection, 0 for the other.
pub const AGENT_TRANSPORT: &str = "ferry_agent_transport";
/// Counter: times `transport = auto` fell back from QUIC to TCP.
pub const AGENT_FALLBACKS: &str = "ferry_agent_transport_fallbacks_total";
/// Counter: background QUIC probes while on TCP in auto mode, by `result` (`ok`, `failed`).
pub const AGENT_QUIC_PROBES: &str = "ferry_agent_quic_probes_total";

/// Gives every agent-side metric its HELP text (call it once the recorder is installed, for
/// example after starting the admin endpoint).
pub fn describe_agent_metrics() {
    metrics::describe_gauge!(
        AGENT_CONNECTED,
        "1 while the authenticated connection to the gateway is up, else 0."
    );
    metrics::describe_gauge!(
        AGENT_CONNECTIONS,
        "Live connections of the agent's connection group to the gateway (the first included)."
    );
    metrics::describe_counter!(
        AGENT_CONNECTS,
        "Connection attempts to the gateway, by kind (initial, reconnect) and result (ok, rejected, failed)."
    );
    metrics::describe_counter!(
        AGENT_DISCONNECTS,
        "Authenticated connections to the gateway that ended other than by shutdown, by reason (lost, replaced)."
    );
    metrics::describe_counter!(
        AGENT_TUNNELS,
        "Tunnel streams answered, by status: ok, or why the destination was not dialled or not reached (denied, refused, unreachable, timeout, dns_failure, ...)."
    );
    metrics::describe_gauge!(AGENT_ACTIVE_TUNNELS, "Tunnels relaying bytes now.");
    metrics::describe_gauge!(
        AGENT_TRANSPORT,
        "1 for the transport (quic, tcp) of the live connection to the gateway, 0 for the other."
    );
    metrics::describe_counter!(
        AGENT_FALLBACKS,
        "Times transport = auto fell back from QUIC to TCP (QUIC did not connect in time)."
    );
    metrics::describe_counter!(
        AGENT_QUIC_PROBES,
        "Background QUIC probes while connected over TCP in auto mode, by result (ok, failed)."
    );
    metrics::describe_counter!(
        AGENT_BYTES,
        "Bytes relayed through tunnels, by direction, counted when a tunnel ends."
    );
    metrics::describe_counter!(
        AGENT_UDP_DATAGRAMS,
        "Datagrams relayed by UDP tunnels, by direction, counted when a tunnel ends."
    );
}

/// Registers the HELP text of the gateway-side `ferry_tunnel_*` metrics with the installed
/// recorder (call it once the recorder is installed, for example after
/// `ferry_app_core::admin::start`). Without a recorder it does nothing.
pub fn describe_gateway_metrics() {
    metrics::describe_gauge!(
        AGENTS_CONNECTED,
        "Authenticated agents with a live connection to this gateway."
    );
    metrics::describe_gauge!(
        AGENT_GROUP_CONNECTIONS,
        "Live agent connections to this gateway: every connection of every agent's connection group."
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

/// The per-tunnel metrics with fixed labels, through handles resolved at their first use
/// rather than looked up by name and labels on every tunnel. The first tunnel resolves them
/// with the recorder installed then, so a program installs its recorder before it opens or
/// serves tunnels (the Ferry programs do, at start-up). Rarer labels are looked up by name.
pub(crate) mod handles {
    use std::sync::OnceLock;

    use metrics::{Counter, Gauge};

    use super::{AGENT_ACTIVE_TUNNELS, AGENT_BYTES, AGENT_TUNNELS, TUNNELS_OPENED};

    /// `ferry_tunnel_tunnels_opened_total{result}`.
    pub(crate) fn tunnel_opened(result: &'static str) {
        static OK: OnceLock<Counter> = OnceLock::new();
        if result == "ok" {
            OK.get_or_init(|| metrics::counter!(TUNNELS_OPENED, "result" => "ok"))
                .increment(1);
        } else {
            metrics::counter!(TUNNELS_OPENED, "result" => result).increment(1);
        }
    }

    /// `ferry_agent_tunnels_total{status}`.
    pub(crate) fn agent_tunnel(status: &'static str) {
        static OK: OnceLock<Counter> = OnceLock::new();
        if status == "ok" {
            OK.get_or_init(|| metrics::counter!(AGENT_TUNNELS, "status" => "ok"))
                .increment(1);
        } else {
            metrics::counter!(AGENT_TUNNELS, "status" => status).increment(1);
        }
    }

    /// `ferry_agent_active_tunnels`.
    pub(crate) fn agent_active() -> &'static Gauge {
        static ACTIVE: OnceLock<Gauge> = OnceLock::new();
        ACTIVE.get_or_init(|| metrics::gauge!(AGENT_ACTIVE_TUNNELS))
    }

    /// `ferry_agent_bytes_total{direction}`, for a tunnel that relayed `up` bytes to the
    /// destination and `down` from it (nothing is counted for a zero).
    pub(crate) fn agent_bytes(up: u64, down: u64) {
        static UP: OnceLock<Counter> = OnceLock::new();
        static DOWN: OnceLock<Counter> = OnceLock::new();
        if up > 0 {
            UP.get_or_init(
                || metrics::counter!(AGENT_BYTES, "direction" => "gateway_to_destination"),
            )
            .increment(up);
        }
        if down > 0 {
            DOWN.get_or_init(
                || metrics::counter!(AGENT_BYTES, "direction" => "destination_to_gateway"),
            )
            .increment(down);
        }
    }
}
