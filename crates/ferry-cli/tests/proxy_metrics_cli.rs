//! `ferry-proxy --metrics ADDR`: Prometheus text at `/metrics` with the proxy's counters, and
//! `/healthz`, served by the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use support::{echo_upstream, sigterm, spawn_proxy};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_endpoint_counts_connections_and_bytes() {
    let up = echo_upstream(b'M');
    let mut p = spawn_proxy(
        "",
        &format!("--listen 127.0.0.1:0 --upstream {up} --metrics 127.0.0.1:0"),
    );
    let line = p
        .startup
        .iter()
        .find(|l| l.contains("metrics_addr="))
        .expect("the metrics address is logged before the listeners")
        .clone();
    let at = line.find("metrics_addr=").unwrap() + "metrics_addr=".len();
    let admin: SocketAddr = line[at..].split(' ').next().unwrap().parse().unwrap();

    let health = get(admin, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");

    // One proxied connection: 5 bytes up, the tag plus 5 echoed bytes down.
    let mut c = TcpStream::connect(p.addr).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"Mhello");
    p.wait_for_log("bytes_up=5");

    let m = get(admin, "/metrics");
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(
        m.contains(r#"ferry_proxy_connections_total{listener="listen",end="closed"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"ferry_proxy_bytes_total{listener="listen",direction="client_to_upstream"} 5"#
        ),
        "{m}"
    );
    assert!(
        m.contains(
            r#"ferry_proxy_bytes_total{listener="listen",direction="upstream_to_client"} 6"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"ferry_proxy_active_connections{listener="listen"} 0"#),
        "{m}"
    );
    // Every family has its HELP text, and the build is named.
    for family in [
        "ferry_proxy_connections_total",
        "ferry_proxy_bytes_total",
        "ferry_proxy_active_connections",
        "ferry_build_info",
    ] {
        assert!(m.contains(&format!("# HELP {family} ")), "{family}: {m}");
    }
    assert!(
        m.contains(&format!(
            r#"ferry_build_info{{program="ferry-proxy",version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        )),
        "{m}"
    );

    sigterm(&p.child);
    assert!(p.child.wait().unwrap().success());
}
