//! Names and recording of the `ferry_upstream_*` metrics (through the [`metrics`] facade; no
//! exporter here). Labels: `pool` and, per endpoint, `upstream` (the endpoint address).

use std::net::SocketAddr;

/// Gauge: 1 while the endpoint may be picked (healthy and not ejected), else 0.
pub const UP: &str = "ferry_upstream_up";
/// Gauge: 1 while active health checks consider the endpoint up, else 0.
pub const HEALTHY: &str = "ferry_upstream_healthy";
/// Gauge: 1 while the endpoint is passively ejected, else 0.
pub const EJECTED: &str = "ferry_upstream_ejected";
/// Gauge: connections counted against the endpoint (connecting or handed out and not dropped).
pub const ACTIVE: &str = "ferry_upstream_active_connections";
/// Counter: connect attempts, with label `result` = `ok`, `error`, `timeout` (the attempt's own
/// timeout) or `budget` (cut short by the end of the connect budget; not counted for passive
/// ejection).
pub const CONNECTS: &str = "ferry_upstream_connects_total";
/// Counter: passive ejections.
pub const EJECTIONS: &str = "ferry_upstream_ejections_total";
/// Counter: health probes, with label `result` = `ok` or `fail`.
pub const HEALTH_CHECKS: &str = "ferry_upstream_health_checks_total";
/// Counter (label `pool` only): connects that found no endpoint to try.
pub const NO_HEALTHY: &str = "ferry_upstream_no_healthy_total";
/// Gauge (label `pool` only): endpoints in the pool (after DNS resolution).
pub const ENDPOINTS: &str = "ferry_upstream_endpoints";

/// Gives every `ferry_upstream_*` metric its HELP text in the installed recorder (a no-op
/// without one). Programs call it once, after installing their recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        UP,
        "1 while the endpoint may be picked (healthy and not ejected), else 0."
    );
    describe_gauge!(
        HEALTHY,
        "1 while active health checks consider the endpoint up, else 0."
    );
    describe_gauge!(
        EJECTED,
        "1 while the endpoint is passively ejected, else 0."
    );
    describe_gauge!(
        ACTIVE,
        "Connections counted against the endpoint (connecting, or handed out and not dropped)."
    );
    describe_counter!(
        CONNECTS,
        "Connect attempts to the endpoint, by result (ok, error, timeout, budget)."
    );
    describe_counter!(EJECTIONS, "Passive ejections of the endpoint.");
    describe_counter!(
        HEALTH_CHECKS,
        "Active health probes of the endpoint, by result (ok, fail)."
    );
    describe_counter!(
        NO_HEALTHY,
        "Connects that found no endpoint of the pool to try."
    );
    describe_gauge!(ENDPOINTS, "Endpoints in the pool after DNS resolution.");
}

pub(crate) fn labels(pool: &str, addr: SocketAddr) -> [(&'static str, String); 2] {
    [("pool", pool.to_owned()), ("upstream", addr.to_string())]
}

pub(crate) fn flag(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

pub(crate) fn labels_with_result(
    pool: &str,
    addr: SocketAddr,
    result: &'static str,
) -> [(&'static str, String); 3] {
    [
        ("pool", pool.to_owned()),
        ("upstream", addr.to_string()),
        ("result", result.to_owned()),
    ]
}
