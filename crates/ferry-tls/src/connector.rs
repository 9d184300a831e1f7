//! The client side: [`TlsConnector`] for upstream TLS and tunnel links.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::sign::SingleCertAndKey;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout_at;

use crate::acceptor::config::DEFAULT_HANDSHAKE_TIMEOUT;
use crate::acceptor::deadline_after;
use crate::cert::CertSource;
use crate::error::{HandshakeError, TlsConfigError};
use crate::explain::{CertificateFault, CertificateRefused};
use crate::info::{HandshakeInfo, TlsVersion};
use crate::insecure::InsecureSkipVerify;
use crate::pem::{PemInput, load_roots};
use crate::provider::KeyExchange;

/// A client-side TLS stream (the transport plus the rustls connection).
pub type ClientTlsStream<IO> = tokio_rustls::client::TlsStream<IO>;

/// Default number of sessions the connector remembers for resumption: 256 (rustls' default).
pub const DEFAULT_CLIENT_SESSIONS: usize = 256;

/// Configuration for [`TlsConnector`].
///
/// Server certificates are always verified against the CAs added with
/// [`add_ca`](Self::add_ca) (no public roots are built in), unless the configuration is
/// explicitly made insecure with [`insecure_skip_verify`](Self::insecure_skip_verify).
///
/// ```
/// use ferry_tls::{CertSource, ConnectorConfig, PemInput};
///
/// let mut config = ConnectorConfig::new();
/// config
///     .add_ca(PemInput::file("/etc/ferry/upstream-ca.pem"))
///     .client_cert(CertSource::files("/etc/ferry/client.pem", "/etc/ferry/client.key"))
///     .server_name("upstream.internal")
///     .alpn(["h2"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectorConfig {
    cas: Vec<PemInput>,
    client_cert: Option<CertSource>,
    server_name: Option<String>,
    send_sni: bool,
    alpn: Vec<Vec<u8>>,
    min_version: TlsVersion,
    timeout: Duration,
    sessions: usize,
    insecure: bool,
    key_exchange: KeyExchange,
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectorConfig {
    /// A configuration with no CA yet (add one before building), no client certificate, SNI on,
    /// no ALPN, TLS 1.2 minimum, a 10 s handshake deadline, 256 remembered sessions and
    /// post-quantum hybrid key exchange ([`KeyExchange::PostQuantum`]).
    pub fn new() -> Self {
        Self {
            cas: Vec::new(),
            client_cert: None,
            server_name: None,
            send_sni: true,
            alpn: Vec::new(),
            min_version: TlsVersion::Tls12,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            sessions: DEFAULT_CLIENT_SESSIONS,
            insecure: false,
            key_exchange: KeyExchange::PostQuantum,
        }
    }

    /// Trust the CA certificates in `pem` (one or more `CERTIFICATE` blocks; a self-signed
    /// server certificate can be trusted this way too). May be called several times. Default:
    /// no CA, which makes [`TlsConnector::new`] fail.
    pub fn add_ca(&mut self, pem: PemInput) -> &mut Self {
        self.cas.push(pem);
        self
    }

    /// Present this certificate when the server asks for one (mTLS). Default: none.
    pub fn client_cert(&mut self, cert: CertSource) -> &mut Self {
        self.client_cert = Some(cert);
        self
    }

    /// Send and verify `name` instead of the name given to [`TlsConnector::connect`] (for
    /// upstreams configured by address). Default: none.
    pub fn server_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.server_name = Some(name.into());
        self
    }

    /// Whether to send SNI (the certificate is verified against the name either way). Default
    /// `true`.
    pub fn send_sni(&mut self, send: bool) -> &mut Self {
        self.send_sni = send;
        self
    }

    /// ALPN protocols offered, in order of preference. Default: none.
    pub fn alpn<P: AsRef<[u8]>>(&mut self, protocols: impl IntoIterator<Item = P>) -> &mut Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Oldest protocol version accepted. Default [`TlsVersion::Tls12`].
    pub fn min_version(&mut self, version: TlsVersion) -> &mut Self {
        self.min_version = version;
        self
    }

    /// Total handshake deadline. Default 10 s.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Key-exchange groups offered, preferred first (table in [`mod@crate::provider`]). Default
    /// [`KeyExchange::PostQuantum`]: an `X25519MLKEM768` key share and an `X25519` one, so a
    /// classical-only server needs no extra round trip.
    pub fn key_exchange(&mut self, key_exchange: KeyExchange) -> &mut Self {
        self.key_exchange = key_exchange;
        self
    }

    /// Sessions remembered for resumption (0 disables resumption). Default 256.
    pub fn session_cache_size(&mut self, sessions: usize) -> &mut Self {
        self.sessions = sessions;
        self
    }

    /// **Insecure**: accept any server certificate for any name, so anyone on the path can
    /// impersonate the server. For tests and throw-away setups only; building the connector
    /// logs a warning. CAs added with [`add_ca`](Self::add_ca) are then ignored.
    pub fn insecure_skip_verify(&mut self) -> &mut Self {
        self.insecure = true;
        self
    }
}

/// Opens client TLS connections with a fixed configuration. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
    timeout: Duration,
    /// Where the trusted CAs came from (their files), for refusals.
    trusted: Option<String>,
}

impl TlsConnector {
    /// Build a connector: read the CAs and the client certificate.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::NoTrustAnchors`] without a CA (unless insecure), and any error reading
    /// the CA or client certificate PEM.
    pub fn new(config: &ConnectorConfig) -> Result<Self, TlsConfigError> {
        let provider: Arc<CryptoProvider> = crate::provider(config.key_exchange);
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(config.min_version.and_newer())
            .map_err(TlsConfigError::Rustls)?;
        let builder = if config.insecure {
            tracing::warn!(
                "tls connector configured with insecure_skip_verify: server certificates are \
                 NOT verified; anyone on the path can impersonate the server"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(InsecureSkipVerify::new(Arc::clone(
                    &provider,
                ))))
        } else {
            if config.cas.is_empty() {
                return Err(TlsConfigError::NoTrustAnchors);
            }
            builder.with_root_certificates(load_roots(&config.cas)?)
        };
        let mut client = match &config.client_cert {
            Some(source) => {
                let key = source.load(&provider)?;
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key)))
            }
            None => builder.with_no_client_auth(),
        };
        client.alpn_protocols.clone_from(&config.alpn);
        client.enable_sni = config.send_sni;
        client.resumption = if config.sessions == 0 {
            Resumption::disabled()
        } else {
            Resumption::in_memory_sessions(config.sessions)
        };
        if let Some(name) = &config.server_name {
            server_name(name)
                .map_err(|_invalid| TlsConfigError::InvalidServerName { name: name.clone() })?;
        }
        let trusted = (!config.insecure && !config.cas.is_empty()).then(|| {
            config
                .cas
                .iter()
                .map(|ca| ca.origin().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        });
        Ok(Self {
            config: Arc::new(client),
            server_name: config.server_name.clone(),
            timeout: config.timeout,
            trusted,
        })
    }

    /// Wrap a hand-built rustls configuration (10 s handshake deadline, no name override).
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            trusted: None,
        }
    }

    /// Run the client side of a TLS handshake on `io`, for `server_name` (a DNS name or an IP
    /// address; replaced by [`ConnectorConfig::server_name`] when set). The server's certificate
    /// must be valid for that name.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidServerName`], [`HandshakeError::Timeout`],
    /// [`HandshakeError::Certificate`] when the server's certificate is refused for a reason
    /// [`CertificateFault`](crate::CertificateFault) names (a CA certificate as the leaf, a name
    /// not covered, expired, not yet valid, an unknown issuer, no `serverAuth`; the peer is
    /// told as `the server NAME`), [`HandshakeError::Tls`] for other TLS failures (including
    /// other certificate errors: `rustls::Error::InvalidCertificate`),
    /// [`HandshakeError::Io`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops `io`.
    pub async fn connect<IO>(
        &self,
        server_name: &str,
        io: IO,
    ) -> Result<(ClientTlsStream<IO>, HandshakeInfo), HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name_text = self.server_name.as_deref().unwrap_or(server_name);
        let name = self::server_name(name_text)?;
        let sni = match (&name, self.config.enable_sni) {
            (ServerName::DnsName(dns), true) => Some(dns.as_ref().to_owned()),
            _ => None,
        };
        let deadline = deadline_after(self.timeout);
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        let stream = timeout_at(deadline, connector.connect(name, io))
            .await
            .map_err(|_elapsed| HandshakeError::Timeout(self.timeout))?
            .map_err(|e| self.explain(name_text, HandshakeError::from_io(e)))?;
        let (_, conn) = stream.get_ref();
        let info = HandshakeInfo::from_state(conn, sni)
            .ok_or(HandshakeError::Tls(rustls::Error::HandshakeNotComplete))?;
        Ok((stream, info))
    }
}

impl TlsConnector {
    /// `error`, as [`HandshakeError::Certificate`] when it is a certificate refusal this crate
    /// explains.
    fn explain(&self, name: &str, error: HandshakeError) -> HandshakeError {
        match &error {
            HandshakeError::Tls(tls) => match CertificateFault::from_tls(tls) {
                Some(fault) => HandshakeError::Certificate(CertificateRefused::new(
                    format!("the server {name}"),
                    self.trusted.clone(),
                    fault,
                )),
                None => error,
            },
            _ => error,
        }
    }
}

fn server_name(name: &str) -> Result<ServerName<'static>, HandshakeError> {
    let trimmed = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(trimmed.to_owned())
        .map_err(|_invalid| HandshakeError::InvalidServerName(name.to_owned()))
}
