//! Tunnels: bulk bytes with half-close, concurrency, caps, drain.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ferry_tunnel::wire::ALPN;
use ferry_tunnel::{Destination, OpenError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

const CLIENT: &str = "198.51.100.7:50000";

pub(crate) fn client() -> SocketAddr {
    CLIENT.parse().unwrap()
}

pub(crate) fn dest(addr: SocketAddr) -> Destination {
    addr.try_into().unwrap()
}

pub(crate) async fn gateway_and_agent(allow: &str) -> (Pki, GatewayHandle, AgentHandle) {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut agent = start_agent(agent_config(&pki, gw.addr, "site-1", "token-site-1", allow));
    agent.wait_for(|s| s.connected).await;
    // The agent has its `ok` a moment before the gateway has registered the connection.
    registered(&gw.gateway, &id("site-1")).await;
    (pki, gw, agent)
}

both_transports! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_8_mib_is_byte_exact_with_client_half_close() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = echo_server().await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let data = payload(8 * 1024 * 1024, 1);
    let back = round_trip(tunnel, &data).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
/// The destination closes its side first; the client keeps sending afterwards and every byte
/// arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_half_close_first_then_client_keeps_sending() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let down = payload(1024 * 1024, 2);
    let up = payload(3 * 1024 * 1024 + 17, 3);
    let server = {
        let down = down.clone();
        tokio::spawn(async move {
            let (mut s, peer) = listener.accept().await.unwrap();
            s.write_all(&down).await.unwrap();
            s.shutdown().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            (got, peer)
        })
    };
    let mut tunnel = gw
        .gateway
        .open(&id("site-1"), dest(addr), client())
        .await
        .unwrap();
    let mut got_down = Vec::new();
    tunnel.read_to_end(&mut got_down).await.unwrap();
    assert!(got_down == down, "download differs");
    tunnel.write_all(&up).await.unwrap();
    tunnel.shutdown().await.unwrap();
    let (got_up, peer) = server.await.unwrap();
    assert_eq!(got_up.len(), up.len());
    assert!(got_up == up, "upload differs");
    // The destination sees the agent's address, on loopback.
    assert!(peer.ip().is_loopback());
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_tunnels_over_one_agent() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = echo_server().await;
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let gateway = gw.gateway.clone();
        tasks.push(tokio::spawn(async move {
            let tunnel = gateway
                .open(&id("site-1"), dest(echo), client())
                .await
                .unwrap();
            let data = payload(16 * 1024 + usize::try_from(i).unwrap(), i);
            let back = round_trip(tunnel, &data).await;
            assert!(back == data, "tunnel {i} differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn tunnel_cap_per_agent() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.max_tunnels_per_agent = NonZeroU32::new(2).unwrap();
    let gw = start_gateway(&pki, config).await;
    let mut agent = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    agent.wait_for(|s| s.connected).await;
    let echo = echo_server().await;
    let a = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let b = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(gw.gateway.open_tunnels(), 2);
    let r = gw.gateway.open(&id("site-1"), dest(echo), client()).await;
    assert!(matches!(r, Err(OpenError::StreamCapReached)), "{r:?}");
    // The cap is per agent: another agent is not affected while site-1 is at its cap.
    let mut other = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-2",
        "token-site-2",
        "127.0.0.1",
    ));
    other.wait_for(|s| s.connected).await;
    let o = gw
        .gateway
        .open(&id("site-2"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(round_trip(o, b"other agent").await, b"other agent");
    other.stop().await;
    drop(a);
    let c = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(round_trip(c, b"third").await, b"third");
    drop(b);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
/// On shutdown an open tunnel keeps working until it finishes; then the gateway stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_drain_lets_open_tunnels_finish() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = echo_server().await;
    let mut tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    tunnel.write_all(b"before").await.unwrap();
    let gateway = gw.gateway.clone();
    let stopping = tokio::spawn(gw.stop());
    // The tunnel still carries bytes during the drain.
    tunnel.write_all(b" during").await.unwrap();
    tunnel.shutdown().await.unwrap();
    let mut back = Vec::new();
    tunnel.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"before during");
    drop(tunnel);
    stopping.await.unwrap();
    assert_eq!(gateway.open_tunnels(), 0);
    agent.stop().await;
}
}

/// Connections still handshaking or authenticating are capped; beyond the cap new ones are
/// refused before any crypto work, and a legitimate agent gets in once a slot frees up.
#[tokio::test]
async fn pending_authentications_are_capped() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.max_pending_auth = 2;
    config.auth_timeout = Duration::from_millis(600);
    let gw = start_gateway(&pki, config).await;
    // An agent connected before the flood keeps its connection and its tunnels (row E8).
    let mut existing = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-0",
        "token-site-0",
        "127.0.0.1",
    ));
    existing.wait_for(|s| s.connected).await;
    let echo = echo_server().await;
    let before = gw
        .gateway
        .open(&id("site-0"), dest(echo), client())
        .await
        .unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut silent = Vec::new();
    for _ in 0..2 {
        let conn = endpoint
            .connect_with(pki.raw_client(ALPN), gw.addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        silent.push(conn);
    }
    let third = endpoint
        .connect_with(pki.raw_client(ALPN), gw.addr, "localhost")
        .unwrap()
        .await;
    assert!(
        matches!(third, Err(quinn::ConnectionError::ConnectionClosed(_))),
        "{third:?}"
    );
    // While every slot is taken and newcomers are refused, the existing agent is served:
    // its open tunnel carries bytes and a new tunnel opens.
    assert_eq!(
        round_trip(before, b"during the flood").await,
        b"during the flood"
    );
    let during = gw
        .gateway
        .open(&id("site-0"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(round_trip(during, b"new tunnel").await, b"new tunnel");
    assert!(gw.gateway.is_connected(&id("site-0")));
    assert_eq!(existing.status.borrow().connects, 1);
    // The silent ones are cut at the deadline; then an agent authenticates.
    for conn in &silent {
        conn.closed().await;
    }
    let mut agent = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    agent.wait_for(|s| s.connected).await;
    agent.stop().await;
    existing.stop().await;
    gw.stop().await;
}

both_transports! {
/// On shutdown the agent lets an open tunnel finish, then closes its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_drain_lets_open_tunnels_finish() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = echo_server().await;
    let mut tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    tunnel.write_all(b"before").await.unwrap();
    let stopping = tokio::spawn(agent.stop());
    tunnel.write_all(b" during").await.unwrap();
    tunnel.shutdown().await.unwrap();
    let mut back = Vec::new();
    tunnel.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"before during");
    drop(tunnel);
    stopping.await.unwrap();
    // The agent closed its connection: the gateway forgets it.
    tokio::time::timeout(Duration::from_secs(5), async {
        while gw.gateway.is_connected(&id("site-1")) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gw.stop().await;
}
}
