//! Active health checks: TCP connect and send/expect, rise and fall, the background loop, and
//! what connect does when every endpoint is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Server, client, dead_port, pool, serve};
use ferry_pool::{AllDown, ConnectError, HealthCheck, Pool, PoolConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn hc(rise: u32, fall: u32) -> PoolConfig {
    let mut h = HealthCheck::default();
    h.rise = rise.try_into().unwrap();
    h.fall = fall.try_into().unwrap();
    let mut c = PoolConfig::default();
    c.health_check = Some(h);
    c.ejection = None;
    c
}

fn healthy(p: &Pool, a: SocketAddr) -> bool {
    p.snapshot()
        .iter()
        .find(|e| e.address == a)
        .unwrap()
        .healthy
}

#[tokio::test]
async fn tcp_check_marks_down_after_fall_and_up_after_rise() {
    let a = Server::start().await;
    let (b_sock, b) = dead_port();
    let p = pool(hc(2, 3), &[a.addr, b]);
    assert!(healthy(&p, b), "endpoints start up");
    p.check_health().await;
    p.check_health().await;
    assert!(healthy(&p, b), "two failures < fall");
    p.check_health().await;
    assert!(!healthy(&p, b), "down after fall = 3");
    assert!(healthy(&p, a.addr));
    // While b is down, every connect goes to a, without a failed attempt.
    for _ in 0..6 {
        assert_eq!(p.connect(client(1)).await.unwrap().endpoint, a.addr);
    }
    serve(b_sock.listen(16).unwrap());
    p.check_health().await;
    assert!(!healthy(&p, b), "one success < rise");
    p.check_health().await;
    assert!(healthy(&p, b), "up after rise = 2");
    let to_b = {
        let mut n = 0;
        for _ in 0..4 {
            n += usize::from(p.connect(client(1)).await.unwrap().endpoint == b);
        }
        n
    };
    assert_eq!(to_b, 2);
}

/// A server that reads `PING\n`, answers `reply` and closes.
async fn answering(reply: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).await.is_ok() && &buf == b"PING\n" {
                    // The reply goes out one byte at a time.
                    for b in reply {
                        if s.write_all(&[*b]).await.is_err() {
                            return;
                        }
                    }
                }
                // Dropping the stream closes it: a short reply is followed by EOF.
            });
        }
    });
    a
}

#[tokio::test]
async fn send_expect_check_with_right_and_wrong_answers() {
    let right = answering(b"PONG\n").await;
    let wrong = answering(b"PONX\n").await;
    let short = answering(b"PO").await;
    let mut c = hc(1, 1);
    let h = c.health_check.as_mut().unwrap();
    h.send = Some(b"PING\n".to_vec());
    h.expect = Some(b"PONG".to_vec());
    let p = pool(c, &[right, wrong, short]);
    p.check_health().await;
    assert!(healthy(&p, right));
    assert!(!healthy(&p, wrong), "wrong bytes fail the check");
    assert!(!healthy(&p, short), "an answer cut short fails the check");
}

#[tokio::test(start_paused = true)]
async fn silent_upstream_fails_the_check_on_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = silent.local_addr().unwrap();
    let mut c = hc(1, 1);
    let h = c.health_check.as_mut().unwrap();
    h.expect = Some(b"HELLO".to_vec());
    h.timeout = Duration::from_secs(2);
    let p = pool(c, &[a]);
    let started = tokio::time::Instant::now();
    p.check_health().await;
    assert!(!healthy(&p, a));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    drop(silent);
}

/// The background loop probes every interval; paused time makes the rounds instant.
#[tokio::test(start_paused = true)]
async fn background_loop_marks_down_then_up() {
    let a = Server::start().await;
    let (b_sock, b) = dead_port();
    let p = pool(hc(2, 3), &[a.addr, b]);
    let mut changes = p.watch();
    let stop = CancellationToken::new();
    let bg = tokio::spawn({
        let p = p.clone();
        let stop = stop.clone();
        async move { p.run_background(stop).await }
    });
    let started = tokio::time::Instant::now();
    while healthy(&p, b) {
        changes.changed().await.unwrap();
    }
    // Rounds at 0 s, 5 s, 10 s: the third failure takes it down.
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    serve(b_sock.listen(16).unwrap());
    while !healthy(&p, b) {
        changes.changed().await.unwrap();
    }
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    stop.cancel();
    bg.await.unwrap();
}

#[tokio::test]
async fn all_down_policies() {
    // Both endpoints listen, but the health check expects an answer they never send.
    let x = Server::start().await;
    let y = Server::start().await;
    let mut c = hc(1, 1);
    let h = c.health_check.as_mut().unwrap();
    h.send = Some(b"x".to_vec());
    h.expect = Some(b"y".to_vec());
    let mut fail = c.clone();
    fail.all_down = AllDown::Fail;
    let try_all = pool(c, &[x.addr, y.addr]);
    let failing = pool(fail, &[x.addr, y.addr]);
    try_all.check_health().await;
    failing.check_health().await;
    assert!(try_all.snapshot().iter().all(|e| !e.healthy));
    assert!(failing.snapshot().iter().all(|e| !e.healthy));
    // Panic mode: the pool still connects.
    try_all.connect(client(1)).await.unwrap();
    let err = failing.connect(client(1)).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::NoHealthyUpstream { .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "no healthy upstream in pool test");
}

/// Health probes close with RST (SO_LINGER 0), so they leave no TIME_WAIT socket behind: the
/// upstream sees a reset, not an orderly FIN, both for a connect-only check and after
/// send/expect.
#[tokio::test]
async fn probes_close_with_reset() {
    for with_payload in [false, true] {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut c = hc(1, 1);
        if with_payload {
            let h = c.health_check.as_mut().unwrap();
            h.send = Some(b"PING".to_vec());
            h.expect = Some(b"PONG".to_vec());
        }
        let p = pool(c, &[addr]);
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            if with_payload {
                let mut ping = [0u8; 4];
                s.read_exact(&mut ping).await.unwrap();
                assert_eq!(&ping, b"PING");
                s.write_all(b"PONG").await.unwrap();
            }
            let mut rest = [0u8; 16];
            s.read(&mut rest).await
        });
        p.check_health().await;
        assert!(healthy(&p, addr));
        let err = server.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }
}
