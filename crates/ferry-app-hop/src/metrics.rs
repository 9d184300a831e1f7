//! Prometheus metrics, recorded through the [`metrics`] facade (the binary serves them with
//! `--metrics ADDR`; see `ferry_app_core::admin`). Every name starts with `ferry_hop_`.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_hop_connections_total` | counter | `mode` (`serve`, `access`), `listener`, `end` (see below) |
//! | `ferry_hop_bytes_total` | counter | `mode`, `listener`, `direction` (`upstream`: from the client towards the destination, `downstream`) |
//! | `ferry_hop_active_connections` | gauge | `mode`, `listener` |
//! | `ferry_hop_udp_datagrams_total` | counter | `mode`, `listener`, `result` (`forwarded`; `replied`: a destination's reply relayed back; `refused`: answered with a failure status, nothing forwarded; `dropped`: no reply, e.g. not authenticated or the flow table full) |
//! | `ferry_hop_failovers_total` | counter | `chain` (the chain that failed and was skipped) |
//!
//! `end` is the bridge's end label for relayed connections (`closed`, `idle_timeout`, ...), or
//! why a connection was not relayed: for `serve` the rejection (`rate_limited`,
//! `too_many_connections`, `too_many_handshakes`, `handshake_timeout`, `closed_early`, `frame`,
//! `auth`, `malformed`, `stale`, `replayed`, `guard_full`, `hop_limit`, `denied`,
//! `dns_failure`, `refused`, `unreachable`, `timeout`, `cut_at_drain`); for `access`
//! `handshake_failed`, `auth_failed`, `blocked`, `chain_failed`, `direct_failed`,
//! `cut_at_drain`.

/// Counts one finished connection and its bytes.
pub(crate) fn connection_ended(
    mode: &'static str,
    listener: &str,
    end: &'static str,
    up: u64,
    down: u64,
) {
    metrics::counter!("ferry_hop_connections_total", "mode" => mode, "listener" => listener.to_owned(), "end" => end)
        .increment(1);
    if up > 0 {
        metrics::counter!("ferry_hop_bytes_total", "mode" => mode, "listener" => listener.to_owned(), "direction" => "upstream")
            .increment(up);
    }
    if down > 0 {
        metrics::counter!("ferry_hop_bytes_total", "mode" => mode, "listener" => listener.to_owned(), "direction" => "downstream")
            .increment(down);
    }
}

/// Counts one datagram.
pub(crate) fn datagram(mode: &'static str, listener: &str, result: &'static str) {
    metrics::counter!("ferry_hop_udp_datagrams_total", "mode" => mode, "listener" => listener.to_owned(), "result" => result)
        .increment(1);
}

/// Counts one chain that failed and was skipped for the next one.
pub(crate) fn failover(chain: &str) {
    metrics::counter!("ferry_hop_failovers_total", "chain" => chain.to_owned()).increment(1);
}

/// Tracks `ferry_hop_active_connections` while alive.
pub(crate) struct ActiveGuard(metrics::Gauge);

impl ActiveGuard {
    pub(crate) fn new(mode: &'static str, listener: &str) -> Self {
        let gauge = metrics::gauge!("ferry_hop_active_connections", "mode" => mode, "listener" => listener.to_owned());
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Gives every `ferry_hop_*` metric its `# HELP` text. Call once after the metrics recorder is
/// installed (after `ferry_app_core::admin::start`); without a recorder it does nothing.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "ferry_hop_connections_total",
        "Connections finished, by mode, listener and how they ended (relay end or rejection reason)."
    );
    metrics::describe_counter!(
        "ferry_hop_bytes_total",
        metrics::Unit::Bytes,
        "Bytes relayed, by mode, listener and direction (upstream: client towards destination)."
    );
    metrics::describe_gauge!(
        "ferry_hop_active_connections",
        "Connections open now (handshaking or relaying), by mode and listener."
    );
    metrics::describe_counter!(
        "ferry_hop_udp_datagrams_total",
        "Datagrams handled, by mode, listener and result (forwarded, replied, refused, dropped)."
    );
    metrics::describe_counter!(
        "ferry_hop_failovers_total",
        "Chains that failed and were skipped for the next one, by chain."
    );
}
