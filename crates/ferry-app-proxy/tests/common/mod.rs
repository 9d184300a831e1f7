//! Helpers shared by the limit, access and dump tests: upstreams that count and record,
//! a proxy started in-process from TOML, clients bound to a chosen loopback source address.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_app_proxy::{FixedClock, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// An upstream that writes `tag` first, then echoes until EOF; counts accepted connections
/// and sends every connection's received bytes on `received` when it ends.
pub struct Upstream {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub received: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Upstream {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

pub async fn upstream(tag: u8) -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, received) = mpsc::unbounded_channel();
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                if s.write_all(&[tag]).await.is_ok() {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                seen.extend_from_slice(&buf[..n]);
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = s.shutdown().await;
                }
                let _ = tx.send(seen);
            });
        }
    });
    Upstream {
        addr,
        accepted,
        received,
    }
}

/// A config with one plain listener on 127.0.0.1:0 to pool `p` = `upstream`, with `extra`
/// (keys and sub-tables of the listener) inserted after the listener's own keys.
pub fn config(upstream: SocketAddr, extra: &str) -> ProxyConfig {
    let text = format!(
        "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{extra}\n\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\n"
    );
    ProxyConfig::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[path = "../support/running.rs"]
mod running;
pub use running::Running;

pub async fn start(config: ProxyConfig) -> Running {
    running::start_config(config)
}

pub async fn start_at(config: ProxyConfig, unix_secs: u64) -> Running {
    running::start_proxy(
        Proxy::new(config)
            .unwrap()
            .with_clock(Arc::new(FixedClock(unix_secs))),
    )
}

/// Connects to `to` from `from` (any 127.0.0.0/8 address works on Linux loopback).
pub async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let ip: IpAddr = from.parse().unwrap();
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(ip, 0)).unwrap();
    s.connect(to).await.unwrap()
}

/// Connects and reads the upstream's tag byte: the connection is proxied end to end.
pub async fn proxied(from: &str, to: SocketAddr) -> TcpStream {
    let mut c = connect_from(from, to).await;
    let mut tag = [0u8; 1];
    c.read_exact(&mut tag).await.unwrap();
    c
}

/// Reads until EOF: what a refused client gets (nothing for `close`).
pub async fn refused_bytes(mut c: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    got
}
