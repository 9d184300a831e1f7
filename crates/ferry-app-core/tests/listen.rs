//! Binding listeners: `SO_REUSEPORT` lets two listeners share an address, and without it the
//! second bind fails naming the address; IPv6 listeners work on ::1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use ferry_app_core::AppError;
use ferry_app_core::listen::{Acceptor, BindOptions, bind_tcp, bind_tcp_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn reuse_port_shares_an_address_and_its_absence_refuses() {
    let first = bind_tcp_with(
        "127.0.0.1:0".parse().unwrap(),
        BindOptions::reuse_port(true),
    )
    .unwrap();
    let addr = first.local_addr().unwrap();
    let second = bind_tcp_with(addr, BindOptions::reuse_port(true)).unwrap();
    assert_eq!(second.local_addr().unwrap(), addr);

    let plain = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let taken = plain.local_addr().unwrap();
    match bind_tcp(taken) {
        Err(AppError::Bind { addr, .. }) => assert_eq!(addr, taken),
        other => panic!("expected a bind error, got {other:?}"),
    }
    // Connections to the shared address reach one of the two listeners.
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"x").await.unwrap();
    let (mut server, _) = tokio::select! {
        a = first.accept() => a.unwrap(),
        b = second.accept() => b.unwrap(),
    };
    let mut byte = [0u8; 1];
    server.read_exact(&mut byte).await.unwrap();
    assert_eq!(&byte, b"x");
}

#[tokio::test]
async fn ipv6_listener_accepts() {
    let Ok(listener) = bind_tcp("[::1]:0".parse::<SocketAddr>().unwrap()) else {
        // No IPv6 on this machine: nothing to test (loopback ::1 missing).
        eprintln!("skipping: ::1 is not available");
        return;
    };
    let addr = listener.local_addr().unwrap();
    assert!(addr.is_ipv6());
    let client = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (_, peer) = Acceptor::new().accept(&listener).await;
    assert!(peer.is_ipv6());
    client.await.unwrap();
}
