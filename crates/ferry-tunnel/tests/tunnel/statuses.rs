//! Tunnel statuses: allowlist and special-address denials (nothing dialled), refused, DNS
//! failure, names resolved and checked, not connected, timeout.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_tunnel::wire::{MAX_HEADER_LEN, decode_header};
use ferry_tunnel::{Destination, OpenError, TunnelStatus};
use tokio::net::TcpListener;

use crate::common::*;
use crate::tunnels::{client, dest, gateway_and_agent};

use ferry_test_support::net::nothing_accepted as nothing_dialled;

both_transports! {
#[tokio::test]
async fn agent_allowlist_denies_and_nothing_is_dialled() {
    // Port 1-1000 only on 127.0.0.1; and every name under example.com.
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1:1-1000, *.example.com").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.port() > 1000);
    let r = gw.gateway.open(&id("site-1"), dest(addr), client()).await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");
    // A name not in the list: denied before any DNS lookup.
    let r = gw
        .gateway
        .open(
            &id("site-1"),
            Destination::parse("localhost", addr.port()).unwrap(),
            client(),
        )
        .await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");
    assert!(nothing_dialled(&listener).await);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn special_addresses_are_denied_unless_explicitly_allowed() {
    // 0.0.0.0/0 allows every public address, but not loopback (a special range).
    let (_pki, gw, agent) = gateway_and_agent("0.0.0.0/0").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = gw
        .gateway
        .open(
            &id("site-1"),
            dest(listener.local_addr().unwrap()),
            client(),
        )
        .await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");
    assert!(nothing_dialled(&listener).await);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn refused_connection_gives_status_refused() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let r = gw.gateway.open(&id("site-1"), dest(closed), client()).await;
    assert!(
        matches!(r, Err(OpenError::Dial(TunnelStatus::Refused))),
        "{r:?}"
    );
    // The agent connection is still fine afterwards.
    let echo = echo_server().await;
    let t = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"after").await, b"after");
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn unknown_agent_is_not_connected() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let r = gw
        .gateway
        .open(
            &id("nobody"),
            dest("127.0.0.1:80".parse().unwrap()),
            client(),
        )
        .await;
    assert!(matches!(r, Err(OpenError::NotConnected)), "{r:?}");
    agent.stop().await;
    gw.stop().await;
}
}

/// A hand-made agent that authenticates, reads the header, and never answers: the gateway
/// gives up at its open timeout. The header it read carries the destination and the client.
#[tokio::test]
async fn silent_agent_times_out_and_header_carries_client() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.open_timeout = Duration::from_millis(300);
    let gw = start_gateway(&pki, config).await;
    // The gateway's whole reply arrives (raw_agent decodes it).
    let (_endpoint, conn, _reply) = raw_agent(&pki, gw.addr, "raw", None).await;
    let header_task = tokio::spawn({
        let conn = conn.clone();
        async move {
            let (_send, mut recv) = conn.accept_bi().await.unwrap();
            let mut buf = vec![0u8; MAX_HEADER_LEN];
            let mut n = 0;
            loop {
                n += recv.read(&mut buf[n..]).await.unwrap().unwrap();
                if let Some((h, _)) = decode_header(&buf[..n]).unwrap().complete() {
                    // Keep the stream open without answering until the gateway gives up.
                    let _ = recv.read(&mut [0u8; 1]).await;
                    return h;
                }
            }
        }
    });
    while !gw.gateway.is_connected(&id("raw")) {
        tokio::task::yield_now().await;
    }
    let target: SocketAddr = "192.0.2.10:8443".parse().unwrap();
    let r = gw.gateway.open(&id("raw"), dest(target), client()).await;
    assert!(matches!(r, Err(OpenError::Timeout)), "{r:?}");
    let header = header_task.await.unwrap();
    assert_eq!(header.destination, dest(target));
    assert_eq!(header.client, client());
    conn.close(0u32.into(), b"");
    gw.stop().await;
}

both_transports! {
/// A name is resolved by the agent and every address checked: `localhost` allowed by name and
/// its loopback address allowed by an address rule inside the special range works; allowed by
/// name only, its loopback addresses are special and denied.
#[tokio::test]
async fn domain_destination_is_resolved_and_each_address_checked() {
    let echo = echo_server().await;
    let (_pki, gw, agent) = gateway_and_agent("localhost, 127.0.0.1").await;
    let t = gw
        .gateway
        .open(
            &id("site-1"),
            Destination::parse("localhost", echo.port()).unwrap(),
            client(),
        )
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"by name").await, b"by name");
    agent.stop().await;
    gw.stop().await;

    let (_pki, gw, agent) = gateway_and_agent("localhost").await;
    let r = gw
        .gateway
        .open(
            &id("site-1"),
            Destination::parse("localhost", echo.port()).unwrap(),
            client(),
        )
        .await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn unresolvable_name_gives_dns_failure() {
    let (_pki, gw, agent) = gateway_and_agent("*.invalid").await;
    let r = gw
        .gateway
        .open(
            &id("site-1"),
            Destination::parse("no-such-host.invalid", 80).unwrap(),
            client(),
        )
        .await;
    assert!(
        matches!(r, Err(OpenError::Dial(TunnelStatus::DnsFailure))),
        "{r:?}"
    );
    agent.stop().await;
    gw.stop().await;
}
}
