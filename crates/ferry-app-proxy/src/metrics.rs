//! The proxy's Prometheus metrics, recorded through the [`metrics`] facade (the binary serves
//! them with `--metrics ADDR`; see `ferry_app_core::admin`). Every name starts with `ferry_proxy_`, except the two every
//! program shares (`ferry_config_reloads_total`, `ferry_build_info`). [`describe`] gives each its
//! HELP text.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_proxy_connections_total` | counter | `listener`, `end` (the bridge's end labels, `tls_handshake_failed`, `no_route`, `upstream_unreachable`, `upstream_tls_failed`, `cut_at_drain`, `proxy_untrusted`, `proxy_header_invalid`, `proxy_header_timeout`) |
//! | `ferry_proxy_bytes_total` | counter | `listener`, `direction` (`client_to_upstream`, `upstream_to_client`) |
//! | `ferry_proxy_tls_handshakes_total` | counter | `listener`, `resumed` (`true`/`false`) |
//! | `ferry_proxy_active_connections` | gauge | `listener` |
//! | `ferry_config_reloads_total` | counter | `result` (`ok`, `error`) |
//! | `ferry_proxy_limits_hit_total` | counter | `listener`, `limit` (`rate`, `concurrency`, `listener_cap`, `data_rate` (once per connection that had to wait), `request_rate`, `cidr`, `window`) |
//! | `ferry_proxy_dump_dropped_total` | counter | `listener` (dump chunks dropped because the writer was behind) |
//!
//! Refused connections also count in `ferry_proxy_connections_total` with `end` = `limit_rate`,
//! `limit_concurrency`, `limit_listener_cap`, `denied_cidr` or `denied_window`; a session
//! ended by the request-unit rate has `end` = `limit_request_rate`.
//!
//! Errors by kind are the `end` label of `ferry_proxy_connections_total`: every connection ends with
//! exactly one label, and every label but `closed` names a kind of error or refusal.
//!
//! Upstream health and connect results are recorded by `ferry-pool` (see `ferry_pool::metrics`)
//! with labels `pool` and `upstream`: `ferry_upstream_up`, `ferry_upstream_healthy`,
//! `ferry_upstream_ejected`, `ferry_upstream_active_connections`, `ferry_upstream_endpoints`,
//! `ferry_upstream_connects_total{result}`, `ferry_upstream_ejections_total`,
//! `ferry_upstream_health_checks_total{result}` and `ferry_upstream_no_healthy_total`.

use std::sync::OnceLock;

/// Counter of config reloads, labelled `result`; shared by every program.
pub(crate) const CONFIG_RELOADS: &str = ferry_app_core::reload::CONFIG_RELOADS;

/// Gives every proxy metric (and the upstream pools' `ferry_upstream_*`) its HELP text in the
/// installed recorder. Call it after the recorder is installed (`ferry_app_core::admin::start`);
/// without a recorder it does nothing. [`crate::Proxy::run`] calls it.
pub(crate) fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "ferry_proxy_connections_total",
        "Connections that ended, by listener and by how they ended (end=closed for a normal close; every other end names an error or refusal)."
    );
    describe_counter!(
        "ferry_proxy_bytes_total",
        "Bytes relayed by ended connections, by listener and direction."
    );
    describe_counter!(
        "ferry_proxy_tls_handshakes_total",
        "Completed TLS handshakes, by listener and whether the session was resumed."
    );
    describe_gauge!(
        "ferry_proxy_active_connections",
        "Connections open now, by listener."
    );
    describe_counter!(
        "ferry_proxy_limits_hit_total",
        "Client limits that refused or slowed a connection, by listener and limit."
    );
    describe_counter!(
        "ferry_proxy_dump_dropped_total",
        "Payload dump chunks dropped because the dump writer was behind, by listener."
    );
    ferry_pool::metrics::describe();
}

/// The metric handles of one listener's connections, resolved at their first use (after the
/// program installed its recorder) rather than by name and labels on every connection: the
/// active-connections gauge, the normal close and the byte counters.
#[derive(Debug, Default)]
pub(crate) struct ListenerMetrics {
    active: OnceLock<metrics::Gauge>,
    closed: OnceLock<metrics::Counter>,
    bytes_up: OnceLock<metrics::Counter>,
    bytes_down: OnceLock<metrics::Counter>,
}

impl ListenerMetrics {
    /// Counts a connection of `listener` as active until the guard is dropped.
    pub(crate) fn active(&self, listener: &str) -> ActiveGuard {
        let gauge = self
            .active
            .get_or_init(|| {
                metrics::gauge!("ferry_proxy_active_connections", "listener" => listener.to_owned())
            })
            .clone();
        gauge.increment(1.0);
        ActiveGuard(gauge)
    }

    /// [`connection_ended`] through the cached handles (other ends than `closed` are looked
    /// up by name).
    pub(crate) fn connection_ended(&self, listener: &str, end: &'static str, up: u64, down: u64) {
        if end == "closed" {
            self.closed
                .get_or_init(|| {
                    metrics::counter!("ferry_proxy_connections_total", "listener" => listener.to_owned(), "end" => end)
                })
                .increment(1);
        } else {
            metrics::counter!("ferry_proxy_connections_total", "listener" => listener.to_owned(), "end" => end)
                .increment(1);
        }
        if up > 0 {
            self.bytes_up
                .get_or_init(|| {
                    metrics::counter!("ferry_proxy_bytes_total", "listener" => listener.to_owned(), "direction" => "client_to_upstream")
                })
                .increment(up);
        }
        if down > 0 {
            self.bytes_down
                .get_or_init(|| {
                    metrics::counter!("ferry_proxy_bytes_total", "listener" => listener.to_owned(), "direction" => "upstream_to_client")
                })
                .increment(down);
        }
    }
}

/// Counts one finished connection and its bytes.
pub(crate) fn connection_ended(listener: &str, end: &'static str, up: u64, down: u64) {
    metrics::counter!("ferry_proxy_connections_total", "listener" => listener.to_owned(), "end" => end)
        .increment(1);
    if up > 0 {
        metrics::counter!("ferry_proxy_bytes_total", "listener" => listener.to_owned(), "direction" => "client_to_upstream")
            .increment(up);
    }
    if down > 0 {
        metrics::counter!("ferry_proxy_bytes_total", "listener" => listener.to_owned(), "direction" => "upstream_to_client")
            .increment(down);
    }
}

/// Counts one completed TLS handshake.
pub(crate) fn tls_handshake(listener: &str, resumed: bool) {
    metrics::counter!(
        "ferry_proxy_tls_handshakes_total",
        "listener" => listener.to_owned(),
        "resumed" => if resumed { "true" } else { "false" }
    )
    .increment(1);
}

/// Tracks `ferry_proxy_active_connections` for one listener while alive (see
/// [`ListenerMetrics::active`]).
pub(crate) struct ActiveGuard(metrics::Gauge);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
