//! `ferry_proxy_limits_hit_total{listener,limit}` and the `end` label of refused connections, read
//! from the Prometheus exporter the binary installs (this test file is its own process, so the
//! global recorder is its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{connect_from, proxied, refused_bytes, upstream};
use ferry_app_proxy::{self as proxy, FixedClock, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of the sample of `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn every_limit_is_counted_with_its_label() {
    let metrics = ferry_app_core::admin::install_prometheus().unwrap();
    let up = upstream(b'A').await;
    let u = up.addr;
    let config = ProxyConfig::from_toml(&format!(
        r#"
[[listener]]
name = "rate"
bind = "127.0.0.1:0"
pool = "p"
[listener.limits]
connection_rate = "1/m"

[[listener]]
name = "conc"
bind = "127.0.0.1:0"
pool = "p"
[listener.limits]
per_client_connections = 1

[[listener]]
name = "cap"
bind = "127.0.0.1:0"
pool = "p"
[listener.limits]
max_connections = 1

[[listener]]
name = "cidr"
bind = "127.0.0.1:0"
pool = "p"
[listener.access]
deny = ["127.0.0.0/8"]

[[listener]]
name = "window"
bind = "127.0.0.1:0"
pool = "p"
[listener.access]
windows = ["08:00-09:00"]

[[listener]]
name = "req"
bind = "127.0.0.1:0"
pool = "p"
[listener.limits]
request_rate = "1/m"

[[listener]]
name = "data"
bind = "127.0.0.1:0"
pool = "p"
[listener.limits]
data_rate = 200000
data_burst = 1000

[pool.p]
upstreams = ["{u}"]
"#
    ))
    .unwrap();
    // 12:00 UTC: outside the window.
    let p = Proxy::new(config)
        .unwrap()
        .with_clock(Arc::new(FixedClock(20_000 * 86_400 + 12 * 3600)));
    let listeners = proxy::bind_all(p.config()).unwrap();
    let a: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(p.run(listeners, async {
        let _ = stopped.await;
    }));

    let first = proxied("127.0.0.1", a[0]).await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", a[0]).await).await,
        b""
    );
    let held = proxied("127.0.0.1", a[1]).await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", a[1]).await).await,
        b""
    );
    let capped = proxied("127.0.0.1", a[2]).await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.2", a[2]).await).await,
        b""
    );
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", a[3]).await).await,
        b""
    );
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", a[4]).await).await,
        b""
    );
    let mut req = proxied("127.0.0.1", a[5]).await;
    req.write_all(b"1").await.unwrap();
    req.read_exact(&mut [0u8; 1]).await.unwrap();
    req.write_all(b"2").await.unwrap();
    assert_eq!(refused_bytes(req).await, b"");
    let mut data = proxied("127.0.0.1", a[6]).await;
    data.write_all(&[7u8; 20_000]).await.unwrap();
    data.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    data.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed.len(), 20_000);
    drop((first, held, capped));
    stop.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.refused, 5);

    let text = metrics.render();
    for (listener, limit, end) in [
        ("rate", "rate", Some("limit_rate")),
        ("conc", "concurrency", Some("limit_concurrency")),
        ("cap", "listener_cap", Some("limit_listener_cap")),
        ("cidr", "cidr", Some("denied_cidr")),
        ("window", "window", Some("denied_window")),
        ("req", "request_rate", Some("limit_request_rate")),
        ("data", "data_rate", None),
    ] {
        assert_eq!(
            sample(
                &text,
                "ferry_proxy_limits_hit_total",
                &[("listener", listener), ("limit", limit)]
            ),
            Some(1.0),
            "{listener}/{limit}:\n{text}"
        );
        if let Some(end) = end {
            assert_eq!(
                sample(
                    &text,
                    "ferry_proxy_connections_total",
                    &[("listener", listener), ("end", end)]
                ),
                Some(1.0),
                "{listener}/{end}:\n{text}"
            );
        }
    }
}
