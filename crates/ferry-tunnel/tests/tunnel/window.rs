//! Row E7: the connection receive window caps what an agent can make the gateway buffer. A
//! hand-made agent answers `ok` on every tunnel and then writes on all of them while the
//! gateway's side reads nothing: the writes stall at the configured connection window (below
//! the sum of the stream windows), and resume as soon as the gateway side reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_tunnel::wire::{AuthReply, TunnelStatus, decode_header, encode_status};
use tokio::io::AsyncReadExt as _;

use crate::common::*;
use crate::tunnels::{client, dest};

const WINDOW: u32 = 64 * 1024;
const STREAM_WINDOW: u32 = 32 * 1024;
const STREAMS: usize = 4;
/// Each stream tries to send this much: 4 x 256 KiB, far above the window.
const PER_STREAM: usize = 256 * 1024;
/// Flow control counts every stream byte: before the tunnel data, the agent sent its auth
/// message (about 40 bytes here) and one status byte per tunnel, which the gateway has read
/// (and may have given back as credit).
const SLACK: usize = 1024;

/// Authenticates as `site-1` over a raw connection; answers `ok` to every tunnel header and
/// then writes `PER_STREAM` bytes, counting what each `write` call got through.
async fn writing_agent(
    pki: &Pki,
    gateway: std::net::SocketAddr,
    written: Arc<AtomicUsize>,
) -> (quinn::Endpoint, quinn::Connection) {
    let (endpoint, conn, reply) = raw_agent(pki, gateway, "site-1", None).await;
    assert_eq!(reply, AuthReply::Ok);

    let serving = conn.clone();
    // Statuses share the connection window with the data: every tunnel gets its `ok` before
    // any stream starts writing.
    let all_open = Arc::new(tokio::sync::Barrier::new(STREAMS));
    tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok((mut send, mut recv)) = serving.accept_bi().await {
            n += 1;
            let written = Arc::clone(&written);
            let all_open = Arc::clone(&all_open);
            let data = payload(PER_STREAM, n);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 512];
                loop {
                    let got = recv.read(&mut buf).await.unwrap().unwrap();
                    head.extend_from_slice(&buf[..got]);
                    if decode_header(&head).unwrap().complete().is_some() {
                        break;
                    }
                }
                let mut status = Vec::new();
                encode_status(TunnelStatus::Ok, &mut status);
                send.write_all(&status).await.unwrap();
                all_open.wait().await;
                let mut off = 0;
                while off < data.len() {
                    let Ok(n) = send.write(&data[off..]).await else {
                        return;
                    };
                    written.fetch_add(n, Ordering::SeqCst);
                    off += n;
                }
                send.finish().unwrap();
            });
        }
    });
    (endpoint, conn)
}

#[tokio::test]
async fn agent_writes_stall_at_the_connection_window_and_resume_when_read() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.quic.receive_window = WINDOW;
    config.quic.stream_receive_window = STREAM_WINDOW;
    let gw = start_gateway(&pki, config).await;
    let written = Arc::new(AtomicUsize::new(0));
    let (_endpoint, agent) = writing_agent(&pki, gw.addr, Arc::clone(&written)).await;
    let echo = echo_server().await; // never dialled: the hand-made agent answers itself
    let mut tunnels = Vec::new();
    for _ in 0..STREAMS {
        let t = gw
            .gateway
            .open(&id("site-1"), dest(echo), client())
            .await
            .unwrap();
        tunnels.push(t);
    }

    // Nobody reads the tunnels: the agent runs out of connection credit and says so with a
    // DATA_BLOCKED frame. (Its stream windows would allow 4 x 32 KiB.)
    tokio::time::timeout(Duration::from_secs(20), async {
        while agent.stats().frame_tx.data_blocked == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the agent was never blocked by connection flow control");
    let through = written.load(Ordering::SeqCst);
    assert!(
        through <= WINDOW as usize,
        "{through} bytes got past a {WINDOW}-byte window"
    );
    assert!(
        through + SLACK >= WINDOW as usize,
        "blocked at {through} bytes, well below the {WINDOW}-byte window"
    );
    assert!(
        through < STREAMS * STREAM_WINDOW as usize,
        "the stream windows, not the connection window, stopped the agent"
    );

    // The gateway side reads: credit comes back and every byte arrives.
    let reads: Vec<_> = tunnels
        .into_iter()
        .map(|mut t| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                t.read_to_end(&mut got).await.unwrap();
                got
            })
        })
        .collect();
    let mut results = Vec::new();
    for read in reads {
        let got = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("writes did not resume after the reads")
            .unwrap();
        results.push(got);
    }
    let mut seeds: Vec<u64> = Vec::new();
    for got in results {
        assert_eq!(got.len(), PER_STREAM);
        let seed = (1..=STREAMS as u64)
            .find(|&s| got == payload(PER_STREAM, s))
            .expect("tunnel bytes differ from what the agent sent");
        seeds.push(seed);
    }
    seeds.sort_unstable();
    assert_eq!(seeds, (1..=STREAMS as u64).collect::<Vec<_>>());
    assert_eq!(written.load(Ordering::SeqCst), STREAMS * PER_STREAM);
    agent.close(0u32.into(), b"");
    gw.stop().await;
}
