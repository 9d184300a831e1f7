//! `MemoryRegistry` and `Keeper` on tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ferry_registry::{
    Beat, Claim, Forget, InstanceId, Keeper, Lease, MemoryRegistry, Owner, Refresh, Registry,
    RegistryError, Release, Standing,
};

fn counts(b: Beat) -> (usize, usize, usize) {
    (b.owned, b.held, b.failed)
}

fn owner(n: u8) -> Owner {
    Owner::new(
        InstanceId([n; 16]),
        format!("10.0.0.{n}:7443").parse().unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn records_expire_with_their_ttl() {
    let reg = MemoryRegistry::new();
    let (a, b) = (owner(1), owner(2));
    let ttl = Duration::from_secs(30);
    assert_eq!(reg.claim("edge-1", &a, ttl).await.unwrap(), Claim::Claimed);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(reg.claim("edge-1", &b, ttl).await.unwrap(), Claim::Held(a));
    assert_eq!(
        reg.refresh("edge-1", &a, ttl).await.unwrap(),
        Refresh::Refreshed
    );
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert!(reg.is_empty());
    assert_eq!(reg.claim("edge-1", &b, ttl).await.unwrap(), Claim::Claimed);
    assert_eq!(
        reg.release("edge-1", &a).await.unwrap(),
        Release::NotOurs(b)
    );
    let seen = reg.lookup("edge-1").await.unwrap().unwrap();
    assert_eq!(
        reg.refresh("edge-1", &b, ttl).await.unwrap(),
        Refresh::Refreshed
    );
    assert_eq!(
        reg.forget_stale("edge-1", &seen).await.unwrap(),
        Forget::Changed
    );
    assert!(matches!(
        reg.claim("edge-1", &a, Duration::ZERO).await,
        Err(RegistryError::InvalidTtl(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn keeper_claims_refreshes_retries_and_releases() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let lease = Lease::new(Duration::from_secs(30), Duration::from_secs(10)).unwrap();
    let a = Keeper::new(Arc::clone(&reg), owner(1), lease);
    let b = Keeper::new(Arc::clone(&reg), owner(2), lease);

    assert_eq!(a.connected("edge-1").await.unwrap(), Claim::Claimed);
    // The agent moved to B while A still holds a fresh record: B waits.
    assert_eq!(b.connected("edge-1").await.unwrap(), Claim::Held(owner(1)));
    assert_eq!(b.standing("edge-1"), Some(Standing::Held(owner(1))));
    // A keeps refreshing while the agent is connected to it.
    for _ in 0..5 {
        tokio::time::advance(lease.heartbeat()).await;
        assert_eq!(counts(a.beat().await), (1, 0, 0));
        assert_eq!(counts(b.beat().await), (0, 1, 0));
    }
    // A crashes (stops beating): its record ends with the TTL and B's next beat takes over.
    tokio::time::advance(lease.ttl()).await;
    assert_eq!(counts(b.beat().await), (1, 0, 0));
    assert_eq!(b.standing("edge-1"), Some(Standing::Owned));
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, owner(2));
    // Disconnect releases the record.
    assert_eq!(b.disconnected("edge-1").await.unwrap(), Release::Released);
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert_eq!(counts(b.beat().await), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn keeper_run_releases_on_shutdown() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let keeper = Arc::new(Keeper::new(Arc::clone(&reg), owner(1), Lease::default()));
    keeper.connected("edge-1").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let k = Arc::clone(&keeper);
    let task = tokio::spawn(async move {
        k.run(async {
            let _ = stopped.await;
        })
        .await;
    });
    // Well past the TTL: the heartbeats kept the record alive.
    tokio::time::sleep(Duration::from_secs(95)).await;
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, owner(1));
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
}
