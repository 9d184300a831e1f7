//! Shared helpers: hops in-process on loopback, destinations that count connections.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_allow::Allowlist;
use ferry_app_hop::access::{self, access};
use ferry_app_hop::serve::bind;
use ferry_app_hop::{AccessConfig, AccessReport, ServeConfig, ServeReport, serve};
use ferry_chain::{Address, Chain, ChainHop, HopKey, KeyId, Keyring};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub fn key(n: u8) -> HopKey {
    HopKey::new(KeyId(u16::from(n)), [n; 32])
}

/// A running hop; dropping it stops it.
pub struct HopHandle {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    report: Option<oneshot::Receiver<ServeReport>>,
}

impl HopHandle {
    /// Stops the hop and returns its report (after the drain).
    pub async fn stop(mut self) -> ServeReport {
        self.stop.take().unwrap().send(()).unwrap();
        self.report.take().unwrap().await.unwrap()
    }
}

impl Drop for HopHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn config(n: u8) -> ServeConfig {
    let keys = Keyring::new([key(n)]).unwrap();
    ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        keys,
        Allowlist::parse("127.0.0.0/8").unwrap(),
    )
}

pub async fn start_hop(config: ServeConfig) -> HopHandle {
    let (listener, udp) = bind(&config).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let (rtx, rrx) = oneshot::channel();
    tokio::spawn(async move {
        let report = serve(config, listener, udp, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let _ = rtx.send(report);
    });
    HopHandle {
        addr,
        stop: Some(tx),
        report: Some(rrx),
    }
}

pub async fn hop(n: u8) -> HopHandle {
    start_hop(config(n)).await
}

pub async fn udp_hop(n: u8) -> HopHandle {
    let mut c = config(n);
    c.udp = true;
    start_hop(c).await
}

pub fn chain(hops: &[(SocketAddr, HopKey)]) -> Chain {
    Chain::new(
        hops.iter()
            .map(|(addr, key)| ChainHop {
                address: Address::try_from(*addr).unwrap(),
                key: key.clone(),
            })
            .collect(),
    )
    .unwrap()
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A TCP echo destination that counts the connections it accepted.
pub struct Dest {
    pub addr: SocketAddr,
    echo: ferry_test_support::net::Echo,
}

impl Dest {
    pub fn count(&self) -> usize {
        self.echo.accepted()
    }
}

pub async fn echo_dest() -> Dest {
    let echo = ferry_test_support::net::echo_counting().await;
    Dest {
        addr: echo.addr,
        echo,
    }
}

/// A UDP destination that answers `echo:` + the datagram.
pub async fn udp_echo() -> SocketAddr {
    ferry_test_support::net::udp_echo(b"echo:").await
}

/// An address nothing listens on.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// Reads until EOF (bounded by the test's own timeout).
pub async fn read_all(s: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    out
}

/// A key file holding keys 1..=n (key k is `[k; 32]`).
pub fn key_file(n: u8) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "ferry-hop-access-{}-{}.keys",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let text: String = (1..=n)
        .map(|k| format!("{k} {}\n", format!("{k:02x}").repeat(32)))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// A running access instance; dropping it stops it.
pub struct Access {
    pub addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    report: Option<oneshot::Receiver<AccessReport>>,
}

impl Access {
    pub async fn stop(mut self) -> AccessReport {
        self.stop.take().unwrap().send(()).unwrap();
        self.report.take().unwrap().await.unwrap()
    }
}

impl Drop for Access {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn start_access(toml: &str) -> Access {
    let config = AccessConfig::from_toml(toml).unwrap();
    let sockets = access::bind(&config).unwrap();
    let addrs = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let (tx, rx) = oneshot::channel::<()>();
    let (rtx, rrx) = oneshot::channel();
    tokio::spawn(async move {
        let report = access(config, sockets, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let _ = rtx.send(report);
    });
    Access {
        addrs,
        stop: Some(tx),
        report: Some(rrx),
    }
}

pub fn chain_toml(name: &str, weight: u32, hops: &[(SocketAddr, u8)]) -> String {
    let hops: Vec<String> = hops
        .iter()
        .map(|(a, k)| format!("{{ address = \"{a}\", key_id = {k} }}"))
        .collect();
    format!(
        "[[chain]]\nname = \"{name}\"\nweight = {weight}\nhops = [{}]\n",
        hops.join(", ")
    )
}
