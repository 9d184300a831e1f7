//! Client limits where the client is not the TCP peer, and across reloads: behind a trusted
//! load balancer (`accept_proxy`) the limits key on the PROXY header's source address, and a
//! reload that leaves a listener's limits unchanged keeps its limiter state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::{config, connect_from, proxied, refused_bytes, start, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BUSY: &str =
    "[listener.limits]\nper_client_connections = 1\naction = \"reply\"\nreply = \"busy\\n\"\n";

/// Connects from 127.0.0.1 (the "load balancer") and sends a v1 header naming `source`.
async fn via_balancer(proxy: SocketAddr, source: &str) -> TcpStream {
    let mut c = connect_from("127.0.0.1", proxy).await;
    let header = format!("PROXY TCP4 {source} 198.51.100.1 40000 443\r\n");
    c.write_all(header.as_bytes()).await.unwrap();
    c
}

/// Reads the upstream's tag byte: the connection went through.
async fn tag(c: &mut TcpStream) -> u8 {
    let mut t = [0u8; 1];
    c.read_exact(&mut t).await.unwrap();
    t[0]
}

#[tokio::test]
async fn limits_key_on_the_proxy_header_source_not_the_balancer() {
    let up = upstream(b'A').await;
    let extra = format!("accept_proxy = {{ trusted = [\"127.0.0.1/32\"] }}\n{BUSY}");
    let p = start(config(up.addr, &extra)).await;
    let mut first = via_balancer(p.addr(), "192.0.2.1").await;
    assert_eq!(tag(&mut first).await, b'A');
    // Same client behind the same balancer: over its limit of one open connection.
    let second = via_balancer(p.addr(), "192.0.2.1").await;
    assert_eq!(refused_bytes(second).await, b"busy\n");
    // Another client through the same balancer (same TCP peer) has its own budget.
    let mut other = via_balancer(p.addr(), "192.0.2.2").await;
    assert_eq!(tag(&mut other).await, b'A');
    drop((first, other));
    let report = p.stop().await;
    assert_eq!(report.refused, 1);
    assert_eq!(
        up.accepted(),
        2,
        "the refused connection never reached the upstream"
    );
}

#[tokio::test]
async fn reload_keeps_limiter_state_when_the_limits_are_unchanged() {
    let up = upstream(b'A').await;
    let p = start(config(up.addr, BUSY)).await;
    let held = proxied("127.0.0.1", p.addr()).await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", p.addr()).await).await,
        b"busy\n"
    );
    // Another timeout, the same limits: the open connection still counts.
    let same_limits = config(up.addr, &format!("idle_timeout = \"5m\"\n{BUSY}"));
    p.reloader.reload_config(same_limits).unwrap();
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", p.addr()).await).await,
        b"busy\n",
        "a reload with the same limits must not reset the per-client count"
    );
    // New limits start from a clean state (documented): two per client now.
    let raised = config(up.addr, &BUSY.replace("= 1", "= 2"));
    p.reloader.reload_config(raised).unwrap();
    let again = proxied("127.0.0.1", p.addr()).await;
    drop((held, again));
    let report = p.stop().await;
    assert_eq!(report.refused, 2);
    assert_eq!(up.accepted(), 2);
}
