//! Shared helpers: loopback listeners and dead ports.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::num::NonZeroU32;

use ferry_pool::{Pool, PoolConfig, Upstream};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

/// A listener on 127.0.0.1 that accepts and drops connections until `stop` is sent (then the
/// listening socket is closed and `stopped` fires).
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl Server {
    pub async fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (stop, mut stop_rx) = oneshot::channel::<oneshot::Sender<()>>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    done = &mut stop_rx => {
                        drop(l);
                        if let Ok(done) = done { let _ = done.send(()); }
                        return;
                    }
                    r = l.accept() => { drop(r); }
                }
            }
        });
        Self {
            addr,
            stop: Some(stop),
        }
    }

    /// Closes the listening socket; returns once it is closed.
    pub async fn kill(&mut self) {
        let (done, done_rx) = oneshot::channel();
        self.stop.take().unwrap().send(done).unwrap();
        done_rx.await.unwrap();
    }
}

/// A socket bound to a 127.0.0.1 port but not listening: connects are refused until
/// [`listen`](TcpSocket::listen) is called on it.
pub fn dead_port() -> (TcpSocket, SocketAddr) {
    let s = TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

/// Accepts and drops connections on `l` forever.
pub fn serve(l: TcpListener) {
    tokio::spawn(async move {
        loop {
            drop(l.accept().await);
        }
    });
}

pub fn pool(config: PoolConfig, addrs: &[SocketAddr]) -> Pool {
    Pool::new(
        "test",
        config,
        addrs.iter().map(|&a| Upstream::from(a)).collect(),
    )
    .unwrap()
}

pub fn weighted(addr: SocketAddr, w: u32) -> Upstream {
    Upstream::from(addr).with_weight(NonZeroU32::new(w).unwrap())
}

pub fn client(i: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, i], 40000))
}
