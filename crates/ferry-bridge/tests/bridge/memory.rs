//! Memory stays bounded: a slow reader stops the writer instead of growing a queue, and an idle
//! session holds no buffer and no pipe.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_bridge::{Bridge, BridgeConfig, End, Session, SplicePolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio::time::{sleep, timeout};

use crate::util::{GUARD, tcp_bridge_ends};

const KIB: usize = 1024;

/// Lets every task run until all are blocked: with paused time, the runtime only advances the
/// clock when nothing can make progress.
async fn quiesce() {
    sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn slow_reader_holds_at_most_one_buffer_per_direction() {
    let buffer = 16 * KIB;
    let pipe = 64 * KIB;
    let bridge =
        Bridge::new(BridgeConfig::default().buffer_size(NonZeroUsize::new(buffer).unwrap()));
    let (mut client, a) = duplex(pipe);
    let (b, mut upstream) = duplex(pipe);
    let session = tokio::spawn({
        let bridge = bridge.clone();
        async move { bridge.run(a, b, Session::new()).await }
    });

    let total = 10 * 1024 * KIB;
    let pushed = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let pushed = Arc::clone(&pushed);
        async move {
            let chunk = vec![0x5a; 4 * KIB];
            for _ in 0..total / chunk.len() {
                client.write_all(&chunk).await.unwrap();
                pushed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            client.shutdown().await.unwrap();
            client
        }
    });

    // The upstream reads nothing yet: the writer must stall.
    quiesce().await;
    let stalled_at = pushed.load(Ordering::Relaxed);
    let bound = (pipe + buffer + pipe) as u64;
    assert!(
        stalled_at <= bound,
        "{stalled_at} bytes accepted, bound {bound}"
    );
    assert!(
        stalled_at >= (2 * pipe) as u64,
        "the pipes filled up: {stalled_at}"
    );
    let stats = bridge.stats();
    assert_eq!(
        stats.buffers_in_use, 1,
        "one buffer for the stalled direction: {stats:?}"
    );
    quiesce().await;
    assert_eq!(pushed.load(Ordering::Relaxed), stalled_at, "still stalled");

    // Now read everything; the session finishes and gives its buffer back.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * KIB];
    loop {
        let n = upstream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, total);
    drop(writer.await.unwrap());
    upstream.shutdown().await.unwrap();
    let outcome = session.await.unwrap();
    assert!(matches!(outcome.end, End::Closed), "{:?}", outcome.end);
    let stats = bridge.stats();
    assert_eq!(stats.buffers_in_use, 0, "{stats:?}");
    assert!(stats.buffers_pooled >= 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn idle_copy_session_holds_no_buffer() {
    let bridge = Bridge::default();
    let (mut client, a) = duplex(4 * KIB);
    let (b, mut upstream) = duplex(4 * KIB);
    let session = tokio::spawn({
        let bridge = bridge.clone();
        async move { bridge.run(a, b, Session::new()).await }
    });
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    upstream.read_exact(&mut buf).await.unwrap();
    upstream.write_all(b"pong").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    quiesce().await;
    assert!(!session.is_finished());
    assert_eq!(bridge.stats().buffers_in_use, 0, "{:?}", bridge.stats());
    assert_eq!(
        bridge.stats().buffers_pooled,
        0,
        "small chunks went through the stack, not the pool"
    );
    drop((client, upstream));
    assert!(session.await.unwrap().end.is_closed());
}

/// Current-thread runtime: once the upstream has read the bytes, the bridge's poll that wrote
/// them has returned, and that poll gives the pipe back before returning.
#[tokio::test]
async fn idle_spliced_session_holds_no_pipe() {
    let bridge = Bridge::new(BridgeConfig::default().splice(SplicePolicy::Auto));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let session = tokio::spawn({
        let bridge = bridge.clone();
        async move { bridge.run_tcp(a, b, Session::new()).await }
    });
    for _ in 0..3 {
        client.write_all(&[7u8; 100_000]).await.unwrap();
        let mut buf = vec![0u8; 100_000];
        upstream.read_exact(&mut buf).await.unwrap();
        upstream.write_all(b"ok").await.unwrap();
        client.read_exact(&mut buf[..2]).await.unwrap();
        let stats = bridge.stats();
        assert_eq!(stats.pipes_in_use, 0, "{stats:?}");
        assert_eq!(stats.buffers_in_use, 0, "{stats:?}");
    }
    if cfg!(target_os = "linux") {
        assert!(
            bridge.stats().pipes_pooled >= 1,
            "pipes were used and pooled"
        );
    }
    drop((client, upstream));
    let outcome = timeout(GUARD, session).await.unwrap().unwrap();
    assert_eq!(outcome.spliced, cfg!(target_os = "linux"));
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (300_000, 6));
}

/// The per-session state is small: what an idle session costs besides its two sockets.
#[tokio::test]
async fn session_futures_are_small() {
    let bridge = Bridge::default();
    let (_client, a, b, _upstream) = tcp_bridge_ends().await;
    let spliced = bridge.run_tcp(a, b, Session::new());
    let (a, b) = (duplex(64).0, duplex(64).0);
    let copied = bridge.run(a, b, Session::new());
    let (spliced, copied) = (size_of_val(&spliced), size_of_val(&copied));
    println!("run_tcp future: {spliced} bytes, run future (duplex): {copied} bytes");
    assert!(spliced <= 2048, "{spliced}");
    assert!(copied <= 2048, "{copied}");
}
