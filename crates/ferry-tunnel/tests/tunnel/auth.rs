//! Authentication: good and bad credentials, slow and oversized auth streams, duplicate ids.

use std::time::Duration;

use ferry_tunnel::wire::{ALPN, AuthReply, REPLY_LEN, RejectReason, close_code, decode_auth_reply};
use ferry_tunnel::{Backoff, GatewayConfig, OpenError};
use quinn::{ConnectionError, VarInt};
use tokio::time::Instant;

use crate::common::*;

#[tokio::test]
async fn agent_connects_and_authenticates() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut agent = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!((status.connects, status.rejections), (1, 0));
    registered(&gw.gateway, &id("site-1")).await;
    assert_eq!(gw.gateway.connected_agents(), 1);
    assert_eq!(gw.gateway.agent_address(&id("site-1")), Some(agent.local));
    agent.stop().await;
    // The agent closed its connection on shutdown: the gateway forgets it.
    tokio::time::timeout(Duration::from_secs(5), async {
        while gw.gateway.is_connected(&id("site-1")) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gw.stop().await;
}

both_transports! {
#[tokio::test]
async fn bad_credential_is_rejected_without_agent_state_and_backs_off() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "wrong", "127.0.0.1");
    config.backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
    let mut agent = start_agent(config);
    let status = agent
        .wait_for(|s| s.rejections >= 1 && s.next_retry.is_some())
        .await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    assert!(!status.connected);
    // Rejections back off in the upper half of the window: never a tight loop.
    assert!(
        status.next_retry.unwrap() >= Duration::from_millis(100),
        "{status:?}"
    );
    assert_eq!(gw.gateway.connected_agents(), 0);
    assert!(matches!(
        gw.gateway
            .open(
                &id("site-1"),
                "127.0.0.1:1"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .try_into()
                    .unwrap(),
                "127.0.0.1:9".parse().unwrap()
            )
            .await,
        Err(OpenError::NotConnected)
    ));
    agent.stop().await;
    gw.stop().await;
}
}

fn app_code(e: &ConnectionError) -> Option<VarInt> {
    match e {
        ConnectionError::ApplicationClosed(c) => Some(c.error_code),
        _ => None,
    }
}

// Real time (short deadline): quinn runs over real UDP sockets, which paused tokio time would
// race with (auto-advance fires its loss and idle timers).
#[tokio::test]
async fn stalled_auth_stream_is_cut_at_the_deadline() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.auth_timeout = Duration::from_millis(400);
    let gw = start_gateway(&pki, config).await;
    let start = Instant::now();
    let (_endpoint, conn) = raw_connect(&pki, gw.addr, ALPN).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // A valid beginning (version, id length 4, "ab"), then nothing more.
    send.write_all(&[1, 4, b'a', b'b']).await.unwrap();
    let err = conn.closed().await;
    let elapsed = start.elapsed();
    assert_eq!(
        app_code(&err),
        Some(close_code::AUTH_TIMEOUT.into()),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}

/// The deadline is total, not per read: a trickle that keeps making progress is still cut.
#[tokio::test]
async fn trickling_auth_stream_is_cut_at_the_total_deadline() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.auth_timeout = Duration::from_millis(500);
    let gw = start_gateway(&pki, config).await;
    let start = Instant::now();
    let (_endpoint, conn) = raw_connect(&pki, gw.addr, ALPN).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // The attack: a valid prefix announcing an 8192-byte credential, then one byte every
    // 20 ms (it would take almost 3 minutes to finish).
    let trickle = tokio::spawn(async move {
        send.write_all(&[1, 2, b'i', b'd', 0x20, 0x00])
            .await
            .unwrap();
        loop {
            if send.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let err = conn.closed().await;
    let elapsed = start.elapsed();
    assert_eq!(
        app_code(&err),
        Some(close_code::AUTH_TIMEOUT.into()),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    trickle.await.unwrap();
    gw.stop().await;
}

#[tokio::test]
async fn silent_connection_is_cut_at_the_deadline() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.auth_timeout = Duration::from_millis(300);
    let gw = start_gateway(&pki, config).await;
    let (_endpoint, conn) = raw_connect(&pki, gw.addr, ALPN).await;
    // Never opens the auth stream.
    let err = conn.closed().await;
    assert_eq!(
        app_code(&err),
        Some(close_code::AUTH_TIMEOUT.into()),
        "{err:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn oversized_auth_is_cut_at_the_size_limit() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await; // deadline 10 s
    let start = Instant::now();
    let (_endpoint, conn) = raw_connect(&pki, gw.addr, ALPN).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // Credential length 65535 (> 8192), then 64 KiB that the gateway must not wait for.
    let mut msg = vec![1, 2, b'i', b'd', 0xff, 0xff];
    msg.extend(std::iter::repeat_n(b'x', 64 * 1024));
    let _ = send.write_all(&msg).await;
    let reply = recv.read_to_end(REPLY_LEN).await.unwrap();
    let (reply, _) = decode_auth_reply(&reply).unwrap().complete().unwrap();
    assert_eq!(reply, AuthReply::Rejected(RejectReason::Malformed));
    let err = conn.closed().await;
    assert_eq!(
        app_code(&err),
        Some(close_code::AUTH_MALFORMED.into()),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "cut by the size check, not the deadline"
    );
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn wrong_alpn_is_refused() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let result = endpoint
        .connect_with(pki.raw_client(b"h3"), gw.addr, "localhost")
        .unwrap()
        .await;
    assert!(result.is_err(), "handshake with another ALPN must fail");
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}

both_transports! {
#[tokio::test]
async fn untrusted_gateway_certificate_is_refused_by_the_agent() {
    let pki = Pki::new();
    let other = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut agent = start_agent(agent_config(
        &other,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    assert!(!status.connected);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn gateway_certificate_for_another_name_is_refused_by_the_agent() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.server_name = "gateway.example".to_owned(); // the certificate is for `localhost`
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    assert!(!status.connected && status.connects == 0);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;
}
}

/// Policy: a newer connection for the same id replaces the live one only after it has
/// authenticated; a failing one changes nothing.
#[tokio::test]
async fn second_agent_with_the_same_id_replaces_the_first_only_once_authenticated() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut first_config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    // After being replaced, the first agent waits long enough not to come back in this test.
    first_config.backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
    let mut first = start_agent(first_config);
    first.wait_for(|s| s.connected).await;
    assert_eq!(gw.gateway.agent_address(&id("site-1")), Some(first.local));

    // An impostor with a wrong credential: rejected, the first stays.
    let mut impostor = start_agent(agent_config(&pki, gw.addr, "site-1", "wrong", "127.0.0.1"));
    impostor.wait_for(|s| s.rejections >= 1).await;
    impostor.stop().await;
    assert_eq!(gw.gateway.agent_address(&id("site-1")), Some(first.local));
    assert!(first.status.borrow().connected);

    // The same identity again: it replaces the first.
    let mut second = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    second.wait_for(|s| s.connected).await;
    let first_status = first.wait_for(|s| s.replaced == 1).await;
    assert!(!first_status.connected);
    assert_eq!(gw.gateway.agent_address(&id("site-1")), Some(second.local));
    assert_eq!(gw.gateway.connected_agents(), 1);
    // Tunnels go to the second connection.
    let echo = echo_server().await;
    let tunnel = gw
        .gateway
        .open(
            &id("site-1"),
            echo.try_into().unwrap(),
            "192.0.2.1:1".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(round_trip(tunnel, b"ping").await, b"ping");
    first.stop().await;
    second.stop().await;
    gw.stop().await;
}

both_transports! {
#[tokio::test]
async fn verifier_gets_the_gateway_clock() {
    let pki = Pki::new();
    let gateway = ferry_tunnel::Gateway::builder(
        GatewayConfig::default(),
        |_: &ferry_tunnel::AgentId, _: &str, now: u64| {
            if now == 1_700_000_000 {
                Ok(())
            } else {
                Err(ferry_tunnel::AgentRejected::BadCredential)
            }
        },
    )
    .clock(|| 1_700_000_000)
    .build();
    let gw = start_gateway_with(&pki, gateway, "127.0.0.1:0".parse().unwrap()).await;
    let mut agent = start_agent(agent_config(&pki, gw.addr, "a", "x", "127.0.0.1"));
    agent.wait_for(|s| s.connected).await;
    agent.stop().await;
    gw.stop().await;
}
}
