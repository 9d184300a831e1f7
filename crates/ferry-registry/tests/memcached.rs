//! `MemcachedRegistry` against a real memcached started by the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_memcache::{Client, ClientConfig, Ttl};
use ferry_registry::{
    Claim, Forget, HASHED_PREFIX, InstanceId, MemcachedRegistry, Owner, Refresh, Registry,
    RegistryError, Release, agent_key,
};

const TTL: Duration = Duration::from_secs(30);

fn owner(n: u8) -> Owner {
    Owner::new(
        InstanceId([n; 16]),
        format!("127.0.0.{n}:7443").parse().unwrap(),
    )
}

fn registry(server: &Memcached) -> MemcachedRegistry {
    MemcachedRegistry::connect(server.addr(), Duration::from_millis(500))
}

#[tokio::test]
async fn claim_lookup_refresh_release() {
    let server = Memcached::start().await.unwrap();
    let reg = registry(&server);
    let (a, b) = (owner(1), owner(2));
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert_eq!(reg.claim("edge-1", &a, TTL).await.unwrap(), Claim::Claimed);
    let first = reg.lookup("edge-1").await.unwrap().unwrap();
    assert_eq!(first.owner, a);
    assert_eq!(
        reg.claim("edge-1", &a, TTL).await.unwrap(),
        Claim::AlreadyOurs
    );
    assert_eq!(reg.claim("edge-1", &b, TTL).await.unwrap(), Claim::Held(a));
    assert_eq!(
        reg.refresh("edge-1", &a, TTL).await.unwrap(),
        Refresh::Refreshed
    );
    let later = reg.lookup("edge-1").await.unwrap().unwrap();
    assert_eq!(later.owner, a);
    assert_ne!(
        later.version, first.version,
        "a refresh writes a new version"
    );
    assert_eq!(
        reg.refresh("edge-1", &b, TTL).await.unwrap(),
        Refresh::Lost(a)
    );
    assert_eq!(reg.release("edge-1", &a).await.unwrap(), Release::Released);
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert_eq!(reg.release("edge-1", &a).await.unwrap(), Release::Gone);
    // A refresh of a vanished record writes it again.
    assert_eq!(
        reg.refresh("edge-1", &a, TTL).await.unwrap(),
        Refresh::Recreated
    );
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);
}

#[tokio::test]
async fn release_and_forget_never_delete_anothers_record() {
    let server = Memcached::start().await.unwrap();
    let reg = registry(&server);
    let (a, b) = (owner(1), owner(2));
    assert_eq!(reg.claim("edge-1", &a, TTL).await.unwrap(), Claim::Claimed);
    assert_eq!(
        reg.release("edge-1", &b).await.unwrap(),
        Release::NotOurs(a)
    );
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);

    // B saw A's record, A refreshed it meanwhile: B's cleanup leaves the fresh record alone.
    let seen = reg.lookup("edge-1").await.unwrap().unwrap();
    assert_eq!(
        reg.refresh("edge-1", &a, TTL).await.unwrap(),
        Refresh::Refreshed
    );
    assert_eq!(
        reg.forget_stale("edge-1", &seen).await.unwrap(),
        Forget::Changed
    );
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);

    // The exact record read is deleted.
    let seen = reg.lookup("edge-1").await.unwrap().unwrap();
    assert_eq!(
        reg.forget_stale("edge-1", &seen).await.unwrap(),
        Forget::Forgotten
    );
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert_eq!(
        reg.forget_stale("edge-1", &seen).await.unwrap(),
        Forget::Gone
    );

    // A restarted A (same address, new instance) is another owner.
    let a_again = Owner::new(InstanceId([9; 16]), a.addr);
    assert_eq!(reg.claim("edge-1", &a, TTL).await.unwrap(), Claim::Claimed);
    assert_eq!(
        reg.claim("edge-1", &a_again, TTL).await.unwrap(),
        Claim::Held(a)
    );
    assert_eq!(
        reg.release("edge-1", &a_again).await.unwrap(),
        Release::NotOurs(a)
    );
}

#[tokio::test]
async fn concurrent_claims_have_exactly_one_winner() {
    let server = Memcached::start().await.unwrap();
    let reg = Arc::new(registry(&server));
    for round in 0..5 {
        let agent = format!("race-{round}");
        let tasks: Vec<_> = (1..=16u8)
            .map(|n| {
                let (reg, agent) = (Arc::clone(&reg), agent.clone());
                tokio::spawn(async move { (n, reg.claim(&agent, &owner(n), TTL).await.unwrap()) })
            })
            .collect();
        let mut winners = Vec::new();
        let mut held = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (n, Claim::Claimed) => winners.push(n),
                (_, Claim::Held(o)) => held.push(o),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let winner = owner(winners[0]);
        assert!(held.iter().all(|o| *o == winner), "losers saw the winner");
        assert_eq!(reg.lookup(&agent).await.unwrap().unwrap().owner, winner);
    }
}

#[tokio::test]
async fn concurrent_takeover_of_a_stale_record_has_one_winner() {
    let server = Memcached::start().await.unwrap();
    let reg = Arc::new(registry(&server));
    let crashed = owner(200);
    assert_eq!(
        reg.claim("edge-1", &crashed, TTL).await.unwrap(),
        Claim::Claimed
    );
    let seen = reg.lookup("edge-1").await.unwrap().unwrap();
    // Every gateway failed to forward to the crashed owner and cleans up, then claims.
    let tasks: Vec<_> = (1..=12u8)
        .map(|n| {
            let reg = Arc::clone(&reg);
            tokio::spawn(async move {
                let forgot = reg.forget_stale("edge-1", &seen).await.unwrap();
                let claim = reg.claim("edge-1", &owner(n), TTL).await.unwrap();
                (n, forgot, claim)
            })
        })
        .collect();
    let mut forgotten = 0;
    let mut winners = Vec::new();
    for t in tasks {
        // A late cleanup finds the winner's new record: `Changed`, and leaves it alone.
        let (n, forgot, claim) = t.await.unwrap();
        forgotten += usize::from(forgot == Forget::Forgotten);
        if claim == Claim::Claimed {
            winners.push(n);
        }
    }
    assert_eq!(forgotten, 1, "one cleanup deleted the stale record");
    assert_eq!(
        winners.len(),
        1,
        "one gateway took the agent over: {winners:?}"
    );
    let now = reg.lookup("edge-1").await.unwrap().unwrap().owner;
    assert_eq!(
        now,
        owner(winners[0]),
        "no cleanup deleted the winner's record"
    );
    assert_ne!(now, crashed);
}

#[tokio::test]
async fn crashed_owners_record_expires_by_ttl() {
    let server = Memcached::start().await.unwrap();
    let reg = registry(&server);
    let crashed = owner(1);
    let claim = reg.claim("edge-1", &crashed, Duration::from_secs(1)).await;
    assert_eq!(claim.unwrap(), Claim::Claimed);
    assert!(reg.lookup("edge-1").await.unwrap().is_some());
    // memcached's clock ticks once a second: the record is gone within about 2 s. Bounded poll.
    let mut gone = false;
    for _ in 0..40 {
        if reg.lookup("edge-1").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "record outlived its ttl");
    assert_eq!(
        reg.claim("edge-1", &owner(2), TTL).await.unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn outage_fails_fast_and_recovers_by_itself() {
    let server = Memcached::start().await.unwrap();
    let port = server.addr().port();
    let reg = registry(&server);
    let a = owner(1);
    assert_eq!(reg.claim("edge-1", &a, TTL).await.unwrap(), Claim::Claimed);
    let seen = reg.lookup("edge-1").await.unwrap().unwrap();
    server.stop().await.unwrap();

    let results = [
        reg.claim("edge-2", &a, TTL).await.map(|_| ()),
        reg.refresh("edge-1", &a, TTL).await.map(|_| ()),
        reg.release("edge-1", &a).await.map(|_| ()),
        reg.lookup("edge-1").await.map(|_| ()),
        reg.forget_stale("edge-1", &seen).await.map(|_| ()),
    ];
    for r in results {
        let e = r.unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(matches!(e, RegistryError::Unavailable(_)));
    }

    let _server = Memcached::start_on(Some(port)).await.unwrap();
    // Same registry value, no reconnect call: the next operations work. The restarted
    // memcached is empty; the owner's heartbeat writes its record again.
    assert_eq!(reg.lookup("edge-1").await.unwrap(), None);
    assert_eq!(
        reg.refresh("edge-1", &a, TTL).await.unwrap(),
        Refresh::Recreated
    );
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);
}

#[tokio::test]
async fn hostile_agent_ids_map_to_valid_distinct_keys() {
    let server = Memcached::start().await.unwrap();
    let reg = registry(&server);
    let long = "x".repeat(300);
    let ids = [
        "with space",
        long.as_str(),
        "agent-é-日本",
        "a\r\nflush_all\r\n",
        "",
        "h:0000",
        "ferry:agent:edge-1",
    ];
    for (i, id) in ids.iter().enumerate() {
        let key = agent_key(id);
        assert!(key.as_str().starts_with(HASHED_PREFIX), "{id:?} -> {key}");
        let o = owner(u8::try_from(i + 1).unwrap());
        assert_eq!(
            reg.claim(id, &o, TTL).await.unwrap(),
            Claim::Claimed,
            "{id:?}"
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let o = owner(u8::try_from(i + 1).unwrap());
        assert_eq!(reg.lookup(id).await.unwrap().unwrap().owner, o, "{id:?}");
    }
    // The injected command did not run.
    assert!(reg.lookup("with space").await.unwrap().is_some());
}

#[tokio::test]
async fn unreadable_records_are_reported_and_left_alone() {
    let server = Memcached::start().await.unwrap();
    let reg = registry(&server);
    let client = Client::new(server.addr(), ClientConfig::default());
    let key = agent_key("edge-1");
    let ttl = Ttl::after(TTL).unwrap();
    client.set(&key, b"\x02future-format", ttl).await.unwrap();
    for e in [
        reg.lookup("edge-1").await.map(|_| ()).unwrap_err(),
        reg.claim("edge-1", &owner(1), TTL)
            .await
            .map(|_| ())
            .unwrap_err(),
        reg.release("edge-1", &owner(1))
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(matches!(e, RegistryError::Unreadable(_)), "{e:?}");
    }
    assert_eq!(
        client.get(&key).await.unwrap().unwrap().value,
        b"\x02future-format"
    );
}
