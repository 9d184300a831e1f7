//! `server.memory_budget` over real loopback sockets: with room for exactly two connections,
//! two are relayed byte-exact, the third is closed at accept without a byte (and counted in
//! `ferry_proxy_memory_refused_total`), and once one of the two ends a new one is relayed.
//! This test file is its own process, so the Prometheus recorder it installs is its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::start;
use ferry_app_proxy::ProxyConfig;
use ferry_test_support::{
    blocking::poll,
    metric,
    net::{echo, echoed},
    payload,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A plain listener's connection reserves its two 16 KiB relay buffers.
const PER_CONNECTION: u64 = 32 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_budget_new_connections_are_refused_until_one_ends() {
    let metrics = ferry_app_core::admin::install_prometheus().unwrap();
    let upstream = echo().await;
    let config = ProxyConfig::from_toml(&format!(
        "[server]\nmemory_budget = \"64KiB\"\n\
         [[listener]]\nname = \"l\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\n"
    ))
    .unwrap();
    assert_eq!(config.listeners[0].memory_reservation, PER_CONNECTION);
    let p = start(config).await;
    let data = payload(100_000, 17);

    let mut first = TcpStream::connect(p.addr()).await.unwrap();
    let mut second = TcpStream::connect(p.addr()).await.unwrap();
    assert_eq!(echoed(&mut first, &data).await, data);
    assert_eq!(echoed(&mut second, &data).await, data);
    let text = metrics.render();
    assert_eq!(
        metric(&text, "ferry_proxy_memory_reserved_bytes", &[]),
        Some(64.0 * 1024.0)
    );
    assert_eq!(
        metric(&text, "ferry_proxy_memory_budget_bytes", &[]),
        Some(64.0 * 1024.0)
    );

    // The third would pass the budget: closed at accept, before any byte either way.
    let mut third = TcpStream::connect(p.addr()).await.unwrap();
    let mut got = Vec::new();
    third.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty(), "a refused connection gets no data");
    assert_eq!(
        metric(&metrics.render(), "ferry_proxy_memory_refused_total", &[]),
        Some(1.0)
    );
    // The live ones go on.
    assert_eq!(echoed(&mut second, b"still here").await, b"still here");

    // One ends: its reservation is given back, and a new connection is relayed.
    drop(first);
    let scrape = metrics.clone();
    tokio::task::spawn_blocking(move || {
        poll("the closed connection's reservation is given back", || {
            (metric(&scrape.render(), "ferry_proxy_memory_reserved_bytes", &[])
                == Some(32.0 * 1024.0))
            .then_some(())
        });
    })
    .await
    .unwrap();
    let mut fourth = TcpStream::connect(p.addr()).await.unwrap();
    assert_eq!(echoed(&mut fourth, &data).await, data);

    drop((second, fourth));
    let report = p.stop().await;
    assert_eq!(report.memory_refused, 1);
    assert_eq!(
        report.accepted, 3,
        "the refused one never reached the handler"
    );
}

#[test]
fn a_budget_below_one_connection_is_refused_with_both_sizes() {
    let err = ProxyConfig::from_toml(
        "[server]\nmemory_budget = \"16KiB\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"127.0.0.1:1\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("server.memory_budget"), "{err}");
    assert!(err.contains("16KiB") && err.contains("32KiB"), "{err}");
    let err = ProxyConfig::from_toml(
        "[server]\nmemory_budget = \"lots\"\n[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"127.0.0.1:1\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("memory_budget"), "{err}");
}
