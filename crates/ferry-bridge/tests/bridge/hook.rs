//! The inspection hook (rewrite, drop, close, EOF) and prefixes on both paths.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use ferry_bridge::{Bridge, BridgeConfig, Direction, End, Inspect, Session, SplicePolicy, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio::time::timeout;

use crate::util::{GUARD, tcp_bridge_ends};

/// Doubles every `a` and upper-cases everything (the chunk grows).
struct Rewrite;

fn rewrite(input: &[u8]) -> Vec<u8> {
    input
        .iter()
        .flat_map(|&c| {
            if c == b'a' {
                vec![b'A', b'A']
            } else {
                vec![c.to_ascii_uppercase()]
            }
        })
        .collect()
}

impl Inspect for Rewrite {
    fn on_chunk(&mut self, _dir: Direction, chunk: &mut BytesMut) -> Verdict {
        let out = rewrite(chunk);
        chunk.clear();
        chunk.extend_from_slice(&out);
        Verdict::Forward
    }
}

#[tokio::test]
async fn hook_rewrites_and_grows_chunks() {
    let bridge = Bridge::default();
    let (mut client, a) = duplex(1024);
    let (b, mut upstream) = duplex(1024);
    let session = Session::new().hook(Box::new(Rewrite));
    let run = tokio::spawn(async move { bridge.run(a, b, session).await });

    let input: Vec<u8> = b"banana bread, alpaca salad. ".repeat(2000);
    let expected = rewrite(&input);
    let (_, got) = tokio::join!(
        async {
            client.write_all(&input).await.unwrap();
            client.shutdown().await.unwrap();
            client
        },
        async {
            let mut got = Vec::new();
            upstream.read_to_end(&mut got).await.unwrap();
            upstream.shutdown().await.unwrap();
            got
        }
    );
    assert!(got == expected, "rewritten stream differs");
    let outcome = run.await.unwrap();
    assert!(outcome.end.is_closed(), "{:?}", outcome.end);
    assert_eq!(
        outcome.a_to_b,
        expected.len() as u64,
        "counts bytes written, after rewrite"
    );
}

/// Drops chunks that start with `DROP`, closes on `CLOSE`, records EOFs.
#[derive(Default)]
struct Filter {
    eofs: Arc<Mutex<Vec<Direction>>>,
}

impl Inspect for Filter {
    fn on_chunk(&mut self, _dir: Direction, chunk: &mut BytesMut) -> Verdict {
        if chunk.starts_with(b"DROP") {
            Verdict::Drop
        } else if chunk.starts_with(b"CLOSE") {
            Verdict::Close
        } else {
            Verdict::Forward
        }
    }

    fn on_eof(&mut self, dir: Direction) {
        self.eofs.lock().unwrap().push(dir);
    }
}

#[tokio::test]
async fn hook_drops_chunks_and_sees_both_eofs() {
    let bridge = Bridge::default();
    // Scripted reads give exact chunk boundaries.
    let a = tokio_test::io::Builder::new()
        .read(b"keep1")
        .read(b"DROP me")
        .read(b"keep2")
        .build();
    let (b, mut upstream) = duplex(1024);
    let filter = Filter::default();
    let eofs = Arc::clone(&filter.eofs);
    let run = tokio::spawn(async move {
        bridge
            .run(a, b, Session::new().hook(Box::new(filter)))
            .await
    });
    let mut got = Vec::new();
    upstream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"keep1keep2");
    upstream.shutdown().await.unwrap();
    let outcome = run.await.unwrap();
    assert!(outcome.end.is_closed(), "{:?}", outcome.end);
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (10, 0));
    let mut eofs = eofs.lock().unwrap().clone();
    eofs.sort_by_key(|d| *d == Direction::BToA);
    assert_eq!(eofs, [Direction::AToB, Direction::BToA]);
}

#[tokio::test]
async fn hook_close_ends_the_session() {
    let bridge = Bridge::default();
    let a = tokio_test::io::Builder::new()
        .read(b"hello")
        .read(b"CLOSE now")
        .build();
    let (b, mut upstream) = duplex(1024);
    let run = tokio::spawn(async move {
        bridge
            .run(a, b, Session::new().hook(Box::new(Filter::default())))
            .await
    });
    let mut got = Vec::new();
    // The session ends without the upstream closing: dropping `b` gives it EOF.
    upstream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
    let outcome = run.await.unwrap();
    assert!(
        matches!(
            outcome.end,
            End::HookClosed {
                direction: Direction::AToB
            }
        ),
        "{:?}",
        outcome.end
    );
    assert_eq!(outcome.a_to_b, 5);
}

/// Chunks seen by a hook, in order.
type Seen = Arc<Mutex<Vec<(Direction, Vec<u8>)>>>;

/// Records every chunk it sees.
struct Record(Seen);

impl Inspect for Record {
    fn on_chunk(&mut self, dir: Direction, chunk: &mut BytesMut) -> Verdict {
        self.0.lock().unwrap().push((dir, chunk.to_vec()));
        Verdict::Forward
    }
}

#[tokio::test]
async fn prefixes_go_first_and_through_the_hook_on_the_copy_path() {
    let bridge = Bridge::default();
    let (mut client, a) = duplex(1024);
    let (b, mut upstream) = duplex(1024);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let session = Session::new()
        .prefix_a_to_b(Bytes::from_static(b"PRE-"))
        .prefix_b_to_a(Bytes::from_static(b"post-"))
        .hook(Box::new(Record(Arc::clone(&seen))));
    let run = tokio::spawn(async move { bridge.run(a, b, session).await });

    client.write_all(b"hello").await.unwrap();
    client.shutdown().await.unwrap();
    upstream.write_all(b"world").await.unwrap();
    upstream.shutdown().await.unwrap();
    let mut up = Vec::new();
    upstream.read_to_end(&mut up).await.unwrap();
    let mut down = Vec::new();
    client.read_to_end(&mut down).await.unwrap();
    assert_eq!(up, b"PRE-hello");
    assert_eq!(down, b"post-world");
    let outcome = run.await.unwrap();
    assert_eq!(
        (outcome.a_to_b, outcome.b_to_a),
        (9, 10),
        "prefixes are counted"
    );
    let seen = seen.lock().unwrap();
    let first = |dir| seen.iter().find(|(d, _)| *d == dir).map(|(_, c)| c.clone());
    assert_eq!(first(Direction::AToB).unwrap(), b"PRE-");
    assert_eq!(first(Direction::BToA).unwrap(), b"post-");
}

#[tokio::test]
async fn prefixes_go_first_on_the_splice_path() {
    let bridge = Bridge::new(BridgeConfig::default().splice(SplicePolicy::Auto));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let session = Session::new()
        .prefix_a_to_b(Bytes::from_static(b"PRE-"))
        .prefix_b_to_a(Bytes::from_static(b"post-"));
    let run = tokio::spawn(async move { bridge.run_tcp(a, b, session).await });

    let body = vec![b'x'; 300_000];
    client.write_all(&body).await.unwrap();
    client.shutdown().await.unwrap();
    let mut up = Vec::new();
    upstream.read_to_end(&mut up).await.unwrap();
    assert_eq!(&up[..4], b"PRE-");
    assert!(up[4..] == body[..]);
    upstream.write_all(b"world").await.unwrap();
    upstream.shutdown().await.unwrap();
    let mut down = Vec::new();
    client.read_to_end(&mut down).await.unwrap();
    assert_eq!(down, b"post-world");

    let outcome = timeout(GUARD, run).await.unwrap().unwrap();
    assert!(outcome.end.is_closed(), "{:?}", outcome.end);
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (300_004, 10));
    assert_eq!(
        outcome.spliced,
        cfg!(target_os = "linux"),
        "the body was spliced"
    );
}

#[tokio::test]
async fn a_hook_forces_the_copy_path_on_tcp() {
    let bridge = Bridge::new(BridgeConfig::default().splice(SplicePolicy::Auto));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let session = Session::new().hook(Box::new(Record(Arc::clone(&seen))));
    let run = tokio::spawn(async move { bridge.run_tcp(a, b, session).await });
    client.write_all(b"visible").await.unwrap();
    client.shutdown().await.unwrap();
    let mut up = Vec::new();
    upstream.read_to_end(&mut up).await.unwrap();
    drop(upstream);
    let outcome = timeout(GUARD, run).await.unwrap().unwrap();
    assert!(!outcome.spliced);
    assert_eq!(up, b"visible");
    let seen: Vec<u8> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, c)| c.clone())
        .collect();
    assert_eq!(seen, b"visible", "the hook saw every byte");
}
