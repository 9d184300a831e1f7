//! Limits on data and the payload dump over real loopback sockets: the per-client byte rate
//! shared by a client's connections (paused time), the request-unit rate with its reply, and
//! dump files holding exactly the bytes relayed each way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{config, proxied, start, start_at, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Sends `n` bytes on a fresh proxied connection from `from` and reads the echo back.
async fn echo_through(from: &'static str, addr: SocketAddr, n: usize) {
    let mut c = proxied(from, addr).await;
    let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    let (mut r, mut w) = c.split();
    let send = async {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let ((), res) = tokio::join!(send, r.read_to_end(&mut got));
    res.unwrap();
    assert_eq!(got, data);
}

const RATE: &str = "[listener.limits]\ndata_rate = 10000\ndata_burst = 1000\n";

fn between(d: Duration, lo_ms: u64, hi_ms: u64) -> bool {
    d >= Duration::from_millis(lo_ms) && d <= Duration::from_millis(hi_ms)
}

#[tokio::test(start_paused = true)]
async fn byte_rate_paces_one_connection() {
    let up = upstream(b'A').await;
    let p = start(config(up.addr, RATE)).await;
    let t0 = Instant::now();
    echo_through("127.0.0.1", p.addr(), 10_000).await;
    // (10,000 - 1,000 burst) / 10,000 B/s each way, both ways at once; the upstream's tag
    // byte costs 0.1 ms.
    let took = t0.elapsed();
    assert!(between(took, 880, 1_000), "{took:?}");
    p.stop().await;
}

#[tokio::test(start_paused = true)]
async fn byte_rate_is_shared_by_a_clients_connections_not_across_clients() {
    let up = upstream(b'A').await;
    let p = start(config(up.addr, RATE)).await;
    let t0 = Instant::now();
    let a = tokio::spawn(echo_through("127.0.0.1", p.addr(), 10_000));
    let b = tokio::spawn(echo_through("127.0.0.1", p.addr(), 10_000));
    let addr = p.addr();
    let other = tokio::spawn(async move {
        let t = Instant::now();
        echo_through("127.0.0.2", addr, 10_000).await;
        t.elapsed()
    });
    a.await.unwrap();
    b.await.unwrap();
    let shared = t0.elapsed();
    let alone = other.await.unwrap();
    // Same client: 20,000 bytes through one 10,000 B/s bucket per direction.
    assert!(between(shared, 1_850, 2_100), "same client took {shared:?}");
    // The other client has its own buckets: paced as if alone.
    assert!(between(alone, 880, 1_000), "other client took {alone:?}");
    p.stop().await;
}

#[tokio::test]
async fn request_rate_refuses_the_read_over_the_limit_and_replies() {
    let mut up = upstream(b'A').await;
    let p = start(config(
        up.addr,
        "[listener.limits]\nrequest_rate = \"2/m\"\nreply = \"SLOW DOWN {retry_after}\\n\"\n",
    ))
    .await;
    let mut c = proxied("127.0.0.1", p.addr()).await;
    for byte in [b'a', b'b'] {
        c.write_all(&[byte]).await.unwrap();
        let mut echo = [0u8; 1];
        c.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo[0], byte);
    }
    c.write_all(b"c").await.unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    // Two units at once use the burst of 2; the next is due 30 s later.
    assert_eq!(rest, b"SLOW DOWN 30\n");
    assert_eq!(
        up.received.recv().await.unwrap(),
        b"ab",
        "the third read never went up"
    );
    drop(c);
    let report = p.stop().await;
    assert_eq!(report.client_to_upstream, 2);
}

#[tokio::test]
async fn dump_files_hold_exactly_the_bytes_each_way() {
    let up = upstream(b'U').await;
    let dir = std::env::temp_dir().join(format!("ferry-dump-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let at = 1_795_403_045; // 2026-11-23T03:04:05Z
    let p = start_at(
        config(
            up.addr,
            &format!(
                "[listener.dump]\ndir = {:?}\nhex_trace = true\n",
                dir.to_str().unwrap()
            ),
        ),
        at,
    )
    .await;
    let mut c = proxied("127.0.0.1", p.addr()).await;
    let port = c.local_addr().unwrap().port();
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    c.write_all(&payload).await.unwrap();
    c.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    c.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed, payload);
    drop(c);
    // The drain waits for the connection task, which waits for its dump writer.
    p.stop().await;
    let stem = format!("20261123T030405Z-127.0.0.1_{port}");
    let c2u = std::fs::read(dir.join(format!("{stem}-c2u.bin"))).unwrap();
    let u2c = std::fs::read(dir.join(format!("{stem}-u2c.bin"))).unwrap();
    assert_eq!(c2u, payload);
    let mut expected = vec![b'U'];
    expected.extend_from_slice(&payload);
    assert_eq!(u2c, expected);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn dump_files_stop_at_max_bytes() {
    let up = upstream(b'U').await;
    let dir = std::env::temp_dir().join(format!("ferry-dump-max-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = start(config(
        up.addr,
        &format!(
            "[listener.dump]\ndir = {:?}\nmax_bytes = 10\n",
            dir.to_str().unwrap()
        ),
    ))
    .await;
    let mut c = proxied("127.0.0.1", p.addr()).await;
    c.write_all(b"0123456789abcdef").await.unwrap();
    c.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    c.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(
        echoed, b"0123456789abcdef",
        "the relay is not cut by the dump cap"
    );
    drop(c);
    p.stop().await;
    let mut sizes: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes.len(), 2);
    assert!(sizes[0].0.ends_with("-c2u.bin"));
    assert_eq!(sizes[0].1, b"0123456789");
    assert_eq!(sizes[1].1, b"U012345678");
    std::fs::remove_dir_all(&dir).unwrap();
}
