//! 5,000 client connections held open through the proxy at once, then all transferred
//! byte-exact; a per-client limit of exactly 5,000 refuses the next one.
//!
//! Four descriptors per connection would be 20,000 in one process, the usual hard
//! `RLIMIT_NOFILE` of containers; so the upstream runs in a child process (this same test
//! binary, started with `FERRY_MANY_UPSTREAM=1`), and the test process holds about 15,000.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;

use common::{config, connect_from, refused_bytes, start, upstream};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const N: usize = 5_000;

const CHILD_ENV: &str = "FERRY_MANY_UPSTREAM";

/// Three descriptors per connection here (client and the proxy's two sides), the bridge's
/// pipes (up to 1,024 pairs) and slack: raises the soft limit up to the hard one.
fn raise_nofile() {
    const WANT: u64 = 3 * N as u64 + 2 * 1024 + 512;
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let Some(current) = current else { return };
    let target = maximum.map_or(WANT, |m| m.min(WANT.max(current)));
    assert!(
        target >= WANT,
        "this test needs RLIMIT_NOFILE >= {WANT}; the hard limit is {maximum:?}"
    );
    if current < target {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum,
            },
        )
        .unwrap();
    }
}

/// Starts this test binary as the upstream (a tagged echo server) and reads its address.
async fn child_upstream() -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "five_thousand_connections_held_then_transferred_byte_exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(addr) = line.strip_prefix("UPSTREAM_ADDR=") {
            return (child, addr.parse().unwrap());
        }
    }
    panic!("the child upstream did not start");
}

/// The child's side: a tagged echo server until stdin closes (the parent ended).
async fn serve_as_child() {
    let up = upstream(b'T').await;
    println!("UPSTREAM_ADDR={}", up.addr);
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 1];
    while stdin.read(&mut buf).await.unwrap_or(0) > 0 {}
}

fn payload(i: usize) -> Vec<u8> {
    format!(
        "connection {i:05} says hello through ferry-proxy {}",
        "x".repeat(i % 37)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_held_then_transferred_byte_exact() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return serve_as_child().await;
    }
    raise_nofile();
    let (child, up_addr) = child_upstream().await;
    let p = start(config(
        up_addr,
        &format!(
            "[listener.limits]\nper_client_connections = {N}\nconnection_rate = \"100000/s\"\n"
        ),
    ))
    .await;
    let addr = p.addr();

    // Open them all (at most 256 handshakes in flight), each proxied end to end.
    let gate = Arc::new(Semaphore::new(256));
    let mut opening = JoinSet::new();
    for i in 0..N {
        let gate = Arc::clone(&gate);
        opening.spawn(async move {
            let _slot = gate.acquire().await.unwrap();
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut tag = [0u8; 1];
            c.read_exact(&mut tag).await.unwrap();
            assert_eq!(tag[0], b'T');
            (i, c)
        });
    }
    let mut held = Vec::with_capacity(N);
    while let Some(r) = opening.join_next().await {
        held.push(r.unwrap());
    }
    // Every client read the upstream's tag, and none has closed: all N are open end to end.
    assert_eq!(held.len(), N);

    // The limit is exactly N: one more is refused while they are all held.
    assert_eq!(
        refused_bytes(connect_from("127.0.0.1", addr).await).await,
        b""
    );

    let mut moving = JoinSet::new();
    for (i, mut c) in held {
        moving.spawn(async move {
            let data = payload(i);
            c.write_all(&data).await.unwrap();
            c.shutdown().await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, data, "connection {i}");
            data.len() as u64
        });
    }
    let mut sent = 0;
    while let Some(r) = moving.join_next().await {
        sent += r.unwrap();
    }
    let report = p.stop().await;
    assert_eq!(report.accepted, N as u64 + 1);
    assert_eq!((report.completed, report.refused), (N as u64, 1));
    assert_eq!(report.client_to_upstream, sent);
    assert_eq!(report.upstream_to_client, sent + N as u64);
    drop(child);
}
