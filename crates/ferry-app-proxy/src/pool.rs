//! Upstream pool: round-robin choice and connect with a per-attempt timeout, retrying the next
//! upstream until every upstream was tried once or the total budget is spent.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::config::{PoolConfig, UpstreamAddr};

/// Why no upstream could be reached for a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Every attempt failed; the last failure is the source.
    #[error("all {attempts} upstream connect attempts failed, last to {upstream}")]
    AllFailed {
        /// Attempts made.
        attempts: usize,
        /// The last upstream tried.
        upstream: String,
        /// The last failure.
        #[source]
        source: io::Error,
    },
    /// The total connect budget ran out.
    #[error("upstream connect budget of {budget:?} spent after {attempts} attempts")]
    BudgetSpent {
        /// The configured budget.
        budget: Duration,
        /// Attempts made.
        attempts: usize,
    },
}

/// A pool with its round-robin cursor.
#[derive(Debug)]
pub(crate) struct Pool {
    config: PoolConfig,
    next: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(config: PoolConfig) -> Self {
        Self {
            config,
            next: AtomicUsize::new(0),
        }
    }

    /// Connects to the next upstream in round-robin order, moving on to the following ones when
    /// an attempt fails or times out. Returns the stream, the address connected to and the
    /// configured upstream it belongs to (whose host name upstream TLS verifies).
    pub(crate) async fn connect(
        &self,
    ) -> Result<(TcpStream, SocketAddr, &UpstreamAddr), ConnectError> {
        let n = self.config.upstreams.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + self.config.connect_budget;
        let mut last: Option<(String, io::Error)> = None;
        for i in 0..n {
            let upstream = &self.config.upstreams[(start + i) % n];
            let attempt_deadline = deadline.min(Instant::now() + self.config.connect_timeout);
            match timeout_at(attempt_deadline, connect_one(upstream)).await {
                Ok(Ok((stream, addr))) => return Ok((stream, addr, upstream)),
                Ok(Err(e)) => {
                    tracing::debug!(%upstream, error = %e, "upstream connect failed");
                    last = Some((upstream.to_string(), e));
                }
                Err(_) => {
                    tracing::debug!(%upstream, "upstream connect timed out");
                    last = Some((
                        upstream.to_string(),
                        io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Err(ConnectError::BudgetSpent {
                    budget: self.config.connect_budget,
                    attempts: i + 1,
                });
            }
        }
        let (upstream, source) = last.unwrap_or_else(|| {
            // Unreachable: a validated pool has at least one upstream, so the loop ran.
            (String::new(), io::Error::other("pool has no upstreams"))
        });
        Err(ConnectError::AllFailed {
            attempts: n,
            upstream,
            source,
        })
    }
}

async fn connect_one(upstream: &UpstreamAddr) -> io::Result<(TcpStream, SocketAddr)> {
    match upstream {
        UpstreamAddr::Socket(addr) => {
            let s = TcpStream::connect(addr).await?;
            Ok((s, *addr))
        }
        UpstreamAddr::Host(host, port) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "host name has no addresses");
            for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok((s, addr)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }
}
