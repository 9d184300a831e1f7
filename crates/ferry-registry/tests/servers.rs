//! `MemcachedRegistry` with servers named by host name and with several servers, against real
//! memcached processes: the rendezvous placement, a server that stops and comes back, a server
//! replaced at a new address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ferry_memcache::resolve::system;
use ferry_memcache::testing::Memcached;
use ferry_memcache::{Client, ClientConfig};
use ferry_registry::{
    Claim, InstanceId, Keeper, Lease, MemcachedRegistry, Owner, Registry, Standing, agent_key,
};
use ferry_test_support::resolve::Scripted;

const TTL: Duration = Duration::from_secs(30);

fn owner(n: u8) -> Owner {
    Owner::new(
        InstanceId([n; 16]),
        format!("127.0.0.{n}:7443").parse().unwrap(),
    )
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.op_timeout = Duration::from_millis(500);
    c
}

/// The server the documented scheme names for `agent`, computed here from the text of
/// `docs/registry.md`: highest first-8-bytes-big-endian of SHA-256(name 0x00 key).
fn expected(agent: &str, names: &[&str]) -> usize {
    let key = agent_key(agent);
    let score = |name: &str| {
        let mut input = name.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(key.as_str().as_bytes());
        let d = ring::digest::digest(&ring::digest::SHA256, &input);
        u64::from_be_bytes(d.as_ref()[..8].try_into().unwrap())
    };
    (0..names.len()).max_by_key(|&i| score(names[i])).unwrap()
}

async fn has(server: &Memcached, agent: &str) -> bool {
    let direct = Client::new(server.addr(), ClientConfig::default());
    direct.get(&agent_key(agent)).await.unwrap().is_some()
}

#[tokio::test]
async fn a_registry_named_localhost_claims_and_looks_up() {
    let server = Memcached::start().await.unwrap();
    let client = Client::resolving("localhost", server.addr().port(), system(), config());
    let reg = MemcachedRegistry::new(client);
    let a = owner(1);
    assert_eq!(reg.claim("edge-1", &a, TTL).await.unwrap(), Claim::Claimed);
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, a);
    assert!(has(&server, "edge-1").await);
}

#[tokio::test]
async fn keys_spread_over_two_servers_where_the_scheme_says() {
    let (m0, m1) = (
        Memcached::start().await.unwrap(),
        Memcached::start().await.unwrap(),
    );
    let names = [m0.addr().to_string(), m1.addr().to_string()];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // Given in the other order: placement depends on the names only.
    let reg = MemcachedRegistry::spread(vec![
        Client::new(m1.addr(), config()),
        Client::new(m0.addr(), config()),
    ])
    .unwrap();
    let a = owner(1);
    let mut on = [0usize; 2];
    for i in 0..64 {
        let agent = format!("agent-{i}");
        assert_eq!(reg.claim(&agent, &a, TTL).await.unwrap(), Claim::Claimed);
        let want = expected(&agent, &names);
        on[want] += 1;
        let servers = [&m0, &m1];
        assert!(
            has(servers[want], &agent).await,
            "{agent} not on server {want}"
        );
        assert!(!has(servers[1 - want], &agent).await, "{agent} on both");
        assert_eq!(reg.lookup(&agent).await.unwrap().unwrap().owner, a);
        assert_eq!(reg.client_for(&agent).server(), names[want]);
    }
    assert!(on[0] > 0 && on[1] > 0, "both servers hold keys: {on:?}");
}

#[tokio::test]
async fn a_stopped_server_fails_its_keys_fast_and_owners_write_them_again_when_it_is_back() {
    let (m0, m1) = (
        Memcached::start().await.unwrap(),
        Memcached::start().await.unwrap(),
    );
    let port1 = m1.addr().port();
    let names = [m0.addr().to_string(), m1.addr().to_string()];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let reg: Arc<dyn Registry> = Arc::new(
        MemcachedRegistry::spread(vec![
            Client::new(m0.addr(), config()),
            Client::new(m1.addr(), config()),
        ])
        .unwrap(),
    );
    let keeper = Keeper::new(Arc::clone(&reg), owner(1), Lease::default());
    let agents: Vec<String> = (0..16).map(|i| format!("agent-{i}")).collect();
    for agent in &agents {
        assert_eq!(keeper.connected(agent).await.unwrap(), Claim::Claimed);
    }
    let lost: Vec<&String> = agents.iter().filter(|a| expected(a, &names) == 1).collect();
    let kept = agents.len() - lost.len();
    assert!(!lost.is_empty() && kept > 0);

    m1.stop().await.unwrap();
    for agent in &agents {
        let found = reg.lookup(agent).await;
        if lost.contains(&agent) {
            assert!(found.unwrap_err().is_unavailable(), "{agent}");
        } else {
            assert_eq!(found.unwrap().unwrap().owner, owner(1), "{agent}");
        }
    }
    let beat = keeper.beat().await;
    assert_eq!((beat.owned, beat.failed), (kept, lost.len()));
    assert_eq!(keeper.standing(lost[0]), Some(Standing::Unknown));

    // Back, empty: the next heartbeat writes every record again.
    let m1 = Memcached::start_on(Some(port1)).await.unwrap();
    let beat = keeper.beat().await;
    assert_eq!((beat.owned, beat.failed), (agents.len(), 0));
    for agent in &lost {
        assert!(has(&m1, agent).await, "{agent} written again");
        assert_eq!(reg.lookup(agent).await.unwrap().unwrap().owner, owner(1));
    }
}

/// Sends `signal` (`STOP` or `CONT`) to the memcached process.
fn signal(server: &Memcached, signal: &str) {
    let pid = server.pid().expect("memcached is running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_does_not_hold_up_the_renewal_of_the_other_servers_records() {
    let (m0, m1) = (
        Memcached::start().await.unwrap(),
        Memcached::start().await.unwrap(),
    );
    let names = [m0.addr().to_string(), m1.addr().to_string()];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // Calls to the hung server wait this long: far longer than the test's guard below, so a
    // beat that waited for them before renewing the healthy server's records would fail it.
    let mut slow = config();
    slow.op_timeout = Duration::from_secs(60);
    let reg: Arc<dyn Registry> = Arc::new(
        MemcachedRegistry::spread(vec![
            Client::new(m0.addr(), slow.clone()),
            Client::new(m1.addr(), slow),
        ])
        .unwrap(),
    );
    let keeper = Arc::new(Keeper::new(Arc::clone(&reg), owner(1), Lease::default()));
    let agents: Vec<String> = (0..24).map(|i| format!("agent-{i}")).collect();
    for agent in &agents {
        assert_eq!(keeper.connected(agent).await.unwrap(), Claim::Claimed);
    }
    let (on_hung, on_healthy): (Vec<&String>, Vec<&String>) =
        agents.iter().partition(|a| expected(a, &names) == 1);
    assert!(!on_hung.is_empty() && !on_healthy.is_empty());

    // The healthy server loses its records (as after a restart); the other one hangs.
    let direct = Client::new(m0.addr(), ClientConfig::default());
    for agent in &on_healthy {
        direct.delete(&agent_key(agent)).await.unwrap();
    }
    signal(&m1, "STOP");
    let k = Arc::clone(&keeper);
    let beat = tokio::spawn(async move { k.beat().await });

    // The healthy server's records are written again while the hung calls still wait.
    let rewritten = async {
        for agent in &on_healthy {
            while !has(&m0, agent).await {
                tokio::task::yield_now().await;
            }
        }
    };
    let guard = tokio::time::timeout(Duration::from_secs(20), rewritten).await;
    let still_waiting = !beat.is_finished();
    signal(&m1, "CONT");
    assert!(
        guard.is_ok(),
        "the healthy server's records were not renewed during the beat"
    );
    assert!(
        still_waiting,
        "the beat ended before the hung server answered"
    );

    // Once the server answers again, the beat ends with every record renewed.
    let beat = beat.await.unwrap();
    assert_eq!((beat.owned, beat.failed), (agents.len(), 0));
    for agent in &on_hung {
        assert!(has(&m1, agent).await, "{agent}");
    }
}

#[tokio::test]
async fn a_server_replaced_at_a_new_address_is_followed() {
    let old = Memcached::start().await.unwrap();
    let port = old.addr().port();
    let resolver = Arc::new(Scripted::new([&["127.0.0.1"], &["127.0.0.2"]]));
    let reg: Arc<dyn Registry> = Arc::new(MemcachedRegistry::new(Client::resolving(
        "registry.test",
        port,
        resolver.clone(),
        config(),
    )));
    let keeper = Keeper::new(Arc::clone(&reg), owner(1), Lease::default());
    assert_eq!(keeper.connected("edge-1").await.unwrap(), Claim::Claimed);
    assert!(has(&old, "edge-1").await);

    let new = Memcached::start_at(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), Some(port))
        .await
        .unwrap();
    old.stop().await.unwrap();
    // One heartbeat: the old address refuses, the name is resolved again, the record is
    // written on the new server.
    let beat = keeper.beat().await;
    assert_eq!((beat.owned, beat.failed), (1, 0));
    assert!(has(&new, "edge-1").await);
    assert_eq!(reg.lookup("edge-1").await.unwrap().unwrap().owner, owner(1));
    assert_eq!(resolver.calls(), 2);
}
