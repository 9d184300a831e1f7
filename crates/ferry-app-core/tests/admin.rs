#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The admin endpoint over real loopback sockets.

use ferry_app_core::admin::{self, Health, MAX_REQUEST_HEAD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn start(
    health: Health,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = admin::install_prometheus().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(admin::serve(listener, Some(handle), health, async {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

async fn request(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn metrics_and_health() {
    let health = Health::new();
    let (addr, stop, task) = start(health.clone()).await;
    metrics::counter!("ferry_admin_test_total", "kind" => "probe").increment(3);

    let m = request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(
        m.contains("ferry_admin_test_total{kind=\"probe\"} 3"),
        "{m}"
    );

    let h = request(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(
        h.starts_with("HTTP/1.1 200 OK\r\n") && h.ends_with("\r\n\r\nok\n"),
        "{h}"
    );
    health.set_draining();
    let h = request(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(h.starts_with("HTTP/1.1 503 "), "{h}");

    let head = request(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );

    let nf = request(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
    assert!(nf.starts_with("HTTP/1.1 404 "), "{nf}");
    let post = request(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let garbage = request(addr, b"\x00\x01\x02 garbage\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn oversized_and_truncated_heads_are_refused() {
    let (addr, stop, task) = start(Health::new()).await;
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(MAX_REQUEST_HEAD + 2048, b'a');
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may close before everything is written; that is the point.
    let _ = s.write_all(&big).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    assert!(
        out.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // A client that closes half-way gets nothing and does not disturb the next one.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /hea").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let ok = request(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn silent_client_times_out() {
    let (addr, stop, task) = start(Health::new()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
    let mut out = String::new();
    // With paused time the runtime advances the clock when idle, so the deadline fires at once.
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    stop.send(()).unwrap();
    task.await.unwrap();
}
