//! The gateway's per-transport gauges, `ferry_tunnel_agents_connected{transport}` (agents by
//! their group's first connection) and `ferry_tunnel_agent_connections{transport}`, as agents
//! and the members of their connection groups come, are replaced and go. A test binary of its
//! own: the gauges are process-wide, and the `tunnel` tests run gateways side by side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "tunnel/common.rs"]
#[allow(dead_code, unused_imports, unused_macros)]
mod common;

use common::*;
use ferry_tunnel::wire::AuthReply;
use ferry_tunnel::{Gateway, TransportKind};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// (agents over QUIC, agents over TCP, connections over QUIC, connections over TCP).
type Gauges = (f64, f64, f64, f64);

fn gauges(metrics: &PrometheusHandle) -> Gauges {
    let text = metrics.render();
    let read = |name: &str, transport: &str| {
        ferry_test_support::metric(&text, name, &[("transport", transport)])
            .unwrap_or_else(|| panic!("no {name}{{transport={transport}}} in\n{text}"))
    };
    (
        read("ferry_tunnel_agents_connected", "quic"),
        read("ferry_tunnel_agents_connected", "tcp"),
        read("ferry_tunnel_agent_connections", "quic"),
        read("ferry_tunnel_agent_connections", "tcp"),
    )
}

/// The same numbers counted from the gateway's own view of `agents`: agents by the
/// transport of their first connection, and all their connections.
fn recount(gateway: &Gateway, agents: &[&str]) -> (f64, f64, f64) {
    let on = |kind| {
        agents
            .iter()
            .filter(|a| gateway.agent_transport(&id(a)) == Some(kind))
            .count()
    };
    let connections: usize = agents
        .iter()
        .map(|a| gateway.agent_connections(&id(a)))
        .sum();
    #[allow(clippy::cast_precision_loss)]
    (
        on(TransportKind::Quic) as f64,
        on(TransportKind::Tcp) as f64,
        connections as f64,
    )
}

/// Checks the gauges against `want` and against a recount of the table.
fn check(metrics: &PrometheusHandle, gateway: &Gateway, step: &str, want: Gauges) {
    let got = gauges(metrics);
    assert_eq!(got, want, "{step}: gauges");
    let (quic, tcp, connections) = recount(gateway, &["site-1", "site-2"]);
    assert_eq!(
        (got.0, got.1, got.2 + got.3),
        (quic, tcp, connections),
        "{step}: gauges against a recount"
    );
}

#[tokio::test]
async fn gauges_follow_groups_their_members_and_replacements() {
    let metrics = PrometheusBuilder::new().install_recorder().unwrap();
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let g = gw.gateway.clone();
    let site = id("site-1");
    let conns = |n| move |g: &Gateway| g.agent_connections(&id("site-1")) == n;

    // site-1: members 0 and 1 over QUIC, member 2 over TCP.
    let (_e0, a0, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 0)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a0", conns(1)).await;
    check(&metrics, &g, "member 0", (1.0, 0.0, 1.0, 0.0));
    let (_e1, a1, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 1)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a1", conns(2)).await;
    let _a2 = raw_tcp_agent(&pki, gw.addr, "site-1", member(0xa, 2)).await;
    until(&g, "a2", conns(3)).await;
    check(&metrics, &g, "three members", (1.0, 0.0, 2.0, 1.0));

    // site-2: one connection (version 1) over TCP.
    let b = raw_tcp_agent(&pki, gw.addr, "site-2", None).await;
    registered(&g, &id("site-2")).await;
    check(&metrics, &g, "site-2", (1.0, 1.0, 2.0, 2.0));

    // site-1's member 1 reconnects over TCP: it replaces its QUIC connection.
    let _a1b = raw_tcp_agent(&pki, gw.addr, "site-1", member(0xa, 1)).await;
    a1.closed().await;
    check(&metrics, &g, "member 1 replaced", (1.0, 1.0, 1.0, 3.0));

    // site-1's member 0 goes: its first connection is now member 1, over TCP.
    a0.close(0u32.into(), b"bye");
    until(&g, "a0 gone", conns(2)).await;
    assert_eq!(g.agent_transport(&site), Some(TransportKind::Tcp));
    check(&metrics, &g, "member 0 gone", (0.0, 2.0, 0.0, 3.0));

    // A new group of site-1 over QUIC replaces both TCP members.
    let (_e2, c0, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xb, 0)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "the new group alone", |g| {
        g.agent_connections(&site) == 1 && g.agent_transport(&site) == Some(TransportKind::Quic)
    })
    .await;
    check(&metrics, &g, "group replaced", (1.0, 1.0, 1.0, 1.0));

    // The agents go.
    drop(b);
    until(&g, "site-2 gone", |g| !g.is_connected(&id("site-2"))).await;
    check(&metrics, &g, "site-2 gone", (1.0, 0.0, 1.0, 0.0));
    c0.close(0u32.into(), b"bye");
    until(&g, "site-1 gone", |g| !g.is_connected(&site)).await;
    check(&metrics, &g, "none", (0.0, 0.0, 0.0, 0.0));
    gw.stop().await;
}
