//! Error types: one enum for building a configuration, one for a handshake.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Where a piece of PEM (or a key file) came from, for error messages.
///
/// Displays as the file path, or as `in-memory <what>` for PEM passed as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// Bytes passed in memory; the string says what they were meant to be.
    Memory(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Memory(what) => write!(f, "in-memory {what}"),
        }
    }
}

/// Building an acceptor or connector configuration failed.
///
/// Every variant that concerns a file names it; nothing is half-applied when this is returned
/// (in particular [`TlsAcceptor::reload`](crate::TlsAcceptor::reload) keeps the old
/// configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A file could not be read.
    #[error("cannot read {origin}")]
    Read {
        /// The file.
        origin: Origin,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file could not be created or written.
    #[error("cannot create {origin}")]
    Create {
        /// The file.
        origin: Origin,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is larger than this crate is willing to read.
    #[error("{origin} is larger than {max} bytes")]
    TooLarge {
        /// The file.
        origin: Origin,
        /// The limit in bytes.
        max: u64,
    },
    /// A PEM input is empty (or only whitespace).
    #[error("{origin} is empty")]
    EmptyPem {
        /// The input.
        origin: Origin,
    },
    /// A PEM input is malformed.
    #[error("{origin} is not valid PEM")]
    Pem {
        /// The input.
        origin: Origin,
        /// The parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// No `CERTIFICATE` block was found.
    #[error("{origin} contains no certificate (expected a `-----BEGIN CERTIFICATE-----` block)")]
    NoCertificate {
        /// The input.
        origin: Origin,
    },
    /// No private key block was found.
    #[error(
        "{origin} contains no private key (expected `-----BEGIN PRIVATE KEY-----`, \
         `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)"
    )]
    NoPrivateKey {
        /// The input.
        origin: Origin,
    },
    /// More than one private key block was found.
    #[error("{origin} contains more than one private key")]
    MultiplePrivateKeys {
        /// The input.
        origin: Origin,
    },
    /// The private key is encrypted.
    #[error(
        "{origin}: encrypted private keys are not supported; decrypt with \
         `openssl pkey -in KEY -out KEY.plain` and protect the file with permissions"
    )]
    EncryptedKey {
        /// The input.
        origin: Origin,
    },
    /// The private key has a type or encoding the crypto provider cannot use (supported: RSA,
    /// ECDSA P-256/P-384 and Ed25519).
    #[error("{origin}: unsupported private key type (supported: RSA, ECDSA P-256/P-384, Ed25519)")]
    UnsupportedKey {
        /// The input.
        origin: Origin,
        /// What the provider reported.
        #[source]
        source: rustls::Error,
    },
    /// The private key does not belong to the first certificate of the chain.
    #[error("private key {key} does not match the first certificate in {cert}")]
    KeyMismatch {
        /// Where the certificate chain came from.
        cert: Origin,
        /// Where the key came from.
        key: Origin,
    },
    /// The first certificate of a chain cannot be parsed as X.509.
    #[error("{origin}: the first certificate cannot be parsed")]
    BadCertificate {
        /// The input.
        origin: Origin,
        /// What the parser reported.
        #[source]
        source: rustls::Error,
    },
    /// A server name (for SNI selection or a self-signed certificate) is not a valid DNS name or
    /// `*.` wildcard.
    #[error("invalid server name {name:?}")]
    InvalidServerName {
        /// The name as given.
        name: String,
    },
    /// The same SNI name was configured for two certificates.
    #[error("server name {name:?} is configured for more than one certificate")]
    DuplicateServerName {
        /// The normalised name.
        name: String,
    },
    /// An acceptor needs at least one certificate (a default or an SNI entry).
    #[error("no certificate configured")]
    NoCertificates,
    /// No CA certificate to verify peers against: a connector without
    /// [`add_ca`](crate::ConnectorConfig::add_ca) (and not explicitly insecure), or a
    /// [`ClientAuth`](crate::ClientAuth) with an empty CA list.
    #[error("no trusted CA certificate configured")]
    NoTrustAnchors,
    /// A CA certificate was rejected as a trust anchor.
    #[error("{origin}: certificate cannot be used as a trusted CA")]
    BadCa {
        /// The input.
        origin: Origin,
        /// What rustls reported.
        #[source]
        source: rustls::Error,
    },
    /// The shared ticket key file is shorter than [`MIN_TICKET_KEY_LEN`](crate::MIN_TICKET_KEY_LEN).
    #[error("ticket key file {origin} holds {len} bytes; at least {min} random bytes are required")]
    TicketKeyTooShort {
        /// The file.
        origin: Origin,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The shared ticket key file can be read or written by any user.
    #[error("ticket key file {origin} is accessible to other users (mode {mode:o}); chmod 600 it")]
    TicketKeyPermissions {
        /// The file.
        origin: Origin,
        /// The file's permission bits.
        mode: u32,
    },
    /// The ticket rotation period is shorter than one second or longer than `u32::MAX` seconds.
    #[error("ticket rotation period {0:?} is out of range (1 s to 136 years)")]
    TicketPeriod(Duration),
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
    /// Generating a self-signed certificate failed.
    #[error("cannot generate a self-signed certificate")]
    SelfSigned(#[source] rcgen::Error),
    /// Issuing a certificate ([`PrivateCa`](crate::PrivateCa)) failed.
    #[error("cannot issue the certificate")]
    Issue(#[source] rcgen::Error),
    /// A certificate's validity period does not fit in X.509 (it starts before year 1 or ends
    /// after year 9999).
    #[error("certificate validity period is out of range")]
    Validity,
    /// The CA certificate given to [`PrivateCa::from_pem`](crate::PrivateCa::from_pem) cannot
    /// be used to issue certificates.
    #[error("{origin}: cannot use this certificate as the issuing CA")]
    CaCertificate {
        /// The input.
        origin: Origin,
        /// What rcgen reported.
        #[source]
        source: rcgen::Error,
    },
    /// The CA key given to [`PrivateCa::from_pem`](crate::PrivateCa::from_pem) cannot sign
    /// certificates.
    #[error("{origin}: cannot use this key to sign certificates")]
    CaKey {
        /// The input.
        origin: Origin,
        /// What rcgen reported.
        #[source]
        source: rcgen::Error,
    },
    /// A CRL file holds no `X509 CRL` block (and is not DER either).
    #[error(
        "{origin} contains no certificate revocation list (expected a `-----BEGIN X509 CRL-----` block or DER)"
    )]
    NoCrl {
        /// The input.
        origin: Origin,
    },
    /// A CRL cannot be parsed (delta CRLs and indirect CRLs are not supported).
    #[error("{origin}: unusable certificate revocation list ({reason})")]
    BadCrl {
        /// The input.
        origin: Origin,
        /// What webpki reported.
        reason: String,
    },
    /// Building the client-certificate verifier failed.
    #[error("cannot build the client certificate verifier")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    /// rustls rejected the configuration (for example, protocol versions and cipher suites that
    /// have nothing in common).
    #[error("rustls rejected the configuration")]
    Rustls(#[source] rustls::Error),
}

/// A TLS handshake (server or client side) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The handshake did not finish within the deadline (which covers reading the
    /// `ClientHello`, waiting for a handshake slot and the handshake itself).
    #[error("tls handshake did not finish within {0:?}")]
    Timeout(Duration),
    /// The acceptor's cap on concurrent handshakes was reached and the acceptor is configured
    /// to refuse rather than wait ([`BusyPolicy::Refuse`](crate::BusyPolicy::Refuse)).
    #[error("too many tls handshakes in progress")]
    Busy,
    /// The peer violated the protocol, sent an alert, or failed verification.
    #[error("tls handshake failed")]
    Tls(#[source] rustls::Error),
    /// The server's certificate was refused (client side, [`TlsConnector`](crate::TlsConnector)):
    /// the message says which server, what is wrong and how to fix it.
    #[error(transparent)]
    Certificate(crate::CertificateRefused),
    /// The client certificate of a resumed session no longer passes the acceptor's policy
    /// ([`ClientAuth::Shared`](crate::ClientAuth::Shared)): revoked or expired since its
    /// first handshake, or the policy changed. (A full handshake with a refused certificate
    /// fails with [`HandshakeError::Tls`].)
    #[error(transparent)]
    ClientCertificate(crate::ClientCertRefused),
    /// The transport failed (including the peer closing the connection mid-handshake).
    #[error("i/o error during tls handshake")]
    Io(#[source] io::Error),
    /// The server name given to [`TlsConnector::connect`](crate::TlsConnector::connect) is
    /// neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
}

impl HandshakeError {
    /// Split an `io::Error` from tokio-rustls into a TLS error (when it carries a
    /// `rustls::Error`) or a transport error.
    pub(crate) fn from_io(err: io::Error) -> Self {
        let is_tls = err
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>());
        if !is_tls {
            return Self::Io(err);
        }
        let kind = err.kind();
        match err
            .into_inner()
            .map(|inner| inner.downcast::<rustls::Error>())
        {
            Some(Ok(tls)) => Self::Tls(*tls),
            // Unreachable given the check above; keep the kind rather than panic.
            _ => Self::Io(io::Error::from(kind)),
        }
    }
}
