//! Idle, half-close and lifetime timeouts, on paused tokio time.

use std::time::Duration;

use ferry_bridge::{Bridge, BridgeConfig, End, Outcome, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

const SEC: Duration = Duration::from_secs(1);

/// Starts a session over in-memory pipes: returns (client, upstream, session).
fn start_session(config: BridgeConfig) -> (DuplexStream, DuplexStream, JoinHandle<Outcome>) {
    let (client, a) = duplex(4096);
    let (b, upstream) = duplex(4096);
    let bridge = Bridge::new(config);
    let session = tokio::spawn(async move { bridge.run(a, b, Session::new()).await });
    (client, upstream, session)
}

/// Elapsed time, rounded to the millisecond (the timer's resolution).
fn ms(since: Instant) -> Duration {
    Duration::from_millis(since.elapsed().as_millis() as u64)
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_counts_from_the_last_byte() {
    let config = BridgeConfig::default().idle_timeout(Some(10 * SEC));
    let start = Instant::now();
    let (mut client, mut upstream, session) = start_session(config);

    sleep(4 * SEC).await;
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    upstream.read_exact(&mut buf).await.unwrap();

    let outcome = session.await.unwrap();
    assert!(matches!(outcome.end, End::IdleTimeout), "{:?}", outcome.end);
    assert_eq!(ms(start), 14 * SEC, "10 s after the last activity at 4 s");
    assert_eq!(outcome.a_to_b, 4, "counts are kept on timeout");
    drop((client, upstream));
}

#[tokio::test(start_paused = true)]
async fn half_close_timeout_applies_once_one_direction_is_done() {
    let config = BridgeConfig::default()
        .idle_timeout(Some(3600 * SEC))
        .half_close_timeout(Some(30 * SEC));
    let start = Instant::now();
    let (mut client, mut upstream, session) = start_session(config);

    client.write_all(b"req").await.unwrap();
    client.shutdown().await.unwrap();
    let mut req = Vec::new();
    upstream.read_to_end(&mut req).await.unwrap();
    assert_eq!(req, b"req");
    // The upstream is still open but says nothing more.
    let outcome = session.await.unwrap();
    assert!(
        matches!(outcome.end, End::HalfCloseTimeout),
        "{:?}",
        outcome.end
    );
    assert_eq!(ms(start), 30 * SEC);
    drop((client, upstream));
}

#[tokio::test(start_paused = true)]
async fn half_close_timeout_is_an_inactivity_timeout() {
    let config = BridgeConfig::default().half_close_timeout(Some(30 * SEC));
    let start = Instant::now();
    let (mut client, mut upstream, session) = start_session(config);

    client.shutdown().await.unwrap();
    let mut req = Vec::new();
    upstream.read_to_end(&mut req).await.unwrap();
    // A slow but live response keeps the half-closed session alive...
    for _ in 0..3 {
        sleep(20 * SEC).await;
        upstream.write_all(b"x").await.unwrap();
    }
    let mut buf = [0u8; 3];
    client.read_exact(&mut buf).await.unwrap();
    // ...and 30 s of silence after the last byte (at 60 s) ends it.
    let outcome = session.await.unwrap();
    assert!(
        matches!(outcome.end, End::HalfCloseTimeout),
        "{:?}",
        outcome.end
    );
    assert_eq!(ms(start), 90 * SEC);
    assert_eq!(outcome.b_to_a, 3);
    drop((client, upstream));
}

#[tokio::test(start_paused = true)]
async fn lifetime_caps_a_busy_session() {
    let config = BridgeConfig::default()
        .idle_timeout(Some(10 * SEC))
        .max_lifetime(Some(60 * SEC));
    let start = Instant::now();
    let (mut client, mut upstream, session) = start_session(config);

    let talker = tokio::spawn(async move {
        // Traffic every 5 s: never idle.
        while client.write_all(b"tick").await.is_ok() {
            sleep(5 * SEC).await;
        }
    });
    let reader = tokio::spawn(async move {
        let mut total = 0u64;
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = upstream.read(&mut buf).await {
            total += n as u64;
        }
        total
    });
    let outcome = session.await.unwrap();
    assert!(
        matches!(outcome.end, End::LifetimeExceeded),
        "{:?}",
        outcome.end
    );
    assert_eq!(ms(start), 60 * SEC);
    assert_eq!(
        reader.await.unwrap(),
        outcome.a_to_b,
        "counts match what was delivered"
    );
    assert_eq!(outcome.a_to_b, 4 * 12, "ticks at 0, 5, ..., 55 s");
    talker.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_timeouts_means_the_session_waits() {
    let config = BridgeConfig::default()
        .idle_timeout(None)
        .half_close_timeout(None);
    let (mut client, mut upstream, session) = start_session(config);
    sleep(1_000_000 * SEC).await;
    assert!(
        !session.is_finished(),
        "nothing ends a silent session without timeouts"
    );
    client.shutdown().await.unwrap();
    upstream.shutdown().await.unwrap();
    let outcome = session.await.unwrap();
    assert!(matches!(outcome.end, End::Closed), "{:?}", outcome.end);
}

/// The TCP path polls a direction only when it was woken and the timer only when it fired: the
/// idle timeout still ends a session that went quiet after traffic both ways (real time, short
/// timeout; nothing timed is asserted).
#[tokio::test]
async fn tcp_session_idle_timeout_after_traffic() {
    let bridge =
        Bridge::new(BridgeConfig::default().idle_timeout(Some(Duration::from_millis(200))));
    let (mut client, a, b, mut upstream) = crate::util::tcp_bridge_ends().await;
    let session = tokio::spawn(async move { bridge.run_tcp(a, b, Session::new()).await });
    let mut buf = [0u8; 64];
    for i in 0..50u8 {
        client.write_all(&[i; 64]).await.unwrap();
        upstream.read_exact(&mut buf).await.unwrap();
        upstream.write_all(&buf).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, [i; 64]);
    }
    let outcome = session.await.unwrap();
    assert!(matches!(outcome.end, End::IdleTimeout), "{:?}", outcome.end);
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (50 * 64, 50 * 64));
}

/// On the TCP path, the shorter half-close timeout is armed when one direction finishes, and
/// fires although the timer had been armed for the longer idle timeout.
#[tokio::test]
async fn tcp_session_half_close_timeout() {
    let config = BridgeConfig::default()
        .idle_timeout(Some(Duration::from_secs(3600)))
        .half_close_timeout(Some(Duration::from_millis(200)));
    let bridge = Bridge::new(config);
    let (mut client, a, b, mut upstream) = crate::util::tcp_bridge_ends().await;
    let session = tokio::spawn(async move { bridge.run_tcp(a, b, Session::new()).await });
    client.write_all(b"ping").await.unwrap();
    client.shutdown().await.unwrap();
    let mut up = Vec::new();
    upstream.read_to_end(&mut up).await.unwrap();
    assert_eq!(up, b"ping");
    let outcome = session.await.unwrap();
    assert!(
        matches!(outcome.end, End::HalfCloseTimeout),
        "{:?}",
        outcome.end
    );
    assert_eq!((outcome.a_to_b, outcome.b_to_a), (4, 0));
}
