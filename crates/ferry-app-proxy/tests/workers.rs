//! `server.workers`: connections run on worker threads (one single-threaded runtime each),
//! every worker accepts on the shared listener, the connection cap and the drain cover them
//! all, and the threads end with the run. Its own test binary, because it installs a global
//! log subscriber that records which thread wrote each access-log line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::{config, start, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/captured.rs"]
mod captured;
use captured::Captured;

/// The log lines of this test binary (installed once).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_thread_names(true)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

/// The tests count this process's threads: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Names (`comm`, at most 15 bytes) of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

/// One proxied connection: tag, `payload` echoed byte-exact, half-close, EOF.
async fn echo(addr: std::net::SocketAddr, payload: &[u8]) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(payload).await.unwrap();
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back[0], b'W');
    assert_eq!(&back[1..], payload);
}

#[tokio::test]
async fn connections_run_on_the_worker_threads_which_end_with_the_run() {
    let _one = SERIAL.lock().await;
    let logs = logs();
    logs.0.lock().unwrap().clear();
    let up = upstream(b'W').await;
    let p = start(config(up.addr, "[server]\nworkers = 2")).await;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..16u8 {
        let addr = p.addr();
        clients.spawn(async move { echo(addr, &vec![i; 1000 + usize::from(i) * 997]).await });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    // Served, so the run has started its workers.
    let workers = thread_names()
        .iter()
        .filter(|n| n.starts_with("ferry-proxy-wor"))
        .count();
    assert_eq!(workers, 2, "threads: {:?}", thread_names());
    let r = p.stop().await;
    assert_eq!((r.accepted, r.completed), (16, 16), "{r:?}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let access: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ferry::access"))
        .collect();
    assert_eq!(access.len(), 16, "{text}");
    for line in &access {
        assert!(
            line.contains("ferry-proxy-worker-"),
            "not on a worker: {line}"
        );
    }
    assert!(
        !thread_names()
            .iter()
            .any(|n| n.starts_with("ferry-proxy-wor")),
        "workers outlived the run: {:?}",
        thread_names()
    );
}

#[tokio::test]
async fn the_connection_cap_holds_across_workers() {
    let _one = SERIAL.lock().await;
    let _ = logs();
    let up = upstream(b'W').await;
    let p = start(config(
        up.addr,
        "[server]\nworkers = 3\nmax_connections = 1",
    ))
    .await;
    let mut first = TcpStream::connect(p.addr()).await.unwrap();
    let mut tag = [0u8; 1];
    first.read_exact(&mut tag).await.unwrap();
    // The second client waits in the kernel's backlog: nothing reaches the upstream for it
    // while the first is open, whichever worker holds the free permit.
    let mut second = TcpStream::connect(p.addr()).await.unwrap();
    let waited =
        tokio::time::timeout(Duration::from_millis(300), second.read_exact(&mut tag)).await;
    assert!(waited.is_err(), "a second connection was served at the cap");
    assert_eq!(up.accepted(), 1);
    drop(first);
    second.read_exact(&mut tag).await.unwrap();
    assert_eq!(tag, [b'W']);
    drop(second);
    let r = p.stop().await;
    assert_eq!(r.accepted, 2, "{r:?}");
}

#[tokio::test]
async fn connections_accepted_by_one_worker_are_spread_over_the_workers() {
    let _one = SERIAL.lock().await;
    let logs = logs();
    logs.0.lock().unwrap().clear();
    let up = upstream(b'W').await;
    let p = start(config(up.addr, "[server]\nworkers = 2")).await;
    // One at a time, each proxied end to end before the next: whichever worker accepts, a
    // worker running two more than the other hands the next one over.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        let mut tag = [0u8; 1];
        c.read_exact(&mut tag).await.unwrap();
        held.push(c);
    }
    drop(held);
    let r = p.stop().await;
    assert_eq!((r.accepted, r.completed), (8, 8), "{r:?}");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let on = |worker: &str| {
        text.lines()
            .filter(|l| l.contains("ferry::access") && l.contains(worker))
            .count()
    };
    let (first, second) = (on("ferry-proxy-worker-0"), on("ferry-proxy-worker-1"));
    assert_eq!(first + second, 8, "{text}");
    assert!(
        first >= 3 && second >= 3,
        "8 connections split {first}/{second}"
    );
}
