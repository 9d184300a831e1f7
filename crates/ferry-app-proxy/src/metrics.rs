//! The proxy's Prometheus metrics, recorded through the [`metrics`] facade (the binary serves
//! them with `--metrics ADDR`; see `ferry_app_core::admin`). Every name starts with `ferry_`.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_connections_total` | counter | `listener`, `end` (the bridge's end labels, `tls_handshake_failed`, `no_route`, `upstream_unreachable`, `upstream_tls_failed`, `cut_at_drain`, `proxy_untrusted`, `proxy_header_invalid`, `proxy_header_timeout`) |
//! | `ferry_bytes_total` | counter | `listener`, `direction` (`client_to_upstream`, `upstream_to_client`) |
//! | `ferry_tls_handshakes_total` | counter | `listener`, `resumed` (`true`/`false`) |
//! | `ferry_active_connections` | gauge | `listener` |
//! | `ferry_config_reloads_total` | counter | `result` (`ok`, `error`) |
//! | `ferry_limits_hit_total` | counter | `listener`, `limit` (`rate`, `concurrency`, `listener_cap`, `data_rate` (once per connection that had to wait), `request_rate`, `cidr`, `window`) |
//! | `ferry_dump_dropped_total` | counter | `listener` (dump chunks dropped because the writer was behind) |
//!
//! Refused connections also count in `ferry_connections_total` with `end` = `limit_rate`,
//! `limit_concurrency`, `limit_listener_cap`, `denied_cidr` or `denied_window`; a session
//! ended by the request-unit rate has `end` = `limit_request_rate`.
//!
//! Errors by kind are the `end` label of `ferry_connections_total`: every connection ends with
//! exactly one label, and every label but `closed` names a kind of error or refusal.
//!
//! Upstream health and connect results are recorded by `ferry-pool` (see `ferry_pool::metrics`)
//! with labels `pool` and `upstream`: `ferry_upstream_up`, `ferry_upstream_healthy`,
//! `ferry_upstream_ejected`, `ferry_upstream_active_connections`, `ferry_upstream_endpoints`,
//! `ferry_upstream_connects_total{result}`, `ferry_upstream_ejections_total`,
//! `ferry_upstream_health_checks_total{result}` and `ferry_upstream_no_healthy_total`.

/// Counter of config reloads, labelled `result`; shared by every program.
pub(crate) const CONFIG_RELOADS: &str = ferry_app_core::reload::CONFIG_RELOADS;

/// Counts one finished connection and its bytes.
pub(crate) fn connection_ended(listener: &str, end: &'static str, up: u64, down: u64) {
    metrics::counter!("ferry_connections_total", "listener" => listener.to_owned(), "end" => end)
        .increment(1);
    if up > 0 {
        metrics::counter!("ferry_bytes_total", "listener" => listener.to_owned(), "direction" => "client_to_upstream")
            .increment(up);
    }
    if down > 0 {
        metrics::counter!("ferry_bytes_total", "listener" => listener.to_owned(), "direction" => "upstream_to_client")
            .increment(down);
    }
}

/// Counts one completed TLS handshake.
pub(crate) fn tls_handshake(listener: &str, resumed: bool) {
    metrics::counter!(
        "ferry_tls_handshakes_total",
        "listener" => listener.to_owned(),
        "resumed" => if resumed { "true" } else { "false" }
    )
    .increment(1);
}

/// Tracks `ferry_active_connections` for one listener while alive.
pub(crate) struct ActiveGuard(metrics::Gauge);

impl ActiveGuard {
    pub(crate) fn new(listener: &str) -> Self {
        let gauge = metrics::gauge!("ferry_active_connections", "listener" => listener.to_owned());
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}
