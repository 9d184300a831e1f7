//! Early bytes, slow and oversized heads, the failed-auth block, drain.

use std::time::Duration;

use ferry_test_support::net::{nothing_accepted, trickle};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{TOKEN, ask, assert_closed, connect_request, echo_server, read_head, start};

#[tokio::test]
async fn bytes_after_the_head_in_the_same_packet_are_forwarded() {
    let f = start(|_, _| {}).await;
    let echo = echo_server().await.to_string();
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let mut wire = connect_request(&echo, Some(("edge-1", TOKEN))).into_bytes();
    wire.extend_from_slice(b"early bytes\n");
    s.write_all(&wire).await.unwrap(); // one write: head and data in one segment
    let head = read_head(&mut s).await;
    assert_eq!(head.status, 200);
    s.write_all(b"later\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"early bytes\nlater\n");
    f.stop().await;
    // Counted once the tunnel finished (stop waited for it).
}

/// Row A1: a head trickled one byte at a time is cut when the whole-head deadline expires,
/// although bytes keep arriving, and nothing is dialled.
#[tokio::test]
async fn slow_head_is_cut_at_the_deadline_not_per_read() {
    let f = start(|config, _| config.header_timeout = Duration::from_secs(1)).await;
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = upstream.local_addr().unwrap().to_string();
    let mut head = connect_request(&target, Some(("edge-1", TOKEN))).into_bytes();
    head.truncate(head.len() - 2); // the blank line goes last, after the padding
    head.extend_from_slice(b"X-Padding: ");
    head.resize(head.len().max(200) - 4, b'p');
    head.extend_from_slice(b"\r\n\r\n");
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    // One byte every 50 ms: every read is well inside the deadline, the whole head is not.
    let t = trickle(&mut s, &head, Duration::from_millis(50)).await;
    assert!(t.closed_early, "{t:?}");
    assert!(t.sent < head.len(), "{t:?}");
    let text = String::from_utf8_lossy(&t.reply);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        nothing_accepted(&upstream).await,
        "the destination was dialled"
    );
    assert_eq!(f.front.stats().replies(408), 1);
    f.stop().await;
}

#[tokio::test]
async fn oversized_head_is_refused() {
    let f = start(|config, _| config.max_head = 1024).await;
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let mut request = String::from("CONNECT 127.0.0.1:80 HTTP/1.1\r\n");
    while request.len() < 4096 {
        request.push_str("X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    // The front stops reading at 1 KiB; the rest of our write may be refused.
    let _ = s.write_all(request.as_bytes()).await;
    let head = read_head(&mut s).await;
    assert_eq!(head.status, 400);
    f.stop().await;
}

#[tokio::test]
async fn failed_auth_blocks_the_source_even_with_good_credentials() {
    let f = start(|config, _| {
        config.limits.auth_failures = Some(
            ferry_limit::Quota::new(
                std::num::NonZeroU32::new(3).unwrap(),
                Duration::from_secs(3600),
            )
            .unwrap(),
        );
    })
    .await;
    let echo = echo_server().await.to_string();
    for _ in 0..3 {
        let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", "guess")))).await;
        assert_eq!(head.status, 407);
    }
    // Blocked: answered at once, before the request is even sent.
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let head = read_head(&mut s).await;
    assert_eq!(head.status, 429);
    assert!(head.text.contains("Retry-After: "), "{}", head.text);
    assert_closed(&mut s).await;
    let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    assert_eq!(head.status, 429);
    assert_eq!(f.front.stats().auth_failures(), 5);
    f.stop().await;
}

#[tokio::test]
async fn shutdown_drains_then_cuts_live_tunnels() {
    let f = start(|config, _| config.drain_timeout = Duration::from_millis(100)).await;
    let echo = echo_server().await.to_string();
    let (head, mut s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    assert_eq!(head.status, 200);
    let front = f.front.clone();
    f.stop().await; // returns only after the live tunnel was cut
    assert_eq!(front.tunnels_in_flight(), 0);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
}
