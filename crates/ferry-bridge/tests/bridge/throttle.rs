//! Throttled directions move N bytes at R bytes/s in about N / R (paused tokio time).

use std::num::NonZeroU64;
use std::time::Duration;

use ferry_bridge::{Bridge, Session, Throttle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, duplex, split};
use tokio::time::Instant;

const N: usize = 1 << 20;

async fn read_all<R: AsyncRead + Unpin>(mut r: R) -> usize {
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await.unwrap() {
            0 => return got,
            n => got += n,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn throttle_paces_one_direction_only() {
    const RATE: u64 = 256 * 1024;
    const BURST: u64 = 16 * 1024;
    let throttle = Throttle::new(
        NonZeroU64::new(RATE).unwrap(),
        NonZeroU64::new(BURST).unwrap(),
    );
    let bridge = Bridge::default();
    let (client, a) = duplex(64 * 1024);
    let (b, upstream) = duplex(64 * 1024);
    let run = tokio::spawn(async move {
        bridge
            .run(a, b, Session::new().throttle_a_to_b(Some(throttle)))
            .await
    });
    let (client_r, mut client_w) = split(client);
    let (mut upstream_r, mut upstream_w) = split(upstream);

    let start = Instant::now();
    let upload = async move {
        client_w.write_all(&vec![1u8; N]).await.unwrap();
        client_w.shutdown().await.unwrap();
    };
    let upstream_side = async move {
        let mut body = vec![0u8; N];
        upstream_r.read_exact(&mut body).await.unwrap();
        let up_elapsed = start.elapsed();
        // EOF follows (possibly one refill later: the throttle waits for tokens before reading).
        let got = N + read_all(&mut upstream_r).await;
        // The other direction is not throttled: it takes no (paused) time at all.
        let down_start = Instant::now();
        upstream_w.write_all(&vec![2u8; N]).await.unwrap();
        upstream_w.shutdown().await.unwrap();
        (got, up_elapsed, down_start)
    };
    let ((), (got_up, up_elapsed, down_start), got_down) =
        tokio::join!(upload, upstream_side, read_all(client_r));
    let down_elapsed = down_start.elapsed();

    assert_eq!((got_up, got_down), (N, N));
    // The burst goes at once, the rest at RATE: (1 MiB - 16 KiB) / 256 KiB/s = 3.9375 s.
    let expected = Duration::from_secs_f64((N as u64 - BURST) as f64 / RATE as f64);
    // Reads are quantised to the wake-up threshold (1/20 s of tokens), plus timer rounding.
    let slack = Duration::from_millis(55);
    assert!(
        up_elapsed + slack >= expected && up_elapsed <= expected + slack,
        "took {up_elapsed:?}, expected about {expected:?}"
    );
    assert!(
        down_elapsed < Duration::from_millis(1),
        "unthrottled: {down_elapsed:?}"
    );
    let outcome = run.await.unwrap();
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (N as u64, N as u64));
}

#[tokio::test(start_paused = true)]
async fn throttle_with_a_tiny_rate_still_makes_progress() {
    // 10 bytes/s, burst 1: 50 bytes take 4.9 s (the first byte is free).
    let throttle = Throttle::new(NonZeroU64::new(10).unwrap(), NonZeroU64::new(1).unwrap());
    let bridge = Bridge::default();
    let (mut client, a) = duplex(1024);
    let (b, upstream) = duplex(1024);
    let run = tokio::spawn(async move {
        bridge
            .run(a, b, Session::new().throttle_a_to_b(Some(throttle)))
            .await
    });
    let start = Instant::now();
    client.write_all(&[0u8; 50]).await.unwrap();
    client.shutdown().await.unwrap();
    let (mut upstream_r, mut upstream_w) = split(upstream);
    let mut body = [1u8; 50];
    upstream_r.read_exact(&mut body).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(body, [0u8; 50]);
    assert_eq!(read_all(&mut upstream_r).await, 0);
    assert!(
        elapsed >= Duration::from_millis(4890) && elapsed <= Duration::from_millis(4910),
        "{elapsed:?}"
    );
    upstream_w.shutdown().await.unwrap();
    assert!(run.await.unwrap().end.is_closed());
}
