//! A client entering through the gateway that does not hold the agent gets through.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_registry::{Claim, MemcachedRegistry, Registry};

use crate::harness::{Gateway, Pki, TOKEN, ask, echo_server, round_trip};

const TTL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn client_at_b_reaches_the_agent_at_a() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &["edge-b"], &pki).await;
    assert_eq!(
        registry.claim("edge-a", &a.me, TTL).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        registry.claim("edge-b", &b.me, TTL).await.unwrap(),
        Claim::Claimed
    );
    let echo = echo_server().await;

    // Through B to the agent at A: bytes exact both ways, half-close carried.
    let (status, tunnel) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(tunnel, &data).await, data);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1);
    assert_eq!(
        a.local.opens.load(Ordering::SeqCst),
        1,
        "A opened it locally"
    );
    assert_eq!(b.front.stats().replies(200), 1);

    // And the other way round, through A to the agent at B; local tunnels stay local.
    let (status, tunnel) = ask(a.client_addr, echo, "edge-b", TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(round_trip(tunnel, b"hello").await, b"hello");
    let (status, tunnel) = ask(a.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(round_trip(tunnel, b"local").await, b"local");
    assert_eq!(b.peer_accepts.load(Ordering::SeqCst), 1);
    assert_eq!(
        a.peer_accepts.load(Ordering::SeqCst),
        1,
        "local tunnel not forwarded"
    );
}

#[tokio::test]
async fn bad_client_credential_is_refused_at_the_edge() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    registry.claim("edge-a", &a.me, TTL).await.unwrap();
    let echo = echo_server().await;

    let (status, _) = ask(b.client_addr, echo, "edge-a", "fy1_wrong-token").await;
    assert_eq!(status, 407);
    assert_eq!(
        a.peer_accepts.load(Ordering::SeqCst),
        0,
        "A was never contacted"
    );
    assert_eq!(a.local.opens.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn owner_refusals_map_back_to_the_client() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    registry.claim("edge-a", &a.me, TTL).await.unwrap();
    // Nothing listens there: the agent at A fails to dial, A answers 502, B passes it on.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let (status, _) = ask(b.client_addr, closed, "edge-a", TOKEN).await;
    assert_eq!(status, 502);
    // A 502 from the owner is not a stale record: it stays.
    assert_eq!(
        registry.lookup("edge-a").await.unwrap().unwrap().owner,
        a.me
    );
}

#[tokio::test]
async fn destination_that_speaks_first_loses_nothing() {
    use tokio::io::AsyncReadExt as _;
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    registry.claim("edge-a", &a.me, TTL).await.unwrap();
    // A server that sends a banner as soon as it accepts (SMTP/SSH style), then echoes.
    let banner_addr = ferry_test_support::net::banner_echo(b"220 banner\r\n").await;
    for _ in 0..10 {
        let (status, mut tunnel) = ask(b.client_addr, banner_addr, "edge-a", TOKEN).await;
        assert_eq!(status, 200);
        let mut banner = [0u8; 12];
        tunnel.read_exact(&mut banner).await.unwrap();
        assert_eq!(&banner, b"220 banner\r\n");
        assert_eq!(round_trip(tunnel, b"quit").await, b"quit");
    }
}
