//! Half-close over real loopback sockets, through the copy and the splice paths.

use ferry_bridge::{Bridge, BridgeConfig, End, Session, SplicePolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::util::{GUARD, tcp_bridge_ends};

const RESPONSE: usize = 1 << 20;

/// The client writes 10 bytes and shuts its write half; the upstream reads to EOF, then
/// writes 1 MiB and closes; the client must get all of it and then EOF.
async fn request_then_response(policy: SplicePolicy) {
    let bridge = Bridge::new(BridgeConfig::default().splice(policy));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let session = tokio::spawn(async move { bridge.run_tcp(a, b, Session::new()).await });

    let response: Vec<u8> = (0..RESPONSE).map(|i| (i % 251) as u8).collect();
    let expected = response.clone();
    let upstream_side = async move {
        let mut request = Vec::new();
        upstream.read_to_end(&mut request).await.unwrap();
        assert_eq!(request, b"0123456789", "upstream saw the request, then EOF");
        upstream.write_all(&response).await.unwrap();
        drop(upstream);
    };
    let client_side = async move {
        client.write_all(b"0123456789").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), got) = timeout(GUARD, async { tokio::join!(upstream_side, client_side) })
        .await
        .expect("no hang");
    assert_eq!(got.len(), RESPONSE);
    assert!(got == expected, "response bytes differ");

    let outcome = timeout(GUARD, session)
        .await
        .expect("bridge ended")
        .unwrap();
    assert!(matches!(outcome.end, End::Closed), "{:?}", outcome.end);
    assert_eq!(outcome.a_to_b, 10);
    assert_eq!(outcome.b_to_a, RESPONSE as u64);
    let splices = policy == SplicePolicy::Auto && cfg!(target_os = "linux");
    assert_eq!(outcome.spliced, splices);
}

#[tokio::test]
async fn half_close_copy_path() {
    request_then_response(SplicePolicy::Off).await;
}

#[tokio::test]
async fn half_close_splice_path() {
    request_then_response(SplicePolicy::Auto).await;
}

/// The mirror case: the upstream finishes first and the client keeps sending afterwards.
async fn upstream_closes_first(policy: SplicePolicy) {
    let bridge = Bridge::new(BridgeConfig::default().splice(policy));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let session = tokio::spawn(async move { bridge.run_tcp(a, b, Session::new()).await });

    upstream.write_all(b"hello").await.unwrap();
    upstream.shutdown().await.unwrap();
    let mut greeting = Vec::new();
    client.read_to_end(&mut greeting).await.unwrap();
    assert_eq!(greeting, b"hello");
    // The client can still talk after the upstream's EOF.
    client.write_all(b"still here").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    upstream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"still here");

    let outcome = timeout(GUARD, session)
        .await
        .expect("bridge ended")
        .unwrap();
    assert!(matches!(outcome.end, End::Closed), "{:?}", outcome.end);
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (10, 5));
}

#[tokio::test]
async fn upstream_half_close_copy_path() {
    upstream_closes_first(SplicePolicy::Off).await;
}

#[tokio::test]
async fn upstream_half_close_splice_path() {
    upstream_closes_first(SplicePolicy::Auto).await;
}
