//! Row B8 (slow TLS client after the handshake): a TLS listener's idle timeout closes a TLS
//! connection that went quiet (the other idle tests use plain listeners), and a client that
//! trickles tiny TLS records, one per write, is relayed byte-exact.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    TempDir, cert_lines, connector, localhost_cert, start_toml, tagged_echo, tls_connect,
};

fn tls_listener(upstream: std::net::SocketAddr, extra: &str, tls_lines: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{extra}\n[listener.tls]\n{tls_lines}\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\n"
    )
}

#[tokio::test]
async fn an_idle_tls_connection_is_closed_at_the_idle_timeout() {
    let up = tagged_echo(b'I').await;
    let dir = TempDir::new("tls-idle");
    let cert = localhost_cert();
    let p = start_toml(&tls_listener(
        up,
        "idle_timeout = \"300ms\"",
        &cert_lines(&dir, "server", &cert),
    ))
    .await;
    let (mut tls, _, tag) = tls_connect(&connector(&[&cert], 0), p.addr(), "localhost").await;
    assert_eq!(tag, b'I');
    // Nothing more is sent either way: the proxy must end the connection by itself. The bound
    // only keeps a broken proxy from hanging the test.
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut rest))
        .await
        .expect("the idle TLS connection was not closed");
    // A close_notify gives a clean EOF; a bare TCP close an unexpected-EOF error: both end it.
    if let Err(e) = end {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    assert!(rest.is_empty(), "{rest:?}");
    let r = p.stop().await;
    assert_eq!(
        (r.accepted, r.tls_handshakes, r.cut_at_drain),
        (1, 1, 0),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_client_trickling_tiny_tls_records_is_relayed_byte_exact() {
    let up = tagged_echo(b'S').await;
    let dir = TempDir::new("tls-trickle");
    let cert = localhost_cert();
    let p = start_toml(&tls_listener(up, "", &cert_lines(&dir, "server", &cert))).await;
    let (mut tls, _, tag) = tls_connect(&connector(&[&cert], 0), p.addr(), "localhost").await;
    assert_eq!(tag, b'S');
    let data = ferry_test_support::payload(3_000, 8);
    // One to three bytes per TLS record, each flushed (a record of its own), paced so the
    // records arrive as separate segments.
    for (i, chunk) in data.chunks(1 + data.len() % 3).enumerate() {
        tls.write_all(chunk).await.unwrap();
        tls.flush().await.unwrap();
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    tls.shutdown().await.unwrap();
    let mut back = Vec::new();
    tls.read_to_end(&mut back).await.unwrap();
    assert!(back == data, "trickled bytes came back different");
    let r = p.stop().await;
    assert_eq!(r.client_to_upstream, data.len() as u64, "{r:?}");
}
