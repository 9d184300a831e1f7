//! Destinations and clients on tokio (call inside a runtime).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Echoes one connection until the client's EOF, then shuts the write side.
async fn echo_one(mut s: TcpStream) {
    let (mut r, mut w) = s.split();
    let _ = tokio::io::copy(&mut r, &mut w).await;
    let _ = w.shutdown().await;
}

/// An echo server: every connection gets back what it sent, then a half-close after the
/// client's.
pub async fn echo() -> SocketAddr {
    tagged(Vec::new()).await.0
}

/// An echo server that writes `tag` first on every connection (so a test can tell which of
/// several upstreams it reached), then echoes.
pub async fn tagged_echo(tag: u8) -> SocketAddr {
    tagged(vec![tag]).await.0
}

/// An echo server that writes `banner` first on every connection (as SMTP or SSH servers
/// speak first), then echoes.
pub async fn banner_echo(banner: &[u8]) -> SocketAddr {
    tagged(banner.to_vec()).await.0
}

/// An echo destination that also counts the connections it accepted.
#[derive(Clone, Debug)]
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Echo {
    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// [`echo`], counting connections.
pub async fn echo_counting() -> Echo {
    let (addr, accepted) = tagged(Vec::new()).await;
    Echo { addr, accepted }
}

async fn tagged(banner: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let banner: Arc<[u8]> = banner.into();
    let (l, addr) = listener().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let banner = Arc::clone(&banner);
            tokio::spawn(async move {
                if !banner.is_empty() && s.write_all(&banner).await.is_err() {
                    return;
                }
                echo_one(s).await;
            });
        }
    });
    (addr, accepted)
}

/// A tiny HTTP server: answers every request head `200` with `body`, then closes.
pub async fn http_ok(body: &'static str) -> SocketAddr {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

/// A UDP server that answers every datagram with `prefix` followed by the datagram.
pub async fn udp_echo(prefix: &'static [u8]) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut reply = prefix.to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from).await;
        }
    });
    addr
}

/// An address with nothing listening on it (bound, then closed): connecting is refused.
pub async fn dead_port() -> SocketAddr {
    listener().await.1
}

/// Writes `data` and half-closes while reading to EOF, concurrently; returns what came back.
pub async fn round_trip<S>(stream: S, data: &[u8]) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::with_capacity(data.len());
    let read = r.read_to_end(&mut back);
    let ((), n) = tokio::join!(write, read);
    n.unwrap();
    back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn servers_answer_as_documented() {
        let data = crate::payload(100_000, 7);
        let e = echo_counting().await;
        let back = round_trip(TcpStream::connect(e.addr).await.unwrap(), &data).await;
        assert_eq!(back, data);
        assert_eq!(e.accepted(), 1);
        let t = tagged_echo(b'T').await;
        let back = round_trip(TcpStream::connect(t).await.unwrap(), b"x").await;
        assert_eq!(back, b"Tx");
        let b = banner_echo(b"220 hi\r\n").await;
        let back = round_trip(TcpStream::connect(b).await.unwrap(), b"q").await;
        assert_eq!(back, b"220 hi\r\nq");
        let h = http_ok("hello").await;
        let back = round_trip(
            TcpStream::connect(h).await.unwrap(),
            b"GET / HTTP/1.1\r\n\r\n",
        )
        .await;
        assert!(back.ends_with(b"\r\n\r\nhello"), "{back:?}");
        assert!(TcpStream::connect(dead_port().await).await.is_err());
        let u = udp_echo(b"echo:").await;
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"hi", u).await.unwrap();
        let mut buf = [0u8; 16];
        let n = c.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"echo:hi");
        assert_ne!(crate::payload(64, 1), crate::payload(64, 2));
    }
}

/// Listeners on each of `ips` (loopback addresses such as `127.0.0.2`), all on the same port,
/// so that one name resolving to any of them with one port reaches exactly one of them.
pub async fn same_port_listeners<const N: usize>(ips: [&str; N]) -> [TcpListener; N] {
    'again: for _ in 0..100 {
        let first = TcpListener::bind((ips[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'again, // the port is taken there: try another
            }
        }
        if let Ok(all) = all.try_into() {
            return all;
        }
    }
    panic!("no port free on every one of {ips:?}");
}

/// Writes `data` and reads the same number of bytes back, leaving the stream open (an echo
/// through a connection that must stay up).
pub async fn echoed<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).await.unwrap();
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).await.unwrap();
    back
}

/// Waits for `listener`'s next connection (panics after 10 s: a dial that never came).
pub async fn accepted(listener: &TcpListener) -> TcpStream {
    tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept())
        .await
        .expect("nothing was dialled")
        .unwrap()
        .0
}

/// Whether `listener` has accepted nothing before: connects to it and checks that the first
/// connection in its queue is this one (no wait, no timeout).
pub async fn nothing_accepted(listener: &TcpListener) -> bool {
    let ours = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (_, peer) = listener.accept().await.unwrap();
    peer == ours.local_addr().unwrap()
}

/// What [`trickle`] saw.
#[derive(Debug)]
pub struct Trickled {
    /// Bytes written before the peer closed (all of them when it never did).
    pub sent: usize,
    /// What the peer answered.
    pub reply: Vec<u8>,
    /// Whether the peer closed (or reset) before every byte was written.
    pub closed_early: bool,
}

/// Writes `bytes` one at a time, `every` apart (a slow sender: the pause shapes the load, it
/// synchronises nothing), and stops as soon as a write fails or the peer closes; then reads
/// what is left until the peer closes.
pub async fn trickle(s: &mut TcpStream, bytes: &[u8], every: std::time::Duration) -> Trickled {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    for (sent, b) in bytes.iter().enumerate() {
        if s.write_all(std::slice::from_ref(b)).await.is_err() {
            let _ = s.read_to_end(&mut reply).await; // whatever arrived before the close
            return Trickled {
                sent,
                reply,
                closed_early: true,
            };
        }
        let pause = tokio::time::sleep(every);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => {
                        return Trickled { sent: sent + 1, reply, closed_early: sent + 1 < bytes.len() };
                    }
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                },
            }
        }
    }
    let _ = s.read_to_end(&mut reply).await;
    Trickled {
        sent: bytes.len(),
        reply,
        closed_early: false,
    }
}
