//! A soak session over one byte stream: dialing each TCP route (plain, TLS, SOCKS5 CONNECT,
//! HTTP CONNECT) and playing a [`Plan`] against the echo backend, every byte checked.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::load::Dest;
use crate::soak_plan::{End, Plan};
use crate::tls_load;

/// The longest any one step (a dial, a round, the wait for EOF) may take before the session
/// counts as failed: a stall is a failure, not a slow success.
pub(crate) const STALL: Duration = Duration::from_secs(20);

/// Why a session failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bytes came back that were not the bytes sent: always fatal to the soak.
    Corrupt(String),
    /// A connection failed, closed early or stalled.
    Io(String),
}

impl Failure {
    /// An I/O failure during `step`.
    pub(crate) fn io(step: &str, e: impl std::fmt::Display) -> Self {
        Self::Io(format!("{step}: {e}"))
    }
}

/// Runs `fut` within [`STALL`], naming `step` on failure.
pub(crate) async fn step<T>(
    step: &str,
    fut: impl Future<Output = io::Result<T>>,
) -> Result<T, Failure> {
    match timeout(STALL, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::io(step, e)),
        Err(_elapsed) => Err(Failure::io(step, format!("stalled for {STALL:?}"))),
    }
}

/// Connects to `addr`; with `abort`, SO_LINGER 0 so that dropping the stream resets it.
pub(crate) async fn connect(addr: SocketAddr, abort: bool) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    if abort {
        s.set_zero_linger()?;
    }
    Ok(s)
}

/// SOCKS5 without authentication: the greeting and a CONNECT (`cmd` 1) or UDP ASSOCIATE
/// (`cmd` 3) request for `target`; returns the address in the server's reply.
pub(crate) async fn socks5_request(
    s: &mut TcpStream,
    cmd: u8,
    target: SocketAddr,
) -> io::Result<SocketAddr> {
    s.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    if choice != [5, 0] {
        return Err(io::Error::other(format!(
            "SOCKS5 greeting refused: {choice:?}"
        )));
    }
    let mut req = vec![5, cmd, 0];
    push_socks_addr(&mut req, target);
    s.write_all(&req).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if head[1] != 0 {
        return Err(io::Error::other(format!(
            "SOCKS5 request refused with reply code {}",
            head[1]
        )));
    }
    let ip = match head[3] {
        1 => {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await?;
            IpAddr::from(b)
        }
        4 => {
            let mut b = [0u8; 16];
            s.read_exact(&mut b).await?;
            IpAddr::from(b)
        }
        other => {
            return Err(io::Error::other(format!(
                "SOCKS5 reply with address type {other}"
            )));
        }
    };
    let port = s.read_u16().await?;
    Ok(SocketAddr::new(ip, port))
}

/// Appends `addr` in SOCKS5 form (ATYP, address, port).
pub(crate) fn push_socks_addr(buf: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            buf.push(1);
            buf.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            buf.push(4);
            buf.extend_from_slice(&ip.octets());
        }
    }
    buf.extend_from_slice(&addr.port().to_be_bytes());
}

/// Plays `plan` on a plain stream through `addr` (ferry-proxy's plain listener).
pub(crate) async fn plain(
    addr: SocketAddr,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let s = step("connect", connect(addr, plan.end == End::Abort)).await?;
    play(s, plan, stop).await
}

/// Plays `plan` over TLS to `addr` (ferry-proxy's TLS listener).
pub(crate) async fn tls(
    client: &tls_load::Client,
    addr: SocketAddr,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let s = step("tls connect", async {
        let tcp = connect(addr, plan.end == End::Abort).await?;
        client.handshake(tcp).await
    })
    .await?;
    play(s, plan, stop).await
}

/// Plays `plan` through the SOCKS5 server at `socks` to `echo`.
pub(crate) async fn socks(
    socks: SocketAddr,
    echo: SocketAddr,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let s = step("socks5 connect", async {
        let mut s = connect(socks, plan.end == End::Abort).await?;
        socks5_request(&mut s, 1, echo).await?;
        Ok(s)
    })
    .await?;
    play(s, plan, stop).await
}

/// Plays `plan` through the HTTP CONNECT proxy `dest`.
pub(crate) async fn http_connect(
    dest: &Dest,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let s = step("http connect", async {
        let s = dest.dial().await?;
        s.set_nodelay(true)?;
        if plan.end == End::Abort {
            s.set_zero_linger()?;
        }
        Ok(s)
    })
    .await?;
    play(s, plan, stop).await
}

/// Plays `plan` on an established stream to the echo backend; returns the bytes verified.
/// With `stop` set, the remaining rounds are skipped and the session ends as planned.
pub(crate) async fn play<S>(stream: S, plan: &Plan, stop: &AtomicBool) -> Result<u64, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut r, mut w) = tokio::io::split(stream);
    // A Send generator (the thread-local one cannot cross awaits in a spawned task).
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut verified = 0u64;
    for (i, &size) in plan.sizes.iter().enumerate() {
        if i > 0 && !plan.pause.is_zero() {
            tokio::time::sleep(plan.pause).await;
        }
        if stop.load(Ordering::Relaxed) && i > 0 {
            break;
        }
        let mut sent = vec![0u8; size];
        rng.fill_bytes(&mut sent);
        let mut back = vec![0u8; size];
        let (wrote, read) = tokio::join!(
            step("write", async {
                w.write_all(&sent).await?;
                w.flush().await
            }),
            step("read echo", r.read_exact(&mut back)),
        );
        wrote?;
        read?;
        if let Some(at) = sent.iter().zip(&back).position(|(a, b)| a != b) {
            return Err(Failure::Corrupt(format!(
                "round {i}: {size} bytes echoed, first difference at byte {at}"
            )));
        }
        verified += size as u64;
    }
    match plan.end {
        End::HalfClose => {
            step("shutdown", w.shutdown()).await?;
            let mut extra = [0u8; 64];
            let n = match timeout(STALL, r.read(&mut extra)).await {
                Ok(Ok(n)) => n,
                // A TLS peer may close without close_notify: still an end of stream.
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Ok(Err(e)) => return Err(Failure::io("read eof", e)),
                Err(_elapsed) => return Err(Failure::io("read eof", "no EOF within the stall")),
            };
            if n > 0 {
                return Err(Failure::Corrupt(format!(
                    "{n} unexpected bytes after the echo and the half-close"
                )));
            }
        }
        End::Abort => {
            // Part of a payload, then a reset: the stream was made with SO_LINGER 0.
            let mut partial = vec![0u8; rng.random_range(1..=4096)];
            rng.fill_bytes(&mut partial);
            let _ = timeout(STALL, w.write_all(&partial)).await;
        }
        End::Drop => {}
    }
    Ok(verified)
}
