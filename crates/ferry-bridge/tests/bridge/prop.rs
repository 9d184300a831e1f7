//! Property tests: whatever the read and write fragmentation, output equals input and the
//! counts are exact.

use std::num::NonZeroUsize;

use bytes::BytesMut;
use ferry_bridge::{Bridge, BridgeConfig, Direction, Inspect, Session, Verdict};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio_test::io::Builder;

/// Splits `data` at the given cut points (fractions of its length).
fn fragments(data: &[u8], cuts: &[u16]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| data.len() * usize::from(c) / usize::from(u16::MAX))
        .collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Forwards everything unchanged, exercising the hook's buffer handling.
struct Identity;

impl Inspect for Identity {
    fn on_chunk(&mut self, _dir: Direction, _chunk: &mut BytesMut) -> Verdict {
        Verdict::Forward
    }
}

fn config(buffer: usize) -> BridgeConfig {
    BridgeConfig::default().buffer_size(NonZeroUsize::new(buffer).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Scripted streams: reads come in the given fragments, and the mock accepts writes only
    /// in its own fragments (short writes), checking every byte it is given.
    #[test]
    fn scripted_fragmentation_is_transparent(
        up in proptest::collection::vec(any::<u8>(), 0..6000),
        down in proptest::collection::vec(any::<u8>(), 0..6000),
        read_cuts in proptest::collection::vec(any::<u16>(), 0..12),
        write_cuts in proptest::collection::vec(any::<u16>(), 0..12),
        buffer in 1usize..2048,
        hooked in any::<bool>(),
    ) {
        let mut a = Builder::new();
        let mut b = Builder::new();
        for chunk in fragments(&up, &read_cuts) {
            a.read(&chunk);
        }
        for chunk in fragments(&up, &write_cuts) {
            b.write(&chunk);
        }
        for chunk in fragments(&down, &write_cuts) {
            b.read(&chunk);
        }
        for chunk in fragments(&down, &read_cuts) {
            a.write(&chunk);
        }
        let (a, b) = (a.build(), b.build());
        let bridge = Bridge::new(config(buffer));
        let session = if hooked { Session::new().hook(Box::new(Identity)) } else { Session::new() };
        // The mocks check every written byte, and panic on drop if anything is left unread or
        // unwritten.
        let outcome = runtime().block_on(bridge.run(a, b, session));
        prop_assert!(outcome.end.is_closed(), "{:?}", outcome.end);
        prop_assert_eq!(outcome.a_to_b, up.len() as u64);
        prop_assert_eq!(outcome.b_to_a, down.len() as u64);
        prop_assert_eq!(bridge.stats().buffers_in_use, 0);
    }

    /// In-memory pipes of random capacity, written in random chunks.
    #[test]
    fn duplex_pipes_of_any_size_are_transparent(
        up in proptest::collection::vec(any::<u8>(), 0..20_000),
        down in proptest::collection::vec(any::<u8>(), 0..20_000),
        cuts in proptest::collection::vec(any::<u16>(), 0..16),
        capacity in 1usize..4096,
        buffer in 1usize..4096,
        hooked in any::<bool>(),
    ) {
        let bridge = Bridge::new(config(buffer));
        let session = if hooked { Session::new().hook(Box::new(Identity)) } else { Session::new() };
        let (got_up, got_down, outcome) = runtime().block_on(async {
            let (client, a) = duplex(capacity);
            let (b, upstream) = duplex(capacity);
            let (mut client_r, client_w) = tokio::io::split(client);
            let (mut upstream_r, upstream_w) = tokio::io::split(upstream);
            let send = |mut w: tokio::io::WriteHalf<tokio::io::DuplexStream>, data: Vec<u8>| {
                let cuts = cuts.clone();
                async move {
                    for chunk in fragments(&data, &cuts) {
                        w.write_all(&chunk).await.unwrap();
                    }
                    w.shutdown().await.unwrap();
                }
            };
            let mut got_up = Vec::new();
            let mut got_down = Vec::new();
            let ((), (), _, _, outcome) = tokio::join!(
                send(client_w, up.clone()),
                send(upstream_w, down.clone()),
                upstream_r.read_to_end(&mut got_up),
                client_r.read_to_end(&mut got_down),
                bridge.run(a, b, session),
            );
            (got_up, got_down, outcome)
        });
        prop_assert!(outcome.end.is_closed(), "{:?}", outcome.end);
        prop_assert_eq!(&got_up, &up);
        prop_assert_eq!(&got_down, &down);
        prop_assert_eq!(outcome.a_to_b, up.len() as u64);
        prop_assert_eq!(outcome.b_to_a, down.len() as u64);
    }
}
