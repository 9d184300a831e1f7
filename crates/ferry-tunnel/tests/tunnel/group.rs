//! Connection groups: an agent's several connections count as one agent, tunnels spread over
//! them, and only the group's first connection starts a group or replaces another.

use ferry_tunnel::Transport;
use ferry_tunnel::wire::{AuthReply, RejectReason, close_code};
use quinn::{ConnectionError, VarInt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::tunnels::{client, dest};

both_transports! {
/// Four connections register as one agent; eight tunnels opened at once go two to each
/// connection, and every one carries its bytes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_connections_are_one_agent_and_tunnels_spread_over_them() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.connections = std::num::NonZeroU8::new(4);
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.connections == 4).await;
    assert!(status.connected);
    let site = id("site-1");
    until(&gw.gateway, "4 connections at the gateway", |g| g.agent_connections(&site) == 4).await;
    assert_eq!(gw.gateway.connected_agents(), 1);
    let echo = echo_server().await;
    let opens = (0..8).map(|_| gw.gateway.open(&site, dest(echo), client()));
    let mut tunnels = Vec::new();
    for open in opens {
        tunnels.push(open.await.unwrap());
    }
    assert_eq!(
        gw.gateway.agent_connection_tunnels(&site),
        vec![(0, 2), (1, 2), (2, 2), (3, 2)]
    );
    let mut tasks = Vec::new();
    for (i, tunnel) in tunnels.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let data = payload(256 * 1024 + i, u64::try_from(i).unwrap());
            let back = round_trip(tunnel, &data).await;
            assert!(back == data, "tunnel {i} differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        gw.gateway.agent_connection_tunnels(&site),
        vec![(0, 0), (1, 0), (2, 0), (3, 0)]
    );
    agent.stop().await;
    until(&gw.gateway, "agent gone", |g| !g.is_connected(&site)).await;
    gw.stop().await;
}
}

both_transports! {
/// `connections = 1` holds one connection (version 1 auth), as before groups.
#[tokio::test]
async fn one_connection_when_asked() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.connections = Some(std::num::NonZeroU8::MIN);
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.connections, 1);
    let site = id("site-1");
    until(&gw.gateway, "registered", |g| g.is_connected(&site)).await;
    assert_eq!(gw.gateway.agent_connections(&site), 1);
    let echo = echo_server().await;
    let tunnel = gw.gateway.open(&site, dest(echo), client()).await.unwrap();
    let data = payload(64 * 1024, 9);
    assert!(round_trip(tunnel, &data).await == data);
    agent.stop().await;
    gw.stop().await;
}
}

/// Unset, `connections` is 4 on the TCP transport and 1 on QUIC: the group's size follows
/// the first connection's transport.
#[tokio::test]
async fn unset_connections_follow_the_transport() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let site = id("site-1");
    for (transport, want) in [(Transport::Tcp, 4), (Transport::Quic, 1)] {
        let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
        config.transport = transport;
        assert_eq!(config.connections, None);
        let mut agent = start_agent(config);
        agent
            .wait_for(|s| s.connected && s.connections == want)
            .await;
        until(&gw.gateway, "the group at the gateway", |g| {
            g.agent_connections(&site) == usize::from(want)
        })
        .await;
        agent.stop().await;
        until(&gw.gateway, "agent gone", |g| !g.is_connected(&site)).await;
    }
    gw.stop().await;
}

fn closed_with(conn: &quinn::Connection) -> Option<VarInt> {
    match conn.close_reason()? {
        ConnectionError::ApplicationClosed(c) => Some(c.error_code),
        _ => None,
    }
}

/// The rules of the table in docs/tunnel.md, "Connection groups", one row after the other.
#[tokio::test]
async fn only_the_first_member_starts_or_replaces_a_group() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let g = gw.gateway.clone();
    let site = id("site-1");

    // A member above 0 with no group here: refused, nothing registered.
    let (_e, c, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 1)).await;
    assert_eq!(reply, AuthReply::Rejected(RejectReason::NoGroup));
    c.closed().await;
    assert_eq!(closed_with(&c), Some(close_code::AUTH_REJECTED.into()));
    assert!(!g.is_connected(&site));

    // Member 0 of group A starts it; member 1 of A joins; member 1 of B is refused.
    let (_e0, a0, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 0)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a0 registered", |g| g.agent_connections(&site) == 1).await;
    let (_e1, a1, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 1)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a1 joined", |g| g.agent_connections(&site) == 2).await;
    let (_eb, _b1, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xb, 1)).await;
    assert_eq!(reply, AuthReply::Rejected(RejectReason::NoGroup));

    // An index at the gateway's limit (8 by default) is refused as group full.
    let (_ef, _f, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 8)).await;
    assert_eq!(reply, AuthReply::Rejected(RejectReason::GroupFull));
    assert_eq!(g.agent_connections(&site), 2);

    // Member 1 of A again (it reconnects): replaces its own old connection only.
    let (_e1b, a1b, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 1)).await;
    assert_eq!(reply, AuthReply::Ok);
    a1.closed().await;
    assert_eq!(closed_with(&a1), Some(close_code::REPLACED.into()));
    assert!(a0.close_reason().is_none());
    until(&g, "still two", |g| g.agent_connections(&site) == 2).await;

    // Member 0 of group B: a new group that replaces all of A.
    let (_e2, b0, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xb, 0)).await;
    assert_eq!(reply, AuthReply::Ok);
    a0.closed().await;
    a1b.closed().await;
    assert_eq!(closed_with(&a0), Some(close_code::REPLACED.into()));
    assert_eq!(closed_with(&a1b), Some(close_code::REPLACED.into()));
    until(&g, "B alone", |g| g.agent_connections(&site) == 1).await;

    // A member of the replaced group cannot take the id back.
    let (_e3, _a2, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, 2)).await;
    assert_eq!(reply, AuthReply::Rejected(RejectReason::NoGroup));

    // A version 1 connection (one connection, no group) replaces the group too.
    let (_e4, v1, reply) = raw_agent(&pki, gw.addr, "site-1", None).await;
    assert_eq!(reply, AuthReply::Ok);
    b0.closed().await;
    assert_eq!(closed_with(&b0), Some(close_code::REPLACED.into()));
    until(&g, "v1 alone", |g| g.agent_connections(&site) == 1).await;
    assert!(v1.close_reason().is_none());
    gw.stop().await;
}

/// When the group's first connection goes, the agent stays connected through the others;
/// with the last one it is gone.
#[tokio::test]
async fn the_agent_stays_connected_while_any_member_is() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let g = gw.gateway.clone();
    let site = id("site-1");
    let (_e0, a0, _) = raw_agent(&pki, gw.addr, "site-1", member(0xc, 0)).await;
    until(&g, "a0", |g| g.agent_connections(&site) == 1).await;
    let (_e1, a1, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xc, 1)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a1", |g| g.agent_connections(&site) == 2).await;
    a0.close(0u32.into(), b"bye");
    until(&g, "a0 gone", |g| g.agent_connections(&site) == 1).await;
    assert!(g.is_connected(&site));
    assert_eq!(g.agent_connection_tunnels(&site), vec![(1, 0)]);
    // Member 0 comes back and joins the surviving member.
    let (_e0b, _a0b, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xc, 0)).await;
    assert_eq!(reply, AuthReply::Ok);
    until(&g, "a0 back", |g| g.agent_connections(&site) == 2).await;
    assert!(a1.close_reason().is_none());
    gw.stop().await;
}

/// A gateway older than connection groups answers the version 2 auth message with
/// `unsupported_version`: the agent connects again at once with version 1 and holds one
/// connection.
#[tokio::test]
async fn an_old_gateway_gets_one_version_1_connection() {
    let pki = Pki::new();
    let gateway = RawTcpGateway::bind(&pki).await;
    let mut config = agent_config(&pki, gateway.addr(), "site-1", "token-site-1", "127.0.0.1");
    config.transport = Transport::Tcp;
    let mut agent = start_agent(config);

    // First connection: version 2 (member 0), answered as an old gateway would.
    let mut tls = gateway.accept().await;
    let mut first = [0u8; 1];
    tls.read_exact(&mut first).await.unwrap();
    assert_eq!(first[0], 0x02, "a group member's auth message is version 2");
    write_auth_reply(
        &mut tls,
        AuthReply::Rejected(RejectReason::UnsupportedVersion),
    )
    .await;
    tls.shutdown().await.unwrap();
    drop(tls);

    // Second connection: version 1, byte for byte.
    let mut tls = gateway.accept().await;
    let v1 = auth_message("site-1", None);
    let mut got = vec![0u8; v1.len()];
    tls.read_exact(&mut got).await.unwrap();
    assert_eq!(got, v1);
    write_auth_reply(&mut tls, AuthReply::Ok).await;
    let (_send, mut conn) = h2::client::handshake(tls).await.unwrap();
    let status = tokio::select! {
        _ = &mut conn => panic!("connection ended"),
        s = agent.wait_for(|s| s.connected) => s,
    };
    assert_eq!(status.connections, 1);
    assert_eq!(
        status.rejections, 0,
        "not counted as a rejection: {status:?}"
    );
    drop(conn);
    agent.stop().await;
}
