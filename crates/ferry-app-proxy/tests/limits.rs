//! Limits at accept over real loopback sockets: new-connection rate (with the exact 429 reply
//! and its Retry-After), per-client concurrency, the per-listener cap, the reset action, TLS
//! listeners refusing before the handshake, and isolation of a violating client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;

use common::{config, connect_from, proxied, refused_bytes, start, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPLY_429: &str = r#"
action = "reply"
reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
"#;

fn http_429(secs: u64) -> Vec<u8> {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {secs}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn connection_rate_replies_429_with_retry_after_from_the_limiter() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        &format!("[listener.limits]\nconnection_rate = \"1/m\"\n{REPLY_429}"),
    ))
    .await;
    let first = proxied("127.0.0.1", p.addr()).await;
    // One per minute, burst 1: the next is allowed 60 s after the first (less the few
    // milliseconds since, rounded up).
    let second = connect_from("127.0.0.1", p.addr()).await;
    assert_eq!(refused_bytes(second).await, http_429(60));
    // Another client has its own budget.
    drop(proxied("127.0.0.2", p.addr()).await);
    drop(first);
    let report = p.stop().await;
    assert_eq!(
        up.accepted(),
        2,
        "the refused connection never reached the upstream"
    );
    assert_eq!((report.accepted, report.refused), (3, 1));
}

#[tokio::test]
async fn retry_after_is_the_time_until_the_next_cell() {
    let up = upstream(b'A').await;
    // 2 per minute with a burst of 2: after two at once, the next cell is due in 30 s.
    let p = start(config(
        up.addr,
        &format!("[listener.limits]\nconnection_rate = \"2/m\"\n{REPLY_429}"),
    ))
    .await;
    let a = proxied("127.0.0.1", p.addr()).await;
    let b = proxied("127.0.0.1", p.addr()).await;
    let c = connect_from("127.0.0.1", p.addr()).await;
    assert_eq!(refused_bytes(c).await, http_429(30));
    drop((a, b));
    p.stop().await;
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn per_client_concurrency_refuses_the_extra_connection_only() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.limits]\nper_client_connections = 2\n",
    ))
    .await;
    let a = proxied("127.0.0.1", p.addr()).await;
    let b = proxied("127.0.0.1", p.addr()).await;
    // Close: the third gets EOF without a byte, the upstream never sees it.
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", p.addr()).await).await,
        b""
    );
    assert_eq!(up.accepted(), 2);
    // Another client is not affected.
    let other = proxied("127.0.0.2", p.addr()).await;
    // Closing one frees its slot once the proxy has finished that connection.
    drop(a);
    let mut freed = false;
    for _ in 0..200 {
        let mut c = connect_from("127.0.0.1", p.addr()).await;
        let mut tag = [0u8; 1];
        if c.read(&mut tag).await.unwrap_or(0) == 1 {
            freed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        freed,
        "the slot of the closed connection was never given back"
    );
    drop((b, other));
    let report = p.stop().await;
    assert!(report.refused >= 1);
}

#[tokio::test]
async fn listener_cap_counts_every_client() {
    let up = upstream(b'A').await;
    let p = start(config(up.addr, "[listener.limits]\nmax_connections = 2\n")).await;
    let a = proxied("127.0.0.1", p.addr()).await;
    let b = proxied("127.0.0.2", p.addr()).await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.3", p.addr()).await).await,
        b""
    );
    drop((a, b));
    let report = p.stop().await;
    assert_eq!((up.accepted(), report.refused), (2, 1));
}

#[tokio::test]
async fn reset_action_is_seen_as_connection_reset() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.limits]\nper_client_connections = 1\naction = \"reset\"\n",
    ))
    .await;
    let a = proxied("127.0.0.1", p.addr()).await;
    let mut c = connect_from("127.0.0.1", p.addr()).await;
    let mut buf = [0u8; 16];
    let err = c.read(&mut buf).await.expect_err("a reset, not EOF");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    drop(a);
    p.stop().await;
    assert_eq!(up.accepted(), 1);
}

#[tokio::test]
async fn tls_listener_refuses_before_the_handshake_with_a_plain_reply() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.tls]\nself_signed = true\n[listener.limits]\nper_client_connections = 1\n\
         action = \"reply\"\nreply = \"BUSY {retry_after}\\n\"\n",
    ))
    .await;
    // The first connection holds the client's only slot (the handshake is never started:
    // the TCP connection alone counts).
    let held = connect_from("127.0.0.1", p.addr()).await;
    let mut ok = false;
    for _ in 0..200 {
        let c = connect_from("127.0.0.1", p.addr()).await;
        // The refusal comes first, in plain text, without a TLS record.
        let got = refused_bytes(c).await;
        if got == b"BUSY 0\n" {
            ok = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(ok, "no plain refusal");
    drop(held);
    let report = p.stop().await;
    assert_eq!(report.tls_handshakes, 0);
    assert_eq!(up.accepted(), 0);
}

#[tokio::test]
async fn a_violating_client_does_not_affect_another_clients_transfer() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.limits]\nconnection_rate = \"3/m\"\nper_client_connections = 2\n\
         action = \"reset\"\n",
    ))
    .await;
    let addr = p.addr();
    let flood = tokio::spawn(async move {
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..200 {
            let mut c = connect_from("127.0.0.2", addr).await;
            let mut tag = [0u8; 1];
            match c.read(&mut tag).await {
                Ok(1) => held.push(c),
                _ => refused += 1,
            }
        }
        (held.len(), refused)
    });
    let payload: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut c = proxied("127.0.0.3", addr).await;
    let (mut r, mut w) = c.split();
    let send = async {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut echoed = Vec::new();
    let ((), got) = tokio::join!(send, r.read_to_end(&mut echoed));
    got.unwrap();
    assert_eq!(echoed, payload, "byte-exact for the well-behaved client");
    let (held, refused) = flood.await.unwrap();
    assert_eq!((held, refused), (2, 198));
    drop(c);
    p.stop().await;
}
