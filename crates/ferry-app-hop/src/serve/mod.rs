//! `serve` mode: one hop of a chain.

mod conn;
pub(crate) mod dial;
mod generation;
pub(crate) mod handshake;
mod hop;
mod reload;
#[cfg(test)]
mod tests;
mod udp;

use std::future::Future;

use ferry_app_core::AppError;
use tokio::net::{TcpListener, UdpSocket};

pub use self::hop::Hop;
pub use self::reload::Reloader;
use crate::ServeConfig;

/// What a hop did, returned after it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Connections relayed to their next address (answered `ok`).
    pub relayed: u64,
    /// Connections closed without a relay because of a limit, the deadline, or a record that
    /// was refused (with or without an answer).
    pub rejected: u64,
    /// Connections answered with a failure status after a valid record (denied, dial failed,
    /// hop limit).
    pub failed: u64,
    /// Bytes relayed from clients towards destinations.
    pub bytes_up: u64,
    /// Bytes relayed back to clients.
    pub bytes_down: u64,
    /// Datagrams forwarded to a next address.
    pub udp_forwarded: u64,
    /// Datagrams dropped without a reply (not authenticated, flow table full, queue full), and
    /// replies from the next address dropped because, with this hop's response record, they
    /// would exceed the largest UDP datagram (65 507 bytes).
    pub udp_dropped: u64,
    /// Datagrams whose record authenticated but that were not forwarded, answered with a
    /// sealed failure status instead: stale, replayed (every datagram carries a fresh nonce, so
    /// a repeated one is refused), malformed, hop limit reached, not a UDP record, or a next
    /// address denied by the allowlist, unresolvable or unreachable. The answer is a bare
    /// status record, never larger than the datagram it answers.
    pub udp_refused: u64,
    /// Connections closed at accept because their reservation would have passed
    /// [`ServeConfig::memory_budget`] (not counted in `accepted`).
    pub memory_refused: u64,
}

/// Binds the hop's TCP listener and, with [`ServeConfig::udp`], its UDP socket on the same
/// address (on the TCP listener's port when the configured port is 0).
///
/// # Errors
///
/// [`AppError::Bind`] naming the address.
pub fn bind(config: &ServeConfig) -> Result<(TcpListener, Option<UdpSocket>), AppError> {
    let tcp = ferry_app_core::listen::bind_tcp(config.listen)?;
    let udp = if config.udp {
        let addr = tcp.local_addr().map_err(|source| AppError::Bind {
            addr: config.listen,
            source,
        })?;
        let std = std::net::UdpSocket::bind(addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| AppError::Bind { addr, source })?;
        Some(UdpSocket::from_std(std).map_err(|source| AppError::Bind { addr, source })?)
    } else {
        None
    };
    Ok((tcp, udp))
}

/// Runs a hop with `config` on `listener` (and `udp`, when given) until `shutdown` completes,
/// then drains: accepting stops at once and live connections get
/// [`ServeConfig::drain_timeout`]. The same as `Hop::new(config).run(...)`, without a way to
/// reload; see [`Hop`] for that.
///
/// # Errors
///
/// As [`Hop::run`].
///
/// # Cancel safety
///
/// Dropping the future stops accepting but leaves spawned connections running; complete
/// `shutdown` instead for a graceful drain.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    udp: Option<UdpSocket>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeReport, AppError> {
    Hop::new(config).run(listener, udp, shutdown).await
}
