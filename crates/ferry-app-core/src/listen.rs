//! Binding listeners and an accept loop that survives descriptor exhaustion.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::error::AppError;

/// Listen backlog used for every listener.
pub const BACKLOG: i32 = 4096;
/// First pause after an accept error that signals resource exhaustion (EMFILE, ENFILE, ENOBUFS,
/// ENOMEM); it doubles up to [`ACCEPT_BACKOFF_MAX`] and resets after the next success.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(25);
/// Longest pause between accept attempts while resources are exhausted.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Socket options for [`bind_tcp_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindOptions {
    /// Set `SO_REUSEPORT` (Unix), so several processes (or listeners) can bind the same
    /// address and the kernel spreads connections between them, as HAProxy's and nginx's
    /// `reuseport` do. Default off: a second bind of a used address is an error.
    pub reuse_port: bool,
}

impl BindOptions {
    /// Options with `SO_REUSEPORT` set as given.
    #[must_use]
    pub fn reuse_port(reuse_port: bool) -> Self {
        Self { reuse_port }
    }
}

/// Binds a TCP listener with `SO_REUSEADDR` and a large backlog (IPv6 sockets are v6-only).
///
/// # Errors
///
/// [`AppError::Bind`] naming the address.
pub fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, AppError> {
    bind_tcp_with(addr, BindOptions::default())
}

/// [`bind_tcp`] with [`BindOptions`].
///
/// # Errors
///
/// [`AppError::Bind`] naming the address.
pub fn bind_tcp_with(addr: SocketAddr, options: BindOptions) -> Result<TcpListener, AppError> {
    let inner = || -> io::Result<TcpListener> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        TcpListener::from_std(socket.into())
    };
    inner().map_err(|source| AppError::Bind { addr, source })
}

/// Accept state: remembers the current back-off.
#[derive(Debug)]
pub struct Acceptor {
    backoff: Duration,
}

impl Default for Acceptor {
    fn default() -> Self {
        Self::new()
    }
}

impl Acceptor {
    /// A fresh acceptor with the shortest back-off ([`ACCEPT_BACKOFF_MIN`]).
    #[must_use]
    pub fn new() -> Self {
        Self {
            backoff: ACCEPT_BACKOFF_MIN,
        }
    }

    /// Accepts the next connection. Errors that concern only the connection being accepted are
    /// skipped; resource exhaustion pauses with exponential back-off. Never returns an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is either returned or left in the backlog.
    pub async fn accept(&mut self, listener: &TcpListener) -> (TcpStream, SocketAddr) {
        loop {
            match listener.accept().await {
                Ok(conn) => {
                    self.backoff = ACCEPT_BACKOFF_MIN;
                    return conn;
                }
                Err(e) if is_exhaustion(&e) => {
                    tracing::warn!(error = %e, pause = ?self.backoff, "accept: out of resources, backing off");
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept: connection failed before it was accepted");
                }
            }
        }
    }
}

fn is_exhaustion(e: &io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 on Linux; other systems report them through
    // the same raw codes or as `OutOfMemory`.
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) || e.kind() == io::ErrorKind::OutOfMemory
}
