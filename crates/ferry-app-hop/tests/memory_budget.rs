//! `memory_budget` of `ferry-hop serve` over real loopback sockets: with room for exactly two
//! connections, two chains are relayed byte-exact, the third connection is closed at accept
//! without a byte (counted in `ferry_hop_memory_refused_total`), and once one of the two ends a
//! new chain is relayed. This test file is its own process, so the Prometheus recorder it
//! installs is its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU64;

use common::{chain, config, echo_dest, key};
use ferry_app_hop::serve::bind;
use ferry_app_hop::{ServeReport, serve};
use ferry_chain::Address;
use ferry_chain::client::{ClientConfig, connect};
use ferry_test_support::{blocking::poll, metric, net::echoed, payload};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_budget_new_connections_are_refused_until_one_ends() {
    let metrics = ferry_app_core::admin::install_prometheus().unwrap();
    let dest = echo_dest().await;
    let mut c = config(1);
    // A plain hop's connection: two 16 KiB relay buffers and the 4 KiB record buffer.
    let per_connection = c.memory_reservation();
    assert_eq!(per_connection, 36 * 1024);
    c.memory_budget = NonZeroU64::new(2 * per_connection).unwrap();
    let (listener, udp) = bind(&c).unwrap();
    let hop = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(c, listener, udp, async {
        let _ = stopped.await;
    }));
    let chain = chain(&[(hop, key(1))]);
    let to = Address::try_from(dest.addr).unwrap();
    let data = payload(100_000, 5);

    let mut first = connect(&chain, &to, &ClientConfig::default())
        .await
        .unwrap();
    let mut second = connect(&chain, &to, &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(echoed(&mut first, &data).await, data);
    assert_eq!(echoed(&mut second, &data).await, data);
    let full = f64::from(u32::try_from(2 * per_connection).unwrap());
    assert_eq!(
        metric(&metrics.render(), "ferry_hop_memory_reserved_bytes", &[]),
        Some(full)
    );

    // The third would pass the budget: closed at accept, before any byte either way.
    let mut third = TcpStream::connect(hop).await.unwrap();
    let mut got = Vec::new();
    third.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty(), "a refused connection gets no data");
    assert_eq!(
        metric(&metrics.render(), "ferry_hop_memory_refused_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        echoed(&mut second, b"live").await,
        b"live",
        "live ones go on"
    );

    // One ends: its reservation is given back, and a new chain is relayed.
    drop(first);
    let scrape = metrics.clone();
    let half = full / 2.0;
    tokio::task::spawn_blocking(move || {
        poll("the closed connection's reservation is given back", || {
            (metric(&scrape.render(), "ferry_hop_memory_reserved_bytes", &[]) == Some(half))
                .then_some(())
        });
    })
    .await
    .unwrap();
    let mut fourth = connect(&chain, &to, &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(echoed(&mut fourth, &data).await, data);

    drop((second, fourth));
    stop.send(()).unwrap();
    let report: ServeReport = task.await.unwrap().unwrap();
    assert_eq!(report.memory_refused, 1);
    assert_eq!(
        report.accepted, 3,
        "the refused one never reached the handler"
    );
    assert_eq!(dest.count(), 3, "nothing was dialled for the refused one");
}
