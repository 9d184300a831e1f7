//! Shared helpers: killable tagged upstreams, a recording upstream, and a proxy started from a
//! TOML text with its reloader.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_app_proxy::ProxyConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// An upstream that writes its tag byte, then echoes until EOF. Killable: the listening
/// socket is closed, so later connects are refused.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) accepted: Arc<AtomicUsize>,
    kill: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl Server {
    pub(crate) async fn tagged(tag: u8) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), tag)
    }

    /// Listens again on `addr` (after [`kill`](Self::kill)).
    pub(crate) fn tagged_at(addr: SocketAddr, tag: u8) -> Self {
        let s = TcpSocket::new_v4().unwrap();
        s.set_reuseaddr(true).unwrap();
        s.bind(addr).unwrap();
        Self::serve(s.listen(64).unwrap(), tag)
    }

    fn serve(l: TcpListener, tag: u8) -> Self {
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (kill, mut kill_rx) = oneshot::channel::<oneshot::Sender<()>>();
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    done = &mut kill_rx => {
                        drop(l);
                        if let Ok(done) = done { let _ = done.send(()); }
                        return;
                    }
                    r = l.accept() => {
                        let Ok((mut s, _)) = r else { continue };
                        count.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(async move {
                            if s.write_all(&[tag]).await.is_err() { return; }
                            let (mut r, mut w) = s.split();
                            let _ = tokio::io::copy(&mut r, &mut w).await;
                            let _ = w.shutdown().await;
                        });
                    }
                }
            }
        });
        Self {
            addr,
            accepted,
            kill: Some(kill),
        }
    }

    /// Closes the listening socket; returns once it is closed.
    pub(crate) async fn kill(&mut self) {
        let (done, done_rx) = oneshot::channel();
        self.kill.take().unwrap().send(done).unwrap();
        done_rx.await.unwrap();
    }
}

/// An upstream that reads each connection to EOF, reports every byte it got, answers `ok`
/// and closes.
pub(crate) async fn recorder() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got).await;
                let _ = tx.send(got);
                let _ = s.write_all(b"ok").await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, rx)
}

pub(crate) use crate::running::{Running, start_config};

pub(crate) async fn start(toml: &str) -> Running {
    start_config(ProxyConfig::from_toml(toml).unwrap())
}

/// `[[listener]]` on port 0 to pool `p`, plus `extra` listener keys, then `[pool.p]` with
/// `upstreams` and `pool` keys.
pub(crate) fn config(listener_extra: &str, upstreams: &str, pool: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n{listener_extra}\n\
         [pool.p]\nupstreams = {upstreams}\n{pool}\n"
    )
}

pub(crate) fn list(addrs: &[SocketAddr]) -> String {
    let quoted: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Connects through the proxy and returns the upstream's tag (the connection is dropped).
pub(crate) async fn tag_of(addr: SocketAddr) -> u8 {
    tag_held(addr).await.0
}

/// Connects, reads the tag, and keeps the connection.
pub(crate) async fn tag_held(addr: SocketAddr) -> (u8, TcpStream) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    (b[0], c)
}

/// Echo round trip on a held connection.
pub(crate) async fn ping(c: &mut TcpStream, payload: &[u8]) {
    c.write_all(payload).await.unwrap();
    let mut back = vec![0u8; payload.len()];
    c.read_exact(&mut back).await.unwrap();
    assert_eq!(back, payload);
}
