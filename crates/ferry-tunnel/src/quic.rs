//! QUIC transport settings and the quinn configs built from rustls configs.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::wire::ALPN;

/// QUIC transport settings, set explicitly on both ends (quinn's defaults have no keep-alive and
/// an unbounded connection receive window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicSettings {
    /// Send a keep-alive when nothing else was sent for this long (keeps NAT mappings and
    /// detects dead peers). Default: 10 s.
    pub keep_alive_interval: Duration,
    /// Close the connection after this long without any packet from the peer. Must be above
    /// the keep-alive interval. Default: 30 s.
    pub idle_timeout: Duration,
    /// Bytes a peer may send on one stream before it is read (per-stream flow-control window).
    /// Default: 2 MiB.
    pub stream_receive_window: u32,
    /// Bytes a peer may send on all streams of the connection together before they are read
    /// (connection flow-control window; bounds per-connection buffering). Default: 16 MiB.
    pub receive_window: u32,
    /// Bytes this end buffers for sending on the connection. Default: 16 MiB.
    pub send_window: u32,
}

impl Default for QuicSettings {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            stream_receive_window: 2 * 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
        }
    }
}

/// A QUIC or TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuicConfigError {
    /// The rustls config cannot be used for QUIC (it must allow TLS 1.3 with an AES-128-GCM
    /// suite, and a server config must not enable early data).
    #[error("tls config is not usable for quic")]
    Tls(#[source] quinn::crypto::rustls::NoInitialCipherSuite),
    /// rustls refused the protocol versions of its ring provider.
    #[error("tls protocol versions")]
    Versions(#[source] rustls::Error),
    /// The idle timeout is above QUIC's limit (2^62 ms).
    #[error("idle timeout out of range")]
    IdleTimeout,
    /// The idle timeout is not above the keep-alive interval (the connection would idle out
    /// between keep-alives).
    #[error("idle timeout must be above the keep-alive interval")]
    KeepAlive,
}

/// `max_bidi`: streams the *peer* may open concurrently.
pub(crate) fn transport(
    s: &QuicSettings,
    max_bidi: u32,
) -> Result<Arc<TransportConfig>, QuicConfigError> {
    if s.idle_timeout <= s.keep_alive_interval {
        return Err(QuicConfigError::KeepAlive);
    }
    let idle =
        IdleTimeout::try_from(s.idle_timeout).map_err(|_range| QuicConfigError::IdleTimeout)?;
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(s.keep_alive_interval))
        .max_idle_timeout(Some(idle))
        .stream_receive_window(VarInt::from_u32(s.stream_receive_window))
        .receive_window(VarInt::from_u32(s.receive_window))
        .send_window(u64::from(s.send_window))
        .max_concurrent_bidi_streams(VarInt::from_u32(max_bidi))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None);
    Ok(Arc::new(t))
}

/// The ring crypto provider, named explicitly (never the process default).
pub(crate) fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Turns a rustls server config into a QUIC one with ALPN `ferry-tunnel/1` (replacing any ALPN
/// list in `tls`).
pub(crate) fn server_crypto(
    mut tls: rustls::ServerConfig,
) -> Result<Arc<QuicServerConfig>, QuicConfigError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    QuicServerConfig::try_from(tls)
        .map(Arc::new)
        .map_err(QuicConfigError::Tls)
}

/// A rustls client config on the ring provider, TLS 1.3 only, trusting `roots`, with ALPN
/// `ferry-tunnel/1`.
pub(crate) fn client_crypto(
    roots: Arc<rustls::RootCertStore>,
) -> Result<Arc<QuicClientConfig>, QuicConfigError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(QuicConfigError::Versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    QuicClientConfig::try_from(tls)
        .map(Arc::new)
        .map_err(QuicConfigError::Tls)
}

/// Whether the connection negotiated our ALPN.
pub(crate) fn has_alpn(conn: &quinn::Connection) -> bool {
    conn.handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .is_some_and(|d| d.protocol.as_deref() == Some(ALPN))
}
