//! QUIC transport settings and the quinn configs built from rustls configs.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::wire::ALPN;
use ferry_tls::KeyExchange;

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
    /// Kernel buffer asked for on the endpoint's UDP socket, each direction (`SO_RCVBUF`,
    /// `SO_SNDBUF`; Linux caps it at `net.core.rmem_max` / `wmem_max`). The host default
    /// (about 208 KiB) overflows under bulk bursts, and every datagram dropped there costs a
    /// retransmission and a congestion-window cut. Used by [`bind_endpoint`]. Default: 4 MiB.
    pub socket_buffer: usize,
}

impl Default for QuicSettings {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            stream_receive_window: 2 * 1024 * 1024,
            receive_window: 16 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            socket_buffer: 4 * 1024 * 1024,
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
    /// rustls refused the protocol versions of the provider ([`ferry_tls::provider()`]).
    #[error("tls protocol versions")]
    Versions(#[source] rustls::Error),
    /// The CA certificates trusted for the gateway cannot make a verifier (there are none).
    #[error("no trusted ca certificate for the gateway")]
    Roots(#[source] ferry_tls::TlsConfigError),
    /// The idle timeout is above QUIC's limit (2^62 ms).
    #[error("idle timeout out of range")]
    IdleTimeout,
    /// The idle timeout is not above the keep-alive interval (the connection would idle out
    /// between keep-alives).
    #[error("idle timeout must be above the keep-alive interval")]
    KeepAlive,
}

/// The quinn transport config both ends of a tunnel use: `s` applied, `max_bidi` streams the
/// *peer* may open concurrently, no unidirectional streams and no datagrams.
///
/// Public so that programs measuring or extending the tunnel can build quinn endpoints with
/// exactly the tunnel's settings (`ferry-bench` does, for its bare-QUIC baseline).
///
/// # Errors
///
/// [`QuicConfigError::KeepAlive`] when the idle timeout is not above the keep-alive interval,
/// [`QuicConfigError::IdleTimeout`] when it is out of QUIC's range.
pub fn transport_config(
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

/// A QUIC endpoint on a UDP socket bound to `addr` with [`QuicSettings::socket_buffer`]
/// asked for in both directions (a refusal is logged, not fatal: the kernel default stays),
/// accepting connections when `server` is given.
///
/// # Errors
///
/// When the socket cannot be created or bound.
pub fn bind_endpoint(
    addr: SocketAddr,
    s: &QuicSettings,
    server: Option<quinn::ServerConfig>,
) -> io::Result<quinn::Endpoint> {
    let socket = udp_socket(addr, s)?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket.into(),
        Arc::new(quinn::TokioRuntime),
    )
}

fn udp_socket(addr: SocketAddr, s: &QuicSettings) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    for (direction, result) in [
        ("receive", socket.set_recv_buffer_size(s.socket_buffer)),
        ("send", socket.set_send_buffer_size(s.socket_buffer)),
    ] {
        if let Err(e) = result {
            tracing::warn!(direction, bytes = s.socket_buffer, error = %e, "udp socket buffer not set");
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Turns a rustls server config into a QUIC one with ALPN `ferry-tunnel/1` (replacing any ALPN
/// list in `tls`), as the gateway uses.
///
/// # Errors
///
/// [`QuicConfigError::Tls`] when `tls` cannot serve QUIC (no TLS 1.3 AES-128-GCM suite, or
/// early data enabled).
pub fn server_crypto(tls: rustls::ServerConfig) -> Result<Arc<QuicServerConfig>, QuicConfigError> {
    QuicServerConfig::try_from(server_tls(tls))
        .map(Arc::new)
        .map_err(QuicConfigError::Tls)
}

/// `tls` as the gateway serves it: our ALPN and no early data.
///
/// 0-RTT is refused (reliability row E9): early data can be replayed by anyone who captured
/// it, and an agent's first bytes are its credential. With `max_early_data_size = 0` the
/// session tickets the gateway issues carry no early-data permission, so a resuming client
/// has no 0-RTT keys (quinn's `Connecting::into_0rtt` fails) and quinn, which only accepts
/// early data when rustls does, never delivers stream data before the handshake completes.
/// This is rustls' default, set here so that a caller's config cannot turn it on.
fn server_tls(mut tls: rustls::ServerConfig) -> rustls::ServerConfig {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    tls.send_half_rtt_data = false;
    tls
}

/// A rustls client config on [`ferry_tls::provider()`] with post-quantum hybrid key exchange
/// ([`KeyExchange::PostQuantum`]), TLS 1.3 only, trusting `roots`, with ALPN
/// `ferry-tunnel/1`, as the agent uses (certificate verification always on).
///
/// # Errors
///
/// [`QuicConfigError::Versions`] or [`QuicConfigError::Tls`] when rustls refuses the config.
pub fn client_crypto(
    roots: Arc<rustls::RootCertStore>,
) -> Result<Arc<QuicClientConfig>, QuicConfigError> {
    QuicClientConfig::try_from(client_tls(roots)?)
        .map(Arc::new)
        .map_err(QuicConfigError::Tls)
}

/// [`client_crypto`] with `verifier` checking the gateway's certificate (the agent's
/// [`ferry_tls::RecordingVerifier`], which remembers why it refused one), presenting
/// `client_cert` when given (mTLS).
pub(crate) fn client_crypto_verified(
    verifier: Arc<ferry_tls::RecordingVerifier>,
    client_cert: Option<Arc<rustls::sign::CertifiedKey>>,
    key_exchange: KeyExchange,
) -> Result<Arc<QuicClientConfig>, QuicConfigError> {
    let tls = agent_client_tls(verifier, client_cert, key_exchange, ALPN)?;
    QuicClientConfig::try_from(tls)
        .map(Arc::new)
        .map_err(QuicConfigError::Tls)
}

/// The agent's rustls client config on either transport: TLS 1.3 only, `verifier` for the
/// gateway's certificate, `client_cert` presented when given (mTLS), ALPN `alpn`, no early
/// data.
pub(crate) fn agent_client_tls(
    verifier: Arc<ferry_tls::RecordingVerifier>,
    client_cert: Option<Arc<rustls::sign::CertifiedKey>>,
    key_exchange: KeyExchange,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, QuicConfigError> {
    let builder = rustls::ClientConfig::builder_with_provider(ferry_tls::provider(key_exchange))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(QuicConfigError::Versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut tls = match client_cert {
        Some(key) => {
            builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)))
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.enable_early_data = false;
    Ok(tls)
}

/// The agent's rustls client config. Early data is off: the agent never sends 0-RTT (its
/// first bytes are its credential, and 0-RTT data can be replayed), even to a gateway that
/// would accept it; rustls' default, set here so that it stays so. Session resumption stays
/// on (a full handshake is not needed to reconnect).
fn client_tls(roots: Arc<rustls::RootCertStore>) -> Result<rustls::ClientConfig, QuicConfigError> {
    let mut tls =
        rustls::ClientConfig::builder_with_provider(ferry_tls::provider(KeyExchange::PostQuantum))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(QuicConfigError::Versions)?
            .with_root_certificates(roots)
            .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    Ok(tls)
}

/// Whether the connection negotiated our ALPN.
pub(crate) fn has_alpn(conn: &quinn::Connection) -> bool {
    conn.handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .is_some_and(|d| d.protocol.as_deref() == Some(ALPN))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Linux doubles the value asked for (bookkeeping overhead) up to `rmem_max`/`wmem_max`;
    /// 64 KiB is below every default cap, so the doubled value shows the setting took effect.
    #[cfg(target_os = "linux")]
    #[test]
    fn socket_buffers_are_applied() {
        let s = QuicSettings {
            socket_buffer: 64 * 1024,
            ..QuicSettings::default()
        };
        let socket = udp_socket("127.0.0.1:0".parse().unwrap(), &s).unwrap();
        assert_eq!(socket.recv_buffer_size().unwrap(), 128 * 1024);
        assert_eq!(socket.send_buffer_size().unwrap(), 128 * 1024);
        assert!(socket.local_addr().unwrap().as_socket().unwrap().port() != 0);
    }

    /// Row E9 as configuration; the behaviour is tested with real quinn connections in
    /// `tests/tunnel/zero_rtt.rs`.
    #[test]
    fn early_data_is_off_on_both_ends_whatever_the_caller_set() {
        let provider = ferry_tls::provider(KeyExchange::default());
        let cert = ferry_tls::SelfSigned::generate(["localhost"]).unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert_der().clone()], cert.key_der())
            .unwrap();
        tls.max_early_data_size = u32::MAX;
        tls.send_half_rtt_data = true;
        let served = server_tls(tls);
        assert_eq!(served.max_early_data_size, 0);
        assert!(!served.send_half_rtt_data);
        assert_eq!(served.alpn_protocols, vec![ALPN.to_vec()]);

        let client = client_tls(Arc::new(rustls::RootCertStore::empty())).unwrap();
        assert!(!client.enable_early_data);
    }

    #[test]
    fn bind_endpoint_serves_on_the_bound_address() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let endpoint = bind_endpoint(
            "127.0.0.1:0".parse().unwrap(),
            &QuicSettings::default(),
            None,
        )
        .unwrap();
        assert!(endpoint.local_addr().unwrap().port() != 0);
    }
}
