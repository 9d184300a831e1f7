//! DNS resolution of host targets through an injected resolver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, client};
use ferry_pool::{ConnectError, Pool, PoolConfig, ResolveFuture, Resolver, Target, Upstream};
use tokio_util::sync::CancellationToken;

/// Answers with whatever the test last set; `None` means "fail".
#[derive(Debug, Default)]
struct Fake {
    answer: Mutex<Option<Vec<SocketAddr>>>,
    calls: Mutex<Vec<(String, u16)>>,
}

impl Fake {
    fn set(&self, a: Option<Vec<SocketAddr>>) {
        *self.answer.lock().unwrap() = a;
    }
}

impl Resolver for Fake {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        self.calls.lock().unwrap().push((host.to_owned(), port));
        let a = self.answer.lock().unwrap().clone();
        Box::pin(async move { a.ok_or_else(|| io::Error::other("SERVFAIL")) })
    }
}

fn host_pool(fake: &Arc<Fake>, config: PoolConfig) -> Pool {
    let up = Upstream::new(Target::parse("svc.example:8080").unwrap());
    Pool::with_resolver("dns", config, vec![up], fake.clone()).unwrap()
}

fn addrs(p: &Pool) -> Vec<SocketAddr> {
    p.snapshot().iter().map(|e| e.address).collect()
}

#[tokio::test]
async fn resolves_on_first_use_and_re_resolves() {
    let (a, b, c) = (
        Server::start().await,
        Server::start().await,
        Server::start().await,
    );
    let fake = Arc::new(Fake::default());
    fake.set(Some(vec![a.addr]));
    let p = host_pool(&fake, PoolConfig::default());
    assert!(p.snapshot().is_empty(), "nothing resolved before first use");
    assert_eq!(p.connect(client(1)).await.unwrap().endpoint, a.addr);
    assert_eq!(
        fake.calls.lock().unwrap()[0],
        ("svc.example".to_owned(), 8080)
    );
    // Every resolved address becomes an endpoint.
    fake.set(Some(vec![c.addr, b.addr, c.addr]));
    p.resolve().await;
    let mut want = vec![b.addr, c.addr];
    want.sort();
    assert_eq!(addrs(&p), want);
    for _ in 0..4 {
        assert_ne!(p.connect(client(1)).await.unwrap().endpoint, a.addr);
    }
    // A failed or empty answer keeps the previous addresses.
    fake.set(None);
    p.resolve().await;
    assert_eq!(addrs(&p), want);
    fake.set(Some(Vec::new()));
    p.resolve().await;
    assert_eq!(addrs(&p), want);
}

#[tokio::test]
async fn unresolvable_host_is_no_healthy_upstream() {
    let fake = Arc::new(Fake::default());
    let p = host_pool(&fake, PoolConfig::default());
    let err = p.connect(client(1)).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::NoHealthyUpstream { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn background_re_resolves_on_its_interval_keeping_state() {
    let (a, b) = (Server::start().await, Server::start().await);
    let fake = Arc::new(Fake::default());
    fake.set(Some(vec![a.addr]));
    let mut c = PoolConfig::default();
    c.dns_interval = Duration::from_secs(30);
    let p = host_pool(&fake, c);
    let mut changes = p.watch();
    let stop = CancellationToken::new();
    let bg = tokio::spawn({
        let (p, stop) = (p.clone(), stop.clone());
        async move { p.run_background(stop).await }
    });
    let started = tokio::time::Instant::now();
    while addrs(&p) != vec![a.addr] {
        changes.changed().await.unwrap();
    }
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "first resolution at start"
    );
    let held = p.connect(client(1)).await.unwrap();
    fake.set(Some(vec![a.addr, b.addr]));
    while addrs(&p).len() != 2 {
        changes.changed().await.unwrap();
    }
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let sa = p
        .snapshot()
        .into_iter()
        .find(|e| e.address == a.addr)
        .unwrap();
    assert_eq!(sa.active, 1, "a kept endpoint keeps its state");
    drop(held);
    stop.cancel();
    bg.await.unwrap();
}

/// While a host does not resolve, concurrent connects share one query, and a new query is made
/// at most once per second.
#[tokio::test(start_paused = true)]
async fn on_demand_resolution_is_shared_and_rate_limited() {
    let a = Server::start().await;
    let fake = Arc::new(Fake::default());
    let p = host_pool(&fake, PoolConfig::default());
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.connect(client(1)).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
    fake.set(Some(vec![a.addr]));
    assert!(
        p.connect(client(1)).await.is_err(),
        "within a second of the failure"
    );
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(p.connect(client(1)).await.unwrap().endpoint, a.addr);
    assert_eq!(fake.calls.lock().unwrap().len(), 2);
    p.connect(client(1)).await.unwrap();
    assert_eq!(
        fake.calls.lock().unwrap().len(),
        2,
        "resolved: no more on-demand queries"
    );
}

/// Endpoints are kept in address order whatever order the resolver answers in, and an answer
/// that differs only in order is no change (no watch event, state kept).
#[tokio::test]
async fn answer_order_does_not_change_endpoints() {
    let (a, b, c) = (
        Server::start().await,
        Server::start().await,
        Server::start().await,
    );
    let mut sorted = vec![a.addr, b.addr, c.addr];
    sorted.sort();
    let fake = Arc::new(Fake::default());
    fake.set(Some(vec![sorted[2], sorted[0], sorted[1]]));
    let p = host_pool(&fake, PoolConfig::default());
    p.resolve().await;
    assert_eq!(addrs(&p), sorted);
    let mut changes = p.watch();
    changes.mark_unchanged();
    fake.set(Some(vec![sorted[1], sorted[2], sorted[0]]));
    p.resolve().await;
    assert_eq!(addrs(&p), sorted);
    assert!(
        !changes.has_changed().unwrap(),
        "reordered answer is no change"
    );
    fake.set(Some(vec![sorted[1], sorted[0]]));
    p.resolve().await;
    assert_eq!(addrs(&p), vec![sorted[0], sorted[1]]);
    assert!(changes.has_changed().unwrap());
}
