//! Connect over real loopback sockets: distribution per policy, failover, budget, ejection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, client, dead_port, pool, weighted};
use ferry_pool::{AttemptError, ConnectError, Ejection, Policy, Pool, PoolConfig};

fn cfg(policy: Policy) -> PoolConfig {
    let mut c = PoolConfig::default();
    c.policy = policy;
    c
}

async fn tally(p: &Pool, n: usize) -> HashMap<SocketAddr, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let c = p.connect(client(1)).await.unwrap();
        assert_eq!(c.stream.peer_addr().unwrap(), c.endpoint);
        *m.entry(c.endpoint).or_default() += 1;
    }
    m
}

#[tokio::test]
async fn round_robin_spreads_exactly() {
    let s: Vec<Server> = vec![
        Server::start().await,
        Server::start().await,
        Server::start().await,
    ];
    let addrs: Vec<_> = s.iter().map(|s| s.addr).collect();
    let p = pool(cfg(Policy::RoundRobin), &addrs);
    let m = tally(&p, 30).await;
    assert!(addrs.iter().all(|a| m[a] == 10), "{m:?}");
}

#[tokio::test]
async fn weighted_spreads_by_weight() {
    let (a, b) = (Server::start().await, Server::start().await);
    let p = Pool::new(
        "w",
        cfg(Policy::Weighted),
        vec![weighted(a.addr, 3), weighted(b.addr, 1)],
    )
    .unwrap();
    let m = tally(&p, 40).await;
    assert_eq!((m[&a.addr], m[&b.addr]), (30, 10));
}

#[tokio::test]
async fn least_connections_follows_held_connections() {
    let s: Vec<Server> = vec![
        Server::start().await,
        Server::start().await,
        Server::start().await,
    ];
    let addrs: Vec<_> = s.iter().map(|s| s.addr).collect();
    let p = pool(cfg(Policy::LeastConnections), &addrs);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(p.connect(client(1)).await.unwrap());
    }
    let mut got: Vec<_> = held.iter().map(|c| c.endpoint).collect();
    got.sort();
    let mut want = addrs.clone();
    want.sort();
    assert_eq!(got, want, "one each while all are equal");
    // Release the one on the second endpoint: the next two picks go there, then ties again.
    let freed = held.remove(1).endpoint;
    let next = p.connect(client(1)).await.unwrap();
    assert_eq!(next.endpoint, freed);
    held.push(next);
    let active: Vec<u64> = p.snapshot().iter().map(|e| e.active).collect();
    assert_eq!(active, vec![1, 1, 1]);
    drop(held);
    assert!(
        p.snapshot().iter().all(|e| e.active == 0),
        "guards release counts"
    );
}

#[tokio::test]
async fn consistent_hash_sticks_per_client() {
    let s: Vec<Server> = vec![
        Server::start().await,
        Server::start().await,
        Server::start().await,
    ];
    let addrs: Vec<_> = s.iter().map(|s| s.addr).collect();
    let p = pool(cfg(Policy::ConsistentHash), &addrs);
    let mut seen = HashMap::new();
    for round in 0..3 {
        for i in 0..60u8 {
            let ep = p.connect(client(i)).await.unwrap().endpoint;
            let first = *seen.entry(i).or_insert(ep);
            assert_eq!(first, ep, "client {i} moved in round {round}");
        }
    }
    let used: std::collections::HashSet<_> = seen.values().collect();
    assert_eq!(used.len(), 3, "60 clients use every endpoint");
}

/// An upstream's listener closes while clients connect in a loop: no client sees an error,
/// and the dead endpoint is ejected.
#[tokio::test]
async fn failover_when_upstream_dies_mid_run() {
    let a = Server::start().await;
    let mut b = Server::start().await;
    let p = pool(cfg(Policy::RoundRobin), &[a.addr, b.addr]);
    let mut to_b_after_kill = 0;
    for i in 0..200 {
        if i == 50 {
            b.kill().await;
        }
        let c = p
            .connect(client(1))
            .await
            .unwrap_or_else(|e| panic!("connect {i} failed: {e}"));
        if i >= 50 && c.endpoint == b.addr {
            to_b_after_kill += 1;
        }
    }
    assert_eq!(to_b_after_kill, 0);
    let snap = p.snapshot();
    let sb = snap.iter().find(|e| e.address == b.addr).unwrap();
    assert!(sb.ejected_until.is_some(), "{sb:?}");
    assert_eq!(sb.consecutive_failures, 5, "ejected after 5, then skipped");
}

/// Several tasks connect concurrently while one upstream dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_concurrency() {
    let a = Server::start().await;
    let mut b = Server::start().await;
    let p = pool(cfg(Policy::LeastConnections), &[a.addr, b.addr]);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for t in 0..4u8 {
        let p = p.clone();
        let mut rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                p.connect(client(t)).await.unwrap();
                n += 1;
                if *rx.borrow_and_update() && n > 100 {
                    return n;
                }
            }
        }));
    }
    b.kill().await;
    tx.send(true).unwrap();
    for t in tasks {
        assert!(t.await.unwrap() > 100);
    }
}

#[tokio::test]
async fn exhausted_names_every_attempt() {
    let dead: Vec<_> = (0..3).map(|_| dead_port()).collect();
    let addrs: Vec<_> = dead.iter().map(|d| d.1).collect();
    let mut c = cfg(Policy::RoundRobin);
    c.ejection = None;
    let p = pool(c, &addrs);
    let err = p.connect(client(1)).await.unwrap_err();
    let ConnectError::Exhausted { attempts, .. } = &err else {
        panic!("{err:?}")
    };
    let mut tried: Vec<_> = attempts.iter().map(|a| a.endpoint).collect();
    tried.sort();
    let mut want = addrs.clone();
    want.sort();
    assert_eq!(tried, want);
    let msg = err.to_string();
    for a in &addrs {
        assert!(msg.contains(&a.to_string()), "{msg}");
    }
    assert!(msg.contains("refused"), "{msg}");
}

/// A listener whose accept queue is full drops SYNs: attempts time out and the budget ends
/// the connect, naming both attempts.
#[tokio::test(start_paused = true)]
async fn budget_spent_names_timed_out_attempts() {
    let mut full = Vec::new();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = s.listen(1).unwrap();
        let a = l.local_addr().unwrap();
        for _ in 0..2 {
            fillers.push(tokio::net::TcpStream::connect(a).await.unwrap());
        }
        full.push((l, a));
    }
    let mut c = cfg(Policy::RoundRobin);
    c.connect_timeout = Duration::from_secs(5);
    c.connect_budget = Duration::from_secs(7);
    let p = pool(c, &[full[0].1, full[1].1]);
    let started = tokio::time::Instant::now();
    let err = p.connect(client(1)).await.unwrap_err();
    let ConnectError::BudgetSpent {
        attempts, budget, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*budget, Duration::from_secs(7));
    assert_eq!(attempts.len(), 2);
    assert!(matches!(attempts[0].error, AttemptError::TimedOut(d) if d == Duration::from_secs(5)));
    assert!(matches!(attempts[1].error, AttemptError::TimedOut(d) if d == Duration::from_secs(2)));
    assert_eq!(started.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn passive_ejection_and_recovery() {
    let a = Server::start().await;
    let (b_sock, b) = dead_port();
    let mut c = cfg(Policy::RoundRobin);
    let mut e = Ejection::default();
    e.consecutive_failures = 2.try_into().unwrap();
    e.base_time = Duration::from_secs(10);
    e.max_time = Duration::from_secs(60);
    c.ejection = Some(e);
    let p = pool(c, &[a.addr, b]);
    let status = |p: &Pool| p.snapshot().into_iter().find(|e| e.address == b).unwrap();
    for _ in 0..4 {
        assert_eq!(p.connect(client(1)).await.unwrap().endpoint, a.addr);
    }
    assert_eq!(status(&p).consecutive_failures, 2);
    assert!(status(&p).ejected_until.is_some());
    // While ejected, b is not tried at all.
    for _ in 0..4 {
        p.connect(client(1)).await.unwrap();
    }
    assert_eq!(status(&p).consecutive_failures, 2);
    // After the period b is tried again; it still refuses, so it is ejected for twice as long.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(status(&p).ejected_until.is_none());
    for _ in 0..2 {
        p.connect(client(1)).await.unwrap();
    }
    let until = status(&p).ejected_until.unwrap();
    assert_eq!(until - tokio::time::Instant::now(), Duration::from_secs(20));
    // b comes back: after the period it is picked and succeeds.
    let lb = b_sock.listen(16).unwrap();
    common::serve(lb);
    tokio::time::advance(Duration::from_secs(20)).await;
    let mut to_b = 0;
    for _ in 0..4 {
        if p.connect(client(1)).await.unwrap().endpoint == b {
            to_b += 1;
        }
    }
    assert_eq!(to_b, 2);
    let s = status(&p);
    assert!(s.usable() && s.consecutive_failures == 0, "{s:?}");
}

#[tokio::test]
async fn rejects_bad_pools() {
    assert!(Pool::new("x", PoolConfig::default(), Vec::new()).is_err());
    let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert!(Pool::new("x", PoolConfig::default(), vec![weighted(a, 1001)]).is_err());
    let mut c = PoolConfig::default();
    c.connect_budget = Duration::ZERO;
    assert!(Pool::new("x", c, vec![weighted(a, 1)]).is_err());
}

/// Active counts return to zero after many connections, including failed attempts, across
/// concurrent tasks (no accounting leak).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_counts_return_to_zero() {
    let a = Server::start().await;
    let b = Server::start().await;
    let (_dead, d) = dead_port();
    let mut c = cfg(Policy::LeastConnections);
    c.ejection = None;
    let p = pool(c, &[a.addr, b.addr, d]);
    let tasks: Vec<_> = (0..8u8)
        .map(|t| {
            let p = p.clone();
            tokio::spawn(async move {
                let mut held = Vec::new();
                for i in 0..100 {
                    held.push(p.connect(client(t)).await.unwrap());
                    if i % 3 == 0 {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let snap = p.snapshot();
    assert!(snap.iter().all(|e| e.active == 0), "{snap:?}");
    let dead = snap.iter().find(|e| e.address == d).unwrap();
    assert!(dead.consecutive_failures > 0, "the dead endpoint was tried");
}

#[tokio::test]
async fn ipv6_endpoints() {
    let Ok(l) = tokio::net::TcpListener::bind("[::1]:0").await else {
        // No IPv6 loopback in this environment: nothing to test.
        return;
    };
    let a = l.local_addr().unwrap();
    common::serve(l);
    let p = Pool::new(
        "v6",
        cfg(Policy::ConsistentHash),
        vec![ferry_pool::Upstream::new(
            format!("[::1]:{}", a.port()).parse().unwrap(),
        )],
    )
    .unwrap();
    let v6_client: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
    assert_eq!(p.connect(v6_client).await.unwrap().endpoint, a);
}

/// An attempt cut short by the end of the budget is not a failure of its endpoint: only the
/// attempt that ran to its own timeout counts towards passive ejection.
#[tokio::test(start_paused = true)]
async fn attempts_cut_by_the_budget_do_not_count_for_ejection() {
    let mut full = Vec::new();
    let mut fillers = Vec::new();
    for _ in 0..2 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let l = s.listen(1).unwrap();
        let a = l.local_addr().unwrap();
        for _ in 0..2 {
            fillers.push(tokio::net::TcpStream::connect(a).await.unwrap());
        }
        full.push((l, a));
    }
    let mut c = cfg(Policy::RoundRobin);
    c.connect_timeout = Duration::from_secs(5);
    c.connect_budget = Duration::from_secs(7);
    let p = pool(c, &[full[0].1, full[1].1]);
    let err = p.connect(client(1)).await.unwrap_err();
    let attempts = err.attempts();
    assert_eq!(attempts.len(), 2);
    let failures = |a: SocketAddr| {
        p.snapshot()
            .into_iter()
            .find(|e| e.address == a)
            .unwrap()
            .consecutive_failures
    };
    assert_eq!(failures(attempts[0].endpoint), 1, "ran to its own timeout");
    assert_eq!(failures(attempts[1].endpoint), 0, "cut by the budget");
}
