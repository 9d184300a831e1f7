//! `[limits] memory_budget` on the client front: with room for exactly two connections, two
//! tunnels are relayed byte-exact, the third connection is closed at accept without a byte
//! (counted), and once one of the two ends a new tunnel is relayed.

use std::num::NonZeroU64;

use ferry_test_support::{net::echoed, payload};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::harness::{TOKEN, ask, connect_request, echo_server, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_budget_new_connections_are_refused_until_one_ends() {
    let echo = echo_server().await;
    // A plain front's connection: two 16 KiB relay buffers and the 8 KiB request head.
    let per_connection = 40 * 1024;
    let f = start(|c, _| {
        assert_eq!(c.memory_reservation(false), per_connection);
        c.memory_budget = NonZeroU64::new(2 * per_connection).unwrap();
    })
    .await;
    let request = connect_request(&echo.to_string(), Some(("edge-1", TOKEN)));
    let data = payload(100_000, 3);

    let (head, mut first) = ask(f.addr, &request).await;
    assert_eq!(head.status, 200);
    let (head, mut second) = ask(f.addr, &request).await;
    assert_eq!(head.status, 200);
    assert_eq!(echoed(&mut first, &data).await, data);
    assert_eq!(echoed(&mut second, &data).await, data);
    assert_eq!(f.front.memory_reserved(), 2 * per_connection);

    // The third would pass the budget: closed at accept, before any byte either way (no
    // reply is read or written, no tunnel is opened).
    let mut third = TcpStream::connect(f.addr).await.unwrap();
    let mut got = Vec::new();
    third.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty(), "a refused connection gets no data");
    assert_eq!(f.front.memory_refused(), 1);
    assert_eq!(
        echoed(&mut second, b"live").await,
        b"live",
        "live ones go on"
    );

    // One ends: its reservation is given back, and a new tunnel is relayed.
    drop(first);
    let front = f.front.clone();
    tokio::task::spawn_blocking(move || {
        ferry_test_support::blocking::poll("the closed tunnel's reservation is given back", || {
            (front.memory_reserved() == per_connection).then_some(())
        });
    })
    .await
    .unwrap();
    let (head, mut fourth) = ask(f.addr, &request).await;
    assert_eq!(head.status, 200);
    assert_eq!(echoed(&mut fourth, &data).await, data);
    assert_eq!(f.front.stats().replies(200), 3);
    assert_eq!(f.front.memory_refused(), 1);
    drop((second, fourth));
    f.stop().await;
}
