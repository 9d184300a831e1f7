//! A UDP relay between one client (an agent) and a server (a gateway's QUIC port) that can be
//! told to drop everything, both ways: a NAT mapping gone silent, a cut network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub(crate) struct UdpRelay {
    /// Where the client sends (instead of the server's address).
    pub(crate) addr: SocketAddr,
    dropping: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
}

impl UdpRelay {
    /// Relays between the first client that sends to [`UdpRelay::addr`] (the latest source
    /// address wins) and `server`.
    pub(crate) async fn start(server: SocketAddr) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let dropping = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();

        let up = {
            let (front, back, dropping, dropped, client) = (
                Arc::clone(&front),
                Arc::clone(&back),
                Arc::clone(&dropping),
                Arc::clone(&dropped),
                Arc::clone(&client),
            );
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_535];
                while let Ok((n, from)) = front.recv_from(&mut buf).await {
                    *client.lock().unwrap() = Some(from);
                    if dropping.load(Ordering::SeqCst) {
                        dropped.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    let _ = back.send(&buf[..n]).await;
                }
            })
        };
        let down = {
            let (dropping, dropped) = (Arc::clone(&dropping), Arc::clone(&dropped));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_535];
                while let Ok(n) = back.recv(&mut buf).await {
                    let to = *client.lock().unwrap();
                    if dropping.load(Ordering::SeqCst) {
                        dropped.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    if let Some(to) = to {
                        let _ = front.send_to(&buf[..n], to).await;
                    }
                }
            })
        };
        Self {
            addr,
            dropping,
            dropped,
            tasks: [up, down],
        }
    }

    /// From now on every datagram, both ways, is dropped (`true`) or relayed (`false`).
    pub(crate) fn set_dropping(&self, on: bool) {
        self.dropping.store(on, Ordering::SeqCst);
    }

    /// Datagrams dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
