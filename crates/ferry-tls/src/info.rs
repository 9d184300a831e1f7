//! What a finished handshake negotiated.

use rustls::{CommonState, HandshakeKind, ProtocolVersion};
use rustls_pki_types::CertificateDer;

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// The rustls versions allowed when `self` is the minimum.
    pub(crate) fn and_newer(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12_AND_NEWER: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Self::Tls12 => &TLS12_AND_NEWER,
            Self::Tls13 => &TLS13_ONLY,
        }
    }

    fn from_rustls(version: ProtocolVersion) -> Option<Self> {
        match version {
            ProtocolVersion::TLSv1_2 => Some(Self::Tls12),
            ProtocolVersion::TLSv1_3 => Some(Self::Tls13),
            _ => None,
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tls12 => "TLSv1.2",
            Self::Tls13 => "TLSv1.3",
        })
    }
}

/// What a completed handshake negotiated (server or client side).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeInfo {
    /// The server name: on the server side the SNI the client sent, on the client side the name
    /// sent as SNI (`None` for an IP address or with SNI disabled).
    pub sni: Option<String>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The protocol version.
    pub version: TlsVersion,
    /// The IANA name of the cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher_suite: &'static str,
    /// The IANA name of the key-exchange group, e.g. `X25519MLKEM768` or `X25519` (`None` for
    /// a TLS 1.2 resumption, which has no key exchange).
    pub key_exchange: Option<&'static str>,
    /// Whether this was an abbreviated (resumed) handshake.
    pub resumed: bool,
    /// The peer's end-entity certificate: the client's on the server side (mTLS only), the
    /// server's on the client side.
    pub peer_certificate: Option<CertificateDer<'static>>,
}

impl HandshakeInfo {
    /// Read the negotiated parameters; `None` if the handshake is not complete.
    pub(crate) fn from_state(state: &CommonState, sni: Option<String>) -> Option<Self> {
        let version = TlsVersion::from_rustls(state.protocol_version()?)?;
        let suite = state.negotiated_cipher_suite()?.suite();
        Some(Self {
            sni,
            alpn: state.alpn_protocol().map(<[u8]>::to_vec),
            version,
            cipher_suite: suite.as_str().unwrap_or("unknown"),
            key_exchange: state
                .negotiated_key_exchange_group()
                .map(|group| group.name().as_str().unwrap_or("unknown")),
            resumed: state.handshake_kind() == Some(HandshakeKind::Resumed),
            peer_certificate: state
                .peer_certificates()
                .and_then(<[CertificateDer<'static>]>::first)
                .cloned(),
        })
    }
}
