//! PROXY protocol: the bytes a real upstream receives with `send_proxy` v1 and v2, headers
//! accepted from trusted peers (whole or one byte at a time), and refusal of untrusted peers,
//! garbage, late headers and versions the listener does not accept.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Server, config, list, recorder, start};

const SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The v2 header of a TCP over IPv4 connection, byte by byte per the spec.
fn v2_tcp4(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("ipv4 only")
    };
    let mut h = SIG.to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&12u16.to_be_bytes());
    h.extend_from_slice(&s.ip().octets());
    h.extend_from_slice(&d.ip().octets());
    h.extend_from_slice(&s.port().to_be_bytes());
    h.extend_from_slice(&d.port().to_be_bytes());
    h
}

/// Sends `first` (then `payload`) and half-closes; returns what comes back.
async fn exchange(addr: SocketAddr, first: &[u8], payload: &[u8]) -> (SocketAddr, Vec<u8>) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let local = c.local_addr().unwrap();
    // A refused connection may be reset before the writes: only the answer matters.
    let _ = c.write_all(first).await;
    let _ = c.write_all(payload).await;
    let _ = c.shutdown().await;
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back).await;
    (local, back)
}

#[tokio::test]
async fn send_proxy_v1_and_v2_bytes_reach_the_upstream() {
    let (up, mut got) = recorder().await;
    for version in ["v1", "v2"] {
        let p = start(&config(
            "",
            &list(&[up]),
            &format!("send_proxy = \"{version}\""),
        ))
        .await;
        let (client, back) = exchange(p.addr(), b"", b"hello upstream").await;
        assert_eq!(back, b"ok");
        let bytes = got.recv().await.unwrap();
        let mut want = if version == "v1" {
            format!(
                "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
                client.port(),
                p.addr().port()
            )
            .into_bytes()
        } else {
            v2_tcp4(client, p.addr())
        };
        want.extend_from_slice(b"hello upstream");
        assert_eq!(bytes, want, "{version}");
        p.stop().await;
    }
}

/// A trusted peer's v1 header, written one byte at a time, stands for the client: the
/// upstream gets a v2 header with the header's addresses, then the payload intact.
#[tokio::test]
async fn trusted_header_address_is_forwarded() {
    let (up, mut got) = recorder().await;
    let p = start(&config(
        "accept_proxy = { trusted = [\"127.0.0.1/32\"] }",
        &list(&[up]),
        "send_proxy = \"v2\"",
    ))
    .await;
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    for b in b"PROXY TCP4 192.0.2.9 198.51.100.1 5555 443\r\n" {
        c.write_all(&[*b]).await.unwrap();
        c.flush().await.unwrap();
    }
    c.write_all(b"PROXY is data now").await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"ok");
    let mut want = v2_tcp4(
        "192.0.2.9:5555".parse().unwrap(),
        "198.51.100.1:443".parse().unwrap(),
    );
    want.extend_from_slice(b"PROXY is data now");
    assert_eq!(got.recv().await.unwrap(), want);

    // A v2 LOCAL header (a health check of the load balancer): the peer's own address.
    let mut local = SIG.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let (client, back) = exchange(p.addr(), &local, b"x").await;
    assert_eq!(back, b"ok");
    let mut want = v2_tcp4(client, p.addr());
    want.push(b'x');
    assert_eq!(got.recv().await.unwrap(), want);
    let report = p.stop().await;
    assert_eq!(report.proxy_rejected, 0);
    assert_eq!(report.completed, 2);
}

/// The same header is refused from a peer outside the trusted networks: the connection is
/// closed and counted, and the upstream never sees a connection.
#[tokio::test]
async fn untrusted_peers_are_refused_and_trusted_accepted() {
    let up = Server::tagged(b'U').await;
    let header = b"PROXY TCP4 192.0.2.9 198.51.100.1 5555 443\r\n";
    let only_10 = start(&config(
        "accept_proxy = { trusted = [\"10.0.0.0/8\"] }",
        &list(&[up.addr]),
        "",
    ))
    .await;
    let (_, back) = exchange(only_10.addr(), header, b"data").await;
    assert!(back.is_empty(), "refused: {back:?}");
    let report = only_10.stop().await;
    assert_eq!((report.accepted, report.proxy_rejected), (1, 1));
    assert_eq!(up.accepted.load(std::sync::atomic::Ordering::SeqCst), 0);

    let trusts_us = start(&config(
        "accept_proxy = { trusted = [\"127.0.0.1/32\"] }",
        &list(&[up.addr]),
        "",
    ))
    .await;
    let (_, back) = exchange(trusts_us.addr(), header, b"data").await;
    assert_eq!(back, b"Udata");
    let report = trusts_us.stop().await;
    assert_eq!((report.completed, report.proxy_rejected), (1, 0));
}

/// A trusted peer is closed when it sends garbage, a header in a version the listener does not
/// accept, or nothing complete before the deadline.
#[tokio::test]
async fn trusted_garbage_wrong_version_and_late_headers_are_closed() {
    let up = Server::tagged(b'U').await;
    let p = start(&config(
        "accept_proxy = { trusted = [\"127.0.0.1\"], versions = [\"v2\"], timeout = \"200ms\" }",
        &list(&[up.addr]),
        "",
    ))
    .await;
    for first in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &b"PROXY TCP4 192.0.2.9 198.51.100.1 5555 443\r\n"[..],
        &b"PROXY TCP4 999.0.2.9 198.51.100.1 5555 443\r\n"[..],
    ] {
        let (_, back) = exchange(p.addr(), first, b"").await;
        assert!(back.is_empty(), "{first:?} was accepted");
    }
    // Half a header, then silence: closed at the deadline.
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    c.write_all(&SIG[..6]).await.unwrap();
    let mut back = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut back)).await;
    assert!(read.is_ok(), "not closed at the deadline");
    assert!(back.is_empty());
    let report = p.stop().await;
    assert_eq!(report.proxy_rejected, 4);
    assert_eq!(up.accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
}
