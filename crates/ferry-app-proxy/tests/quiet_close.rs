//! Row A12 (zero-byte transfer, immediate close): a client that connects and closes at once,
//! and one that half-closes without sending anything, end cleanly: the upstream sees a clean
//! EOF and nothing else, the report counts both connections as completed with zero bytes, and
//! the proxy logs nothing at WARN or ERROR level. Its own test binary, because it installs a
//! global log subscriber that captures every line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, start, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/captured.rs"]
mod captured;
use captured::Captured;

#[tokio::test]
async fn empty_and_immediately_closed_connections_end_cleanly_without_warnings() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut up = upstream(b'T').await;
    let p = start(config(up.addr, "")).await;

    // Connect and close at once, without reading the upstream's tag.
    drop(TcpStream::connect(p.addr()).await.unwrap());
    // Connect, send nothing, half-close, read what comes back until EOF.
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"T", "the upstream's tag, then a clean EOF");

    // Each upstream connection saw EOF and no bytes.
    for _ in 0..2 {
        assert_eq!(up.received.recv().await.unwrap(), b"");
    }
    let r = p.stop().await;
    assert_eq!((r.accepted, r.completed), (2, 2), "{r:?}");
    assert_eq!(r.client_to_upstream, 0, "{r:?}");
    assert_eq!(r.upstream_failures + r.cut_at_drain, 0, "{r:?}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text.is_empty(),
        "the subscriber captured nothing: the test would prove nothing"
    );
    for line in text.lines() {
        assert!(
            !line.contains(" WARN ") && !line.contains(" ERROR "),
            "a clean close logged: {line}"
        );
    }
}
