//! Matrix row G4 (deadline propagation): hop 2's next address never completes a TCP
//! handshake (a listener whose accept queue is full). The client's budget holds and the error
//! names hop 2, whichever of the two deadlines (hop 2's connect timeout, the client's
//! handshake timeout) is shorter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ferry_chain::client::{ClientConfig, ClientError, connect};
use ferry_chain::{Address, Status, StatusError};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A listener that never accepts and whose accept queue is full: a new connection's SYN is
/// dropped, so connecting to it hangs until the caller gives up. Keep the result alive.
async fn blackhole() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    // Linux queues backlog + 1 connections; the next SYN is dropped.
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    (addr, listener, held)
}

#[tokio::test]
async fn slow_connect_at_hop_2_is_reported_by_hop_2_within_the_client_budget() {
    let h1 = hop(1).await;
    let mut c2 = config(2);
    c2.connect_timeout = Duration::from_millis(200);
    let h2 = start_hop(c2).await;
    let (dest, _listener, _held) = blackhole().await;
    let c = chain(&[(h1.addr, key(1)), (h2.addr, key(2))]);
    // The client's budget is far longer than hop 2's connect timeout: hop 2 gives up first
    // and says so; the client gets hop 2's own failure, not its own deadline.
    let config = ClientConfig {
        handshake_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    let err = connect(&c, &Address::try_from(dest).unwrap(), &config)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Hop(StatusError::HopFailed {
                hop: 2,
                status: Status::Timeout
            })
        ),
        "{err}"
    );
    assert_eq!(err.hop(), Some(2));
}

#[tokio::test]
async fn client_budget_shorter_than_hop_2_connect_timeout_names_hop_2() {
    let h1 = hop(1).await;
    let mut c2 = config(2);
    c2.connect_timeout = Duration::from_secs(60);
    let h2 = start_hop(c2).await;
    let (dest, _listener, _held) = blackhole().await;
    let c = chain(&[(h1.addr, key(1)), (h2.addr, key(2))]);
    // The client's budget runs out while hop 2 is still connecting: the client stops at its
    // own deadline (it does not wait for the hop's 60 s) and names hop 2 as the one missing.
    let config = ClientConfig {
        handshake_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let err = connect(&c, &Address::try_from(dest).unwrap(), &config)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { hop: 2 }), "{err}");
}
