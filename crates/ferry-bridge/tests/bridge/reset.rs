//! A reset on one side ends the session promptly, names the side, and closes the other side.

use ferry_bridge::{Bridge, BridgeConfig, End, Op, Session, Side, SplicePolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::util::{GUARD, tcp_bridge_ends};

/// Waits until the peer closes `s` (EOF or reset), draining what was forwarded before.
async fn wait_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn reset_by(policy: SplicePolicy, who: Side) {
    let bridge = Bridge::new(BridgeConfig::default().splice(policy));
    let (mut client, a, b, mut upstream) = tcp_bridge_ends().await;
    let session = tokio::spawn(async move { bridge.run_tcp(a, b, Session::new()).await });

    // Some traffic first, so both directions are live.
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    upstream.read_exact(&mut buf).await.unwrap();
    upstream.write_all(b"pong").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();

    let survivor = match who {
        Side::A => {
            client.set_zero_linger().unwrap();
            drop(client);
            &mut upstream
        }
        Side::B => {
            upstream.set_zero_linger().unwrap();
            drop(upstream);
            &mut client
        }
    };
    // The other side is closed promptly (the guard only catches a hang).
    timeout(GUARD, wait_closed(survivor))
        .await
        .expect("survivor saw the close");

    let outcome = timeout(GUARD, session)
        .await
        .expect("bridge ended")
        .unwrap();
    match &outcome.end {
        End::Error { side, op, error } => {
            assert_eq!(*side, who, "the reset side is named");
            assert!(matches!(op, Op::Read | Op::Write), "{op:?}");
            assert!(error.is_reset(), "{error:?}");
        }
        other => panic!("expected an error end, got {other:?}"),
    }
    assert_eq!(
        (outcome.a_to_b, outcome.b_to_a),
        (4, 4),
        "counts survive the error"
    );
}

#[tokio::test]
async fn client_reset_copy_path() {
    reset_by(SplicePolicy::Off, Side::A).await;
}

#[tokio::test]
async fn client_reset_splice_path() {
    reset_by(SplicePolicy::Auto, Side::A).await;
}

#[tokio::test]
async fn upstream_reset_copy_path() {
    reset_by(SplicePolicy::Off, Side::B).await;
}

#[tokio::test]
async fn upstream_reset_splice_path() {
    reset_by(SplicePolicy::Auto, Side::B).await;
}
