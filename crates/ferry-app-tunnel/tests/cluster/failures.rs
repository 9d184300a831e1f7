//! Owner killed, owner without the agent, memcached stopped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_registry::{Claim, MemcachedRegistry, Registry};

use crate::harness::{Gateway, Pki, TOKEN, ask, echo_server, round_trip};

const TTL: Duration = Duration::from_secs(30);

async fn cluster() -> (Memcached, Arc<dyn Registry>, Pki) {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    (memcached, registry, Pki::new())
}

#[tokio::test]
async fn killed_owner_gives_503_then_entries_converge_on_the_new_owner() {
    let (_memcached, registry, pki) = cluster().await;
    let a = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    let c = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    assert_eq!(a.agent_connects("edge-a").await, Claim::Claimed);
    let echo = echo_server().await;
    let (status, tunnel) = ask(c.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(round_trip(tunnel, b"before").await, b"before");

    a.kill().await;
    // The agent reconnects to B at once; A's record is still fresh (TTL 30 s): B may not
    // overwrite it, but serves the agent's clients locally already.
    assert!(matches!(b.agent_connects("edge-a").await, Claim::Held(_)));
    let (status, tunnel) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(round_trip(tunnel, b"local at b").await, b"local at b");

    // C still finds A: A's listener refuses, C answers 503 at once (`ask` allows 5 s; the
    // front's open timeout is 10 s) and forgets exactly that record.
    let (status, _) = ask(c.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 503);
    assert_eq!(
        registry.lookup("edge-a").await.unwrap(),
        None,
        "stale record kept"
    );

    // B's next heartbeat claims the agent; C's clients get through again, via B.
    let beat = b.keeper.beat().await;
    assert_eq!((beat.owned, beat.held, beat.failed), (1, 0, 0));
    assert_eq!(
        registry.lookup("edge-a").await.unwrap().unwrap().owner,
        b.me
    );
    let (status, tunnel) = ask(c.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200, "entries converged on the new owner");
    assert_eq!(round_trip(tunnel, b"after").await, b"after");
    assert_eq!(b.peer_accepts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn owner_without_the_agent_means_a_stale_record() {
    let (_memcached, registry, pki) = cluster().await;
    let a = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    // A's record, but the agent left A (A has not released it yet).
    registry.claim("edge-a", &a.me, TTL).await.unwrap();
    let echo = echo_server().await;
    let (status, _) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 503);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1);
    assert_eq!(registry.lookup("edge-a").await.unwrap(), None);
    // No record at all: 503 without contacting anyone.
    let (status, _) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 503);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn memcached_down_local_tunnels_work_remote_fail_fast() {
    let (memcached, registry, pki) = cluster().await;
    let port = memcached.addr().port();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &["edge-b"], &pki).await;
    registry.claim("edge-a", &a.me, TTL).await.unwrap();
    let echo = echo_server().await;
    memcached.stop().await.unwrap();

    let (status, tunnel) = ask(b.client_addr, echo, "edge-b", TOKEN).await;
    assert_eq!(status, 200, "local tunnel during the outage");
    assert_eq!(round_trip(tunnel, b"local").await, b"local");
    let (status, _) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 503, "remote tunnel during the outage");
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 0);

    // memcached back (empty); the owner's next heartbeat writes its record again.
    let _memcached = Memcached::start_on(Some(port)).await.unwrap();
    registry.refresh("edge-a", &a.me, TTL).await.unwrap();
    let (status, tunnel) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 200, "recovered without restarting anything");
    assert_eq!(round_trip(tunnel, b"again").await, b"again");
}

#[tokio::test]
async fn hung_registry_fails_remote_tunnels_within_the_timeout() {
    // A "memcached" that accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            held.push(s);
        }
    });
    let registry: Arc<dyn Registry> =
        Arc::new(MemcachedRegistry::connect(addr, Duration::from_millis(300)));
    let pki = Pki::new();
    let b = Gateway::start(Arc::clone(&registry), &["edge-b"], &pki).await;
    let echo = echo_server().await;
    let err = registry.lookup("edge-a").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");

    let (status, tunnel) = ask(b.client_addr, echo, "edge-b", TOKEN).await;
    assert_eq!(status, 200, "local tunnel while the registry hangs");
    assert_eq!(round_trip(tunnel, b"local").await, b"local");
    // The lookup gives up after the 300 ms operation timeout (well inside `ask`'s 5 s and the
    // front's 10 s open timeout): 503, not 504.
    let (status, _) = ask(b.client_addr, echo, "edge-a", TOKEN).await;
    assert_eq!(status, 503);
}
