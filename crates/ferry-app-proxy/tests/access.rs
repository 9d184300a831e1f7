//! Access rules over real loopback sockets: CIDR allow/deny, time-of-day windows with an
//! injected clock, and the idle and lifetime timeouts through the proxy (paused time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{config, connect_from, proxied, refused_bytes, start, start_at, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[tokio::test]
async fn deny_list_covering_the_client_refuses_it() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.access]\ndeny = [\"127.0.0.0/8\"]\n",
    ))
    .await;
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", p.addr()).await).await,
        b""
    );
    let report = p.stop().await;
    assert_eq!((report.refused, up.accepted()), (1, 0));
}

#[tokio::test]
async fn allow_list_admits_only_its_addresses_and_deny_wins() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.access]\nallow = [\"127.0.0.1/32\", \"127.0.0.8/29\"]\n\
         deny = [\"127.0.0.9\"]\naction = \"reply\"\nreply = \"DENIED\\n\"\n",
    ))
    .await;
    drop(proxied("127.0.0.1", p.addr()).await);
    drop(proxied("127.0.0.10", p.addr()).await);
    for refused in ["127.0.0.2", "127.0.0.9"] {
        assert_eq!(
            refused_bytes(connect_from(refused, p.addr()).await).await,
            b"DENIED\n",
            "{refused}"
        );
    }
    let report = p.stop().await;
    assert_eq!((report.refused, up.accepted()), (2, 2));
}

#[tokio::test]
async fn allow_list_without_the_client_refuses_everything() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.access]\nallow = [\"10.0.0.0/8\", \"::1/128\"]\naction = \"reset\"\n",
    ))
    .await;
    let mut c = connect_from("127.0.0.1", p.addr()).await;
    let err = c.read(&mut [0u8; 4]).await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    p.stop().await;
    assert_eq!(up.accepted(), 0);
}

const DAY: u64 = 20_000 * 86_400;
const WINDOWS: &str = "[listener.access]\nwindows = [\"08:00-18:00\", \"22:00-02:00\"]\n\
                       reply = \"CLOSED {retry_after}\\n\"\n";

#[tokio::test]
async fn inside_a_window_connections_pass() {
    for at in [DAY + 9 * 3600, DAY + 23 * 3600, DAY + 3600] {
        let up = upstream(b'A').await;
        let p = start_at(config(up.addr, WINDOWS), at).await;
        drop(proxied("127.0.0.1", p.addr()).await);
        let report = p.stop().await;
        assert_eq!(report.refused, 0, "at {at}");
    }
}

#[tokio::test]
async fn outside_every_window_connections_are_refused_until_the_next_opening() {
    let up = upstream(b'A').await;
    // 19:00 UTC: the 22:00 window opens in 3 h.
    let p = start_at(config(up.addr, WINDOWS), DAY + 19 * 3600).await;
    let c = connect_from("127.0.0.1", p.addr()).await;
    assert_eq!(refused_bytes(c).await, b"CLOSED 10800\n");
    let report = p.stop().await;
    assert_eq!((report.refused, up.accepted()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_a_silent_connection() {
    let up = upstream(b'A').await;
    let p = start(config(up.addr, "idle_timeout = \"10s\"\n")).await;
    let mut c = proxied("127.0.0.1", p.addr()).await;
    let t0 = Instant::now();
    assert_eq!(
        c.read(&mut [0u8; 8]).await.unwrap(),
        0,
        "closed by the proxy"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_ends_a_busy_connection() {
    let up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "idle_timeout = \"10s\"\nmax_lifetime = \"30s\"\n",
    ))
    .await;
    let mut c = proxied("127.0.0.1", p.addr()).await;
    let t0 = Instant::now();
    let mut echoed = 0u32;
    // A byte every 4 s keeps the connection from idling out; the lifetime still ends it.
    loop {
        if c.write_all(b"x").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(4), c.read(&mut [0u8; 1])).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {
                echoed += 1;
                tokio::time::sleep_until(t0 + Duration::from_secs(4 * u64::from(echoed))).await;
            }
            Err(_elapsed) => panic!("no echo within 4 s"),
        }
        assert!(t0.elapsed() < Duration::from_secs(40), "never cut");
    }
    let lived = t0.elapsed();
    assert!(
        lived >= Duration::from_secs(29) && lived <= Duration::from_secs(32),
        "{lived:?}"
    );
    assert!(echoed >= 7, "{echoed}");
    p.stop().await;
}
