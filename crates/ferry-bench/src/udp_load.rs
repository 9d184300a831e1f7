//! The datagram workload of `compare-tunnel --udp-service`: a UDP echo upstream, and a load
//! generator that keeps a bounded window of datagrams outstanding on a few client sockets and
//! counts what comes back.
//!
//! UDP promises nothing, so the generator measures what is echoed, not what is sent: every
//! datagram carries a sequence number; a reply acknowledges its own datagram and (flows keep
//! their order on every path measured here: one socket per client on the direct path and on
//! rathole, one tunnel stream per flow in Ferry) every earlier one still outstanding, which is
//! counted as lost for the window's sake. When nothing comes back for [`LOSS_WAIT`], every
//! outstanding datagram is written off and the window starts again. After the timed phase the
//! generator stops sending and keeps counting late replies until nothing arrives for
//! [`DRAIN_WAIT`]; the loss is `1 - echoed / sent` over both phases.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

/// How long a socket waits without any reply before it writes off its outstanding datagrams.
const LOSS_WAIT: Duration = Duration::from_millis(200);

/// How long the drain phase waits for one more late reply.
const DRAIN_WAIT: Duration = Duration::from_millis(300);

/// Receive buffer of the bench's own sockets (the echo upstream and the generator's), so the
/// bench itself is not where datagrams are dropped; the kernel caps it at `net.core.rmem_max`.
const BENCH_RCVBUF: usize = 4 << 20;

/// The smallest payload: the sequence number.
pub(crate) const MIN_PAYLOAD: usize = 8;

/// Binds a UDP socket on the loopback address of `like`'s family, with the bench's receive
/// buffer.
async fn bind_like(like: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match like.ip() {
        IpAddr::V4(_) => ([127, 0, 0, 1], 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    // Best effort: a smaller buffer only makes the bench a possible drop point.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, BENCH_RCVBUF);
    Ok(socket)
}

/// Binds the UDP echo upstream on an ephemeral loopback port and spawns it: every datagram goes
/// back to its sender unchanged.
///
/// # Errors
///
/// Binding the socket fails.
pub(crate) async fn spawn_echo() -> io::Result<SocketAddr> {
    let socket = bind_like(([127, 0, 0, 1], 0).into()).await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let _ = socket.send_to(&buf[..n], from).await;
                }
                // ICMP errors from a client gone away surface here; keep serving.
                Err(_) => tokio::task::yield_now().await,
            }
        }
    });
    Ok(addr)
}

/// A free UDP port on loopback (bound and released, as `free_port` does for TCP).
///
/// # Errors
///
/// Binding the socket fails.
pub(crate) async fn free_udp_port() -> io::Result<SocketAddr> {
    UdpSocket::bind("127.0.0.1:0").await?.local_addr()
}

/// Polls until one datagram is echoed through `addr` (10 s deadline, 250 ms per attempt).
///
/// # Errors
///
/// No echo before the deadline, or a socket error.
pub(crate) async fn wait_ready(addr: SocketAddr) -> io::Result<()> {
    let socket = bind_like(addr).await?;
    socket.connect(addr).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    loop {
        // A refused send (nothing bound yet) is retried like a missing reply.
        let _ = socket.send(b"ready").await;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(250), socket.recv(&mut buf)).await
            && &buf[..n] == b"ready"
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "udp {addr} did not echo a datagram within 10 s"
            )));
        }
    }
}

/// What one run of [`echo_load`] counted, over all its sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct UdpRun {
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Datagrams echoed within the timed phase.
    pub(crate) timed: u64,
    /// Payload bytes echoed within the timed phase.
    pub(crate) timed_bytes: u64,
    /// Datagrams echoed in all (timed phase and drain).
    pub(crate) echoed: u64,
    /// Payload bytes echoed in all.
    pub(crate) echoed_bytes: u64,
    /// Length of the timed phase, seconds.
    pub(crate) seconds: f64,
}

impl UdpRun {
    fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.timed += o.timed;
        self.timed_bytes += o.timed_bytes;
        self.echoed += o.echoed;
        self.echoed_bytes += o.echoed_bytes;
        self.seconds = self.seconds.max(o.seconds);
    }

    /// Datagrams echoed per second in the timed phase.
    pub(crate) fn datagrams_per_sec(&self) -> f64 {
        self.timed as f64 / self.seconds
    }

    /// Payload bytes echoed per second in the timed phase.
    pub(crate) fn bytes_per_sec(&self) -> f64 {
        self.timed_bytes as f64 / self.seconds
    }

    /// Share of the datagrams sent that never came back, in percent.
    pub(crate) fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * self.sent.saturating_sub(self.echoed) as f64 / self.sent as f64
    }
}

/// The sending window of one socket (see the module docs).
#[derive(Debug, Default)]
struct Window {
    /// The next sequence number to send.
    next: u64,
    /// The oldest sequence number still outstanding.
    oldest: u64,
}

impl Window {
    fn outstanding(&self) -> u64 {
        self.next - self.oldest
    }

    /// A reply for `seq` came back: it and every older outstanding datagram leave the window.
    fn reply(&mut self, seq: u64) {
        if seq >= self.oldest && seq < self.next {
            self.oldest = seq + 1;
        }
    }

    /// Nothing came back for a while: every outstanding datagram is written off.
    fn write_off(&mut self) {
        self.oldest = self.next;
    }
}

/// Sends `payload`-byte datagrams to `dest` from `sockets` sockets for `duration`, each keeping
/// at most `window` outstanding, then drains late replies (see the module docs).
///
/// # Errors
///
/// A socket cannot be bound, or a send or receive fails for another reason than a refusal
/// (an ICMP error for an earlier datagram, on loopback).
pub(crate) async fn echo_load(
    dest: SocketAddr,
    payload: usize,
    sockets: usize,
    window: usize,
    duration: Duration,
) -> io::Result<UdpRun> {
    let payload = payload.max(MIN_PAYLOAD);
    let mut tasks = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let socket = bind_like(dest).await?;
        socket.connect(dest).await?;
        tasks.push(tokio::spawn(one_socket(socket, payload, window, duration)));
    }
    let mut total = UdpRun::default();
    for t in tasks {
        total.add(&t.await.map_err(io::Error::other)??);
    }
    Ok(total)
}

/// Whether `e` is an ICMP error reported on a connected socket (a datagram refused earlier),
/// which the workload counts as loss rather than failing on.
fn refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

async fn one_socket(
    socket: UdpSocket,
    payload: usize,
    window: usize,
    duration: Duration,
) -> io::Result<UdpRun> {
    let mut out = vec![0u8; payload];
    let mut buf = vec![0u8; 65_536];
    let mut w = Window::default();
    let mut run = UdpRun::default();
    let start = Instant::now();
    let end = start + duration;
    loop {
        while w.outstanding() < window as u64 {
            out[..8].copy_from_slice(&w.next.to_be_bytes());
            match socket.send(&out).await {
                Ok(_) => {}
                Err(e) if refused(&e) => {}
                Err(e) => return Err(e),
            }
            w.next += 1;
            run.sent += 1;
        }
        let wait_until = (Instant::now() + LOSS_WAIT).min(end);
        match tokio::time::timeout_at(wait_until, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if n >= 8 {
                    let mut seq = [0u8; 8];
                    seq.copy_from_slice(&buf[..8]);
                    w.reply(u64::from_be_bytes(seq));
                }
                run.timed += 1;
                run.timed_bytes += n as u64;
            }
            Ok(Err(e)) if refused(&e) => {}
            Ok(Err(e)) => return Err(e),
            Err(_elapsed) if wait_until < end => w.write_off(),
            Err(_elapsed) => {}
        }
        if Instant::now() >= end {
            break;
        }
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.echoed = run.timed;
    run.echoed_bytes = run.timed_bytes;
    while let Ok(r) = tokio::time::timeout(DRAIN_WAIT, socket.recv(&mut buf)).await {
        match r {
            Ok(n) => {
                run.echoed += 1;
                run.echoed_bytes += n as u64;
            }
            Err(e) if refused(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_acknowledges_older_datagrams_and_ignores_stale_ones() {
        let mut w = Window {
            next: 10,
            oldest: 0,
        };
        w.reply(3);
        assert_eq!((w.oldest, w.outstanding()), (4, 6));
        // A reply older than the window (written off or reordered) changes nothing.
        w.reply(2);
        assert_eq!(w.outstanding(), 6);
        w.write_off();
        assert_eq!(w.outstanding(), 0);
        w.reply(9);
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn loss_counts_late_replies_as_echoed() {
        let run = UdpRun {
            sent: 200,
            timed: 150,
            timed_bytes: 150 * 64,
            echoed: 190,
            echoed_bytes: 190 * 64,
            seconds: 2.0,
        };
        assert!((run.loss_percent() - 5.0).abs() < 1e-9);
        assert!((run.datagrams_per_sec() - 75.0).abs() < 1e-9);
        assert_eq!(UdpRun::default().loss_percent(), 0.0);
    }

    #[tokio::test]
    async fn a_run_through_the_echo_upstream_counts_whole_datagrams() {
        let echo = spawn_echo().await.unwrap();
        wait_ready(echo).await.unwrap();
        let run = echo_load(echo, 64, 2, 4, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(run.sent > 0 && run.echoed > 0);
        assert_eq!(run.echoed_bytes, run.echoed * 64);
    }
}
