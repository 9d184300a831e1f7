//! End-to-end tests of the reverse proxy over real loopback sockets, run in-process through
//! `ferry_app_proxy::run` with listeners bound on port 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ferry_app_proxy::{self as proxy, ProxyConfig, Report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An upstream that writes its `tag` byte first, then echoes until EOF, then closes.
async fn tagged_echo(tag: u8) -> SocketAddr {
    ferry_test_support::net::tagged_echo(tag).await
}

/// A port with nothing listening on it (bound, then closed).
async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Report>,
}

impl Running {
    async fn stop(mut self) -> Report {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

async fn start(config: ProxyConfig) -> Running {
    let listeners = proxy::bind_all(&config).unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        proxy::run(config, listeners, async {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

fn flags(upstreams: &[SocketAddr]) -> ProxyConfig {
    let ups: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    ProxyConfig::from_flags("127.0.0.1:0", &ups).unwrap()
}

async fn tag_of(addr: SocketAddr) -> u8 {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    b[0]
}

#[tokio::test]
async fn relays_both_ways_and_reports_bytes() {
    let up = tagged_echo(b'A').await;
    let p = start(flags(&[up])).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    c.write_all(b"hello ferry").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"Ahello ferry");
    drop(c);
    let report = p.stop().await;
    assert_eq!(report.accepted, 1);
    assert_eq!(report.completed, 1);
    assert_eq!(report.client_to_upstream, 11);
    assert_eq!(report.upstream_to_client, 12);
}

#[tokio::test]
async fn round_robin_spreads_connections_evenly() {
    let a = tagged_echo(b'A').await;
    let b = tagged_echo(b'B').await;
    let c = tagged_echo(b'C').await;
    let p = start(flags(&[a, b, c])).await;
    let mut counts = [0usize; 3];
    for _ in 0..30 {
        counts[usize::from(tag_of(p.addr).await - b'A')] += 1;
    }
    assert_eq!(counts, [10, 10, 10]);
    p.stop().await;
}

#[tokio::test]
async fn dead_upstream_is_skipped_by_retry() {
    let dead = dead_port().await;
    let live = tagged_echo(b'L').await;
    let p = start(flags(&[dead, live])).await;
    for _ in 0..6 {
        assert_eq!(tag_of(p.addr).await, b'L');
    }
    let report = p.stop().await;
    assert_eq!(report.upstream_failures, 0);
}

#[tokio::test]
async fn no_reachable_upstream_closes_the_client() {
    let dead = dead_port().await;
    let p = start(flags(&[dead])).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let mut buf = Vec::new();
    // The proxy closes the connection without sending anything.
    let n = c.read_to_end(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0);
    let report = p.stop().await;
    assert_eq!(report.upstream_failures, 1);
}

#[tokio::test]
async fn half_close_from_client_still_delivers_the_response() {
    // Upstream reads to EOF, then sends 1 MiB and closes.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"0123456789");
        s.write_all(&vec![7u8; 1 << 20]).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let p = start(flags(&[up])).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    c.write_all(b"0123456789").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), 1 << 20);
    assert!(got.iter().all(|&b| b == 7));
    p.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let up = tagged_echo(b'I').await;
    let config = ProxyConfig::from_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\nidle_timeout = \"300ms\"\n\
         [pool.p]\nupstreams = [\"{up}\"]\n"
    ))
    .unwrap();
    let p = start(config).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let mut got = Vec::new();
    // Nothing is sent after the tag: the proxy must close by itself; the bound keeps a broken
    // proxy from hanging the test.
    tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut got))
        .await
        .expect("idle connection was not closed")
        .unwrap();
    assert_eq!(got, b"I");
    p.stop().await;
}

#[tokio::test]
async fn shutdown_drains_live_connections_then_stops() {
    let up = tagged_echo(b'D').await;
    let p = start(flags(&[up])).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    let Running { addr, stop, task } = p;
    stop.unwrap().send(()).unwrap();
    // The live connection keeps working during the drain.
    c.write_all(b"still here").await.unwrap();
    let mut back = [0u8; 10];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"still here");
    // Accepting stops: a connection may still be taken in the instant before the shutdown is
    // seen, but soon connections are refused (or reset from the closed listener's backlog).
    let mut served_late = 0;
    loop {
        match TcpStream::connect(addr).await {
            Err(_) => break,
            Ok(mut s) => {
                let mut buf = [0u8; 1];
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => served_late += 1,
                }
            }
        }
        assert!(served_late < 100, "the proxy kept accepting after shutdown");
    }
    c.shutdown().await.unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    let report = task.await.unwrap();
    assert_eq!(report.completed, 1 + served_late);
    assert_eq!(report.cut_at_drain, 0);
}

#[tokio::test]
async fn drain_timeout_cuts_stuck_connections_and_keeps_counts() {
    let up = tagged_echo(b'S').await;
    let config = ProxyConfig::from_toml(&format!(
        "[server]\ndrain_timeout = \"200ms\"\n[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"{up}\"]\n"
    ))
    .unwrap();
    let p = start(config).await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    c.write_all(b"abc").await.unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"Sabc");
    let report = p.stop().await;
    assert_eq!(report.cut_at_drain, 1);
    assert_eq!(report.client_to_upstream, 3);
    assert_eq!(report.upstream_to_client, 4);
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
}

#[tokio::test]
async fn max_connections_pauses_accepting() {
    let up = tagged_echo(b'M').await;
    let config = ProxyConfig::from_toml(&format!(
        "[server]\nmax_connections = 2\n[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"{up}\"]\n"
    ))
    .unwrap();
    let p = start(config).await;
    let mut first = TcpStream::connect(p.addr).await.unwrap();
    let mut second = TcpStream::connect(p.addr).await.unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).await.unwrap();
    second.read_exact(&mut b).await.unwrap();
    // The third connection sits in the backlog: not served until a slot frees up.
    let mut third = TcpStream::connect(p.addr).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read_exact(&mut b)).await;
    assert!(waited.is_err(), "third connection was served above the cap");
    drop(first);
    tokio::time::timeout(Duration::from_secs(20), third.read_exact(&mut b))
        .await
        .expect("third connection was never served")
        .unwrap();
    assert_eq!(b[0], b'M');
    drop((second, third));
    p.stop().await;
}

#[tokio::test]
async fn run_rejects_a_listener_count_mismatch() {
    let config = flags(&[dead_port().await]);
    let err = proxy::run(config, Vec::new(), async {}).await.unwrap_err();
    assert!(
        err.to_string().contains("0 listeners were passed for 1"),
        "{err}"
    );
}
