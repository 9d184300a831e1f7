//! Running out of pipes falls back to copying without failing the session.

use ferry_bridge::{Bridge, BridgeConfig, End, Session};
use tokio::time::timeout;

use crate::util::{GUARD, recv_hash, send_random, tcp_bridge_ends};

const SIZE: u64 = 8 << 20;

/// Moves `SIZE` bytes each way at once; checks the bytes, returns the outcome.
async fn both_ways(bridge: &Bridge) -> ferry_bridge::Outcome {
    let (client, a, b, upstream) = tcp_bridge_ends().await;
    let (client_r, client_w) = client.into_split();
    let (upstream_r, upstream_w) = upstream.into_split();
    let bridge = bridge.clone();
    let (outcome, sent_up, got_up, sent_down, got_down) = timeout(GUARD, async {
        tokio::join!(
            bridge.run_tcp(a, b, Session::new()),
            send_random(client_w, 11, SIZE),
            recv_hash(upstream_r),
            send_random(upstream_w, 12, SIZE),
            recv_hash(client_r),
        )
    })
    .await
    .expect("no hang");
    assert!(matches!(outcome.end, End::Closed), "{:?}", outcome.end);
    assert_eq!(got_up, (SIZE, sent_up));
    assert_eq!(got_down, (SIZE, sent_down));
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (SIZE, SIZE));
    outcome
}

#[tokio::test]
async fn no_pipes_at_all_copies_everything() {
    let bridge = Bridge::new(BridgeConfig::default().max_pipes(0));
    let outcome = both_ways(&bridge).await;
    assert!(!outcome.spliced);
    let stats = bridge.stats();
    assert_eq!(stats.pipes_in_use + stats.pipes_pooled, 0, "{stats:?}");
    if cfg!(target_os = "linux") {
        assert_eq!(stats.splice_fallbacks, 2, "one per direction: {stats:?}");
    }
    assert_eq!(stats.buffers_in_use, 0, "{stats:?}");
}

#[tokio::test]
async fn one_pipe_for_two_sessions_never_exceeds_the_cap() {
    let bridge = Bridge::new(BridgeConfig::default().max_pipes(1));
    let (first, second) = tokio::join!(both_ways(&bridge), both_ways(&bridge));
    let stats = bridge.stats();
    assert!(
        stats.pipes_in_use == 0 && stats.pipes_pooled <= 1,
        "{stats:?}"
    );
    if cfg!(target_os = "linux") {
        // Four directions competed for one pipe; the pipe was used.
        assert!(first.spliced || second.spliced);
        assert_eq!(stats.pipes_pooled, 1, "{stats:?}");
    }
}
