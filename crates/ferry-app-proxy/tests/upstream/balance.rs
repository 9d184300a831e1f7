//! Each load-balancing policy's distribution through the proxy, and failover when an upstream
//! dies mid-run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Server, config, list, start, tag_held, tag_of};

#[tokio::test]
async fn round_robin_is_exact() {
    let (a, b, c) = (
        Server::tagged(b'A').await,
        Server::tagged(b'B').await,
        Server::tagged(b'C').await,
    );
    let p = start(&config(
        "",
        &list(&[a.addr, b.addr, c.addr]),
        "policy = \"round_robin\"",
    ))
    .await;
    let mut n = BTreeMap::new();
    for _ in 0..30 {
        *n.entry(tag_of(p.addr()).await).or_insert(0) += 1;
    }
    assert_eq!(n, BTreeMap::from([(b'A', 10), (b'B', 10), (b'C', 10)]));
    p.stop().await;
}

#[tokio::test]
async fn weighted_follows_weights() {
    let (a, b) = (Server::tagged(b'A').await, Server::tagged(b'B').await);
    let ups = format!(
        "[\"{}\", {{ address = \"{}\", weight = 3 }}]",
        a.addr, b.addr
    );
    let p = start(&config("", &ups, "policy = \"weighted\"")).await;
    let mut n = BTreeMap::new();
    for _ in 0..40 {
        *n.entry(tag_of(p.addr()).await).or_insert(0) += 1;
    }
    assert_eq!(n, BTreeMap::from([(b'A', 10), (b'B', 30)]));
    p.stop().await;
}

/// With two connections held on each upstream, closing B's two makes least connections send
/// the next two to B (round robin would alternate).
#[tokio::test]
async fn least_connections_follows_open_connections() {
    let (a, b) = (Server::tagged(b'A').await, Server::tagged(b'B').await);
    let p = start(&config(
        "",
        &list(&[a.addr, b.addr]),
        "policy = \"least_connections\"",
    ))
    .await;
    let mut held: Vec<(u8, TcpStream)> = Vec::new();
    for _ in 0..4 {
        held.push(tag_held(p.addr()).await);
    }
    let tags: Vec<u8> = held.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags.iter().filter(|&&t| t == b'A').count(), 2, "{tags:?}");
    held.retain(|(t, _)| *t == b'A');
    // Wait until the proxy has released B's two connections.
    let pool = p.reloader.pool("p").unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while pool
            .snapshot()
            .iter()
            .find(|e| e.address == b.addr)
            .unwrap()
            .active
            != 0
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    for _ in 0..2 {
        let (t, c) = tag_held(p.addr()).await;
        assert_eq!(t, b'B', "fewest active connections");
        held.push((t, c));
    }
    drop(held);
    p.stop().await;
}

/// Client addresses come from PROXY headers (the listener trusts 127.0.0.1), so each "client"
/// is a different address: each sticks to one upstream, and clients spread over all three.
#[tokio::test]
async fn consistent_hash_sticks_per_client_address() {
    let (a, b, c) = (
        Server::tagged(b'A').await,
        Server::tagged(b'B').await,
        Server::tagged(b'C').await,
    );
    let p = start(&config(
        "accept_proxy = { trusted = [\"127.0.0.1/32\"] }",
        &list(&[a.addr, b.addr, c.addr]),
        "policy = \"consistent_hash\"",
    ))
    .await;
    let addr = p.addr();
    let via = |i: u8| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("PROXY TCP4 198.51.{i}.7 192.0.2.1 40000 443\r\n").as_bytes())
            .await
            .unwrap();
        let mut t = [0u8; 1];
        s.read_exact(&mut t).await.unwrap();
        t[0]
    };
    let mut used = BTreeSet::new();
    for i in 0..40u8 {
        let first = via(i).await;
        for _ in 0..3 {
            assert_eq!(via(i).await, first, "client {i} moved");
        }
        used.insert(first);
    }
    assert_eq!(used.len(), 3, "40 clients should reach every upstream");
    p.stop().await;
}

/// An upstream dies after 10 of 40 connections: every client still gets an answer (retry on
/// the next upstream), and none reaches the dead one afterwards.
#[tokio::test]
async fn failover_when_an_upstream_dies_mid_run() {
    let (a, mut b, c) = (
        Server::tagged(b'A').await,
        Server::tagged(b'B').await,
        Server::tagged(b'C').await,
    );
    let p = start(&config("", &list(&[a.addr, b.addr, c.addr]), "")).await;
    let mut after = Vec::new();
    for i in 0..40 {
        if i == 10 {
            b.kill().await;
        }
        let t = tag_of(p.addr()).await;
        if i >= 10 {
            after.push(t);
        }
    }
    assert!(!after.contains(&b'B'), "{after:?}");
    assert!(after.contains(&b'A') && after.contains(&b'C'));
    // Concurrent clients, too.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let addr = p.addr();
            tokio::spawn(async move { tag_of(addr).await })
        })
        .collect();
    for t in tasks {
        assert_ne!(t.await.unwrap(), b'B');
    }
    let report = p.stop().await;
    assert_eq!(report.upstream_failures, 0);
    assert_eq!(report.accepted, 90);
}
