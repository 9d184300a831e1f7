//! The workloads: bulk throughput, 64-byte request/response, connection rate and idle memory.
//! Each runs against one [`Dest`]: a target address (the bench server directly, or a proxy in
//! front of it), or an HTTP CONNECT proxy whose exchange is part of every connection's cost.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Where a workload connects.
#[derive(Clone, Debug)]
pub(crate) struct Dest {
    addr: SocketAddr,
    /// The HTTP CONNECT request head to send first, if `addr` is a CONNECT proxy.
    connect: Option<Arc<[u8]>>,
}

impl From<SocketAddr> for Dest {
    fn from(addr: SocketAddr) -> Self {
        Self {
            addr,
            connect: None,
        }
    }
}

/// The longest CONNECT reply head accepted.
const MAX_REPLY_HEAD: usize = 4096;

impl Dest {
    /// `CONNECT destination` through the HTTP proxy at `proxy`, with `Proxy-Authorization:
    /// Basic user:password`.
    pub(crate) fn http_connect(
        proxy: SocketAddr,
        destination: SocketAddr,
        user: &str,
        password: &str,
    ) -> Self {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let head = format!(
            "CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n\
             Proxy-Authorization: Basic {auth}\r\n\r\n"
        );
        Self {
            addr: proxy,
            connect: Some(head.into_bytes().into()),
        }
    }

    /// The address connected to (the proxy's, for CONNECT).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects; through a CONNECT proxy, also sends the request and reads a `200` reply head.
    pub(crate) async fn dial(&self) -> io::Result<TcpStream> {
        let mut s = TcpStream::connect(self.addr).await?;
        if let Some(head) = &self.connect {
            s.write_all(head).await?;
            // The upstreams answer only after the client speaks, so nothing follows the head.
            let mut reply = Vec::with_capacity(128);
            let mut buf = [0u8; 512];
            while !reply.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).await?;
                if n == 0 || reply.len() + n > MAX_REPLY_HEAD {
                    return Err(io::Error::other(format!(
                        "proxy {} closed or sent an oversized reply to CONNECT",
                        self.addr
                    )));
                }
                reply.extend_from_slice(&buf[..n]);
            }
            if !(reply.starts_with(b"HTTP/1.1 200") || reply.starts_with(b"HTTP/1.0 200")) {
                let line = reply.split(|&b| b == b'\r').next().unwrap_or_default();
                return Err(io::Error::other(format!(
                    "proxy {} refused CONNECT: {}",
                    self.addr,
                    String::from_utf8_lossy(line)
                )));
            }
        }
        Ok(s)
    }
}

/// Sends `bytes` through `streams` concurrent connections in sink mode; returns bytes/second as
/// confirmed by the sink.
pub(crate) async fn bulk(target: impl Into<Dest>, streams: usize, bytes: u64) -> io::Result<f64> {
    let target = target.into();
    let per_stream = bytes / streams as u64;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = target.dial().await?;
            s.write_all(b"S").await?;
            let buf = vec![0x5au8; 256 * 1024];
            let mut left = per_stream;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                s.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            s.shutdown().await?;
            let got = s.read_u64().await?;
            if got != per_stream {
                return Err(io::Error::other(format!(
                    "sink received {got} bytes, {per_stream} were sent"
                )));
            }
            Ok::<_, io::Error>(got)
        }));
    }
    let mut total = 0u64;
    for t in tasks {
        total += t.await.map_err(io::Error::other)??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Request/response results.
pub(crate) struct RrResult {
    pub(crate) per_sec: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
}

/// `conns` connections in echo mode, each sending 64 bytes and waiting for them back, for
/// `duration`.
pub(crate) async fn request_response(
    target: impl Into<Dest>,
    conns: usize,
    duration: Duration,
) -> io::Result<RrResult> {
    let target = target.into();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let stop = Arc::clone(&stop);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).map_err(io::Error::other)?;
            let mut s = target.dial().await?;
            s.set_nodelay(true)?;
            s.write_all(b"E").await?;
            let msg = [0x42u8; 64];
            let mut back = [0u8; 64];
            let mut count = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                s.write_all(&msg).await?;
                s.read_exact(&mut back).await?;
                let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = hist.record(us.max(1));
                count += 1;
            }
            Ok::<_, io::Error>((count, hist))
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).map_err(io::Error::other)?;
    for t in tasks {
        let (c, h) = t.await.map_err(io::Error::other)??;
        total += c;
        hist.add(&h).map_err(io::Error::other)?;
    }
    Ok(RrResult {
        per_sec: total as f64 / start.elapsed().as_secs_f64(),
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
    })
}

/// `workers` loops of connect, one echoed byte, close, for `duration`; returns connections per
/// second.
pub(crate) async fn connection_rate(
    target: impl Into<Dest>,
    workers: usize,
    duration: Duration,
) -> io::Result<f64> {
    let target = target.into();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let stop = Arc::clone(&stop);
        let done = Arc::clone(&done);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut s = target.dial().await?;
                s.set_nodelay(true)?;
                s.write_all(b"Ex").await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                s.shutdown().await?;
                // Wait for the server's FIN so the server side closes first.
                let _ = s.read(&mut b).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, io::Error>(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(io::Error::other)??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Opens `count` connections, each with one echoed byte so both legs exist, and keeps them open
/// until the returned guard is dropped.
pub(crate) async fn open_idle(target: impl Into<Dest>, count: usize) -> io::Result<Vec<TcpStream>> {
    let target = target.into();
    let mut conns = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(200) {
        let n = (count - chunk * 200).min(200);
        let mut batch = Vec::new();
        for _ in 0..n {
            let target = target.clone();
            batch.push(tokio::spawn(async move {
                let mut s = target.dial().await?;
                s.write_all(b"Ex").await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                Ok::<_, io::Error>(s)
            }));
        }
        for t in batch {
            conns.push(t.await.map_err(io::Error::other)??);
        }
    }
    Ok(conns)
}
