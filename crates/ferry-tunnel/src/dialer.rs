//! The seam through which the agent opens its TCP connection to the gateway (the TCP
//! transport), so that it can go through an egress proxy (HTTP CONNECT, SOCKS5) instead of
//! straight to the gateway.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;

/// The future a [`TcpDialer`] returns.
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;

/// Opens the TCP connection that carries the agent's TCP transport. The agent then runs TLS
/// (verifying the gateway's certificate for `server_name`), authenticates and speaks HTTP/2
/// on the stream returned, so a dialer that goes through an egress proxy returns the stream
/// to the proxy once the proxy has connected it to `gateway` (after the CONNECT reply or the
/// SOCKS5 reply). The agent's authentication deadline bounds the call.
///
/// Set with [`AgentConfig::tcp_dialer`](crate::AgentConfig::tcp_dialer); the default
/// ([`DirectDialer`]) connects straight to `gateway`.
pub trait TcpDialer: Send + Sync + 'static {
    /// Connects to `gateway` (whose certificate must be valid for `server_name`).
    ///
    /// # Errors
    ///
    /// The I/O error of the connect (or of the proxy exchange), shown in the agent's status
    /// and log.
    fn dial<'a>(&'a self, gateway: SocketAddr, server_name: &'a str) -> DialFuture<'a>;
}

/// A shared [`TcpDialer`].
pub type SharedTcpDialer = Arc<dyn TcpDialer>;

/// Connects straight to the gateway (`TcpStream::connect`). The default [`TcpDialer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectDialer;

impl TcpDialer for DirectDialer {
    fn dial<'a>(&'a self, gateway: SocketAddr, _server_name: &'a str) -> DialFuture<'a> {
        Box::pin(TcpStream::connect(gateway))
    }
}

/// A `Debug` stand-in for a dialer (trait objects have none).
pub(crate) struct DialerName;

impl fmt::Debug for DialerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpDialer")
    }
}
