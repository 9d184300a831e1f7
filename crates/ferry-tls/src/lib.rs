//! TLS for Ferry's proxies: a rustls acceptor and connector with the settings a TLS-terminating
//! proxy needs and safe defaults.
//!
//! # What it does
//!
//! - **Certificates** from PEM files (chains; RSA, ECDSA P-256/P-384 and Ed25519 keys; PKCS#8,
//!   PKCS#1 and SEC1) checked at load time (the key must match the leaf), or a generated
//!   self-signed certificate for development ([`CertSource::SelfSigned`], logged as a warning;
//!   [`SelfSigned`] for tests and demos). Errors name the file and say what is wrong
//!   ([`TlsConfigError`]); encrypted keys are refused with a hint.
//! - **SNI**: several certificates selected by exact name or `*.` wildcard, plus an optional
//!   default ([`AcceptorConfig::sni_cert`]). **ALPN** and a **minimum version** (TLS 1.2 by
//!   default, TLS 1.3 on request).
//! - **Session resumption** on by default: a stateful cache of 20 000 sessions and TLS 1.3 / 1.2
//!   tickets with per-process rotating keys, or keys shared by several instances through a key
//!   file ([`Tickets::SharedKeyFile`]; format and rotation in [`tickets`]).
//! - **Hot reload** ([`TlsAcceptor::reload`]): the new configuration is validated completely
//!   before it replaces the old one; live connections are untouched; sessions still resume.
//! - **Handshake limits** ([`HandshakeLimits`]): one deadline for the whole handshake (10 s) and
//!   a cap on concurrent cryptographic handshakes (1024) that either queues or refuses
//!   ([`BusyPolicy`]), so a handshake flood cannot take the CPU from established traffic.
//! - **Client side** ([`TlsConnector`]): verification always on against the CAs you give,
//!   client certificates (mTLS), server-name override, ALPN; skipping verification needs the
//!   explicitly named [`ConnectorConfig::insecure_skip_verify`]. Optional client-certificate
//!   verification on the acceptor ([`ClientAuth`]).
//! - **Client certificates (mTLS) with revocation**: a [`ClientCertPolicy`] (CAs, CRL files in
//!   PEM or DER, [`RevokedSerials`] written as `openssl` prints them, required or optional)
//!   built into a [`ClientCertChecker`]; a [`SharedClientVerifier`] whose policy is swapped at
//!   reload without rebuilding the TLS configuration ([`ClientAuth::Shared`]; a resumed
//!   session's certificate is checked again with the policy in force); who a certificate names
//!   ([`CertIdentity`], the agent-name rule of [`CertIdentity::agent_name`]: the one DNS
//!   subjectAltName, never the common name); refusals in plain words ([`ClientCertRefused`]).
//! - **Certificate problems in plain words**: a refused server certificate is a
//!   [`HandshakeError::Certificate`] whose message says which server, what is wrong (a CA
//!   certificate as the leaf, a name not covered, expired, not yet valid, an unknown issuer)
//!   and how to fix it ([`CertificateRefused`]); [`RecordingVerifier`] does the same for QUIC;
//!   [`check_server_certificate`] finds what clients would refuse in a server's own
//!   certificate.
//! - **A private CA** ([`PrivateCa`]): ECDSA P-256 CA, server and client certificates and
//!   CRLs with rcgen (what `ferry-gateway cert` writes).
//! - **Typed errors**: [`HandshakeError`] separates timeout, busy, TLS (`rustls::Error` as a
//!   source, not hidden in an `io::Error`) and transport failures.
//!
//! - **Post-quantum key exchange** on by default: the hybrid `X25519MLKEM768` group is
//!   preferred, with `X25519`, `secp256r1` and `secp384r1` still offered
//!   ([`KeyExchange`], [`AcceptorConfig::key_exchange`], [`ConnectorConfig::key_exchange`]).
//!
//! Crypto is rustls with the **aws-lc-rs** provider, always named explicitly through
//! [`provider()`] (never the process-default provider); the [`provider`](mod@provider) module
//! has the group order and why aws-lc-rs. 0-RTT (early data) is not enabled.
//!
//! # What it does not do
//!
//! It does not listen, accept TCP connections, limit connection counts, watch files or handle
//! signals (the caller decides when to [`reload`](TlsAcceptor::reload)), bundle public root CAs,
//! check OCSP or the revocation of server certificates (CRLs and serial lists apply to client
//! certificates only), load keys from hardware or encrypted files, or export metrics
//! (the [`HandshakeError`] variants and [`TlsAcceptor::handshakes_in_flight`] are the hooks).
//!
//! # Example
//!
//! ```no_run
//! use ferry_tls::{AcceptorConfig, CertSource, TlsAcceptor};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut config = AcceptorConfig::new(CertSource::files("cert.pem", "key.pem"));
//!     config.alpn(["h2", "http/1.1"]);
//!     let acceptor = TlsAcceptor::new(&config)?;
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         let acceptor = acceptor.clone();
//!         tokio::spawn(async move {
//!             match acceptor.accept(tcp).await {
//!                 Ok((_stream, info)) => {
//!                     println!("{} {:?} resumed={}", info.version, info.sni, info.resumed)
//!                 }
//!                 Err(error) => eprintln!("handshake failed: {error}"),
//!             }
//!         });
//!     }
//! }
//! ```
//!
//! A complete round trip (compiled and run as a test):
//!
//! ```
//! use ferry_tls::{AcceptorConfig, ConnectorConfig, PemInput, SelfSigned, TlsAcceptor, TlsConnector};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = SelfSigned::generate(["localhost"])?;
//! let acceptor = TlsAcceptor::new(&AcceptorConfig::new(cert.to_source()))?;
//! let mut client = ConnectorConfig::new();
//! client.add_ca(PemInput::memory("test CA", cert.cert_pem()));
//! let connector = TlsConnector::new(&client)?;
//!
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//! let (server, client) = tokio::join!(
//!     acceptor.accept(server_io),
//!     connector.connect("localhost", client_io),
//! );
//! let (_, server_info) = server?;
//! let (_, client_info) = client?;
//! assert_eq!(server_info.sni.as_deref(), Some("localhost"));
//! assert_eq!(server_info.version, client_info.version);
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod acceptor;
mod cert;
mod client_cert;
mod connector;
mod error;
mod explain;
mod info;
mod insecure;
mod issue;
mod pem;
pub mod provider;
mod self_signed;
mod sni;
pub mod tickets;

pub use acceptor::config::{
    AcceptorConfig, BusyPolicy, ClientAuth, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES,
    DEFAULT_SESSION_CACHE, HandshakeLimits,
};
pub use acceptor::{ServerTlsStream, TlsAcceptor};
pub use cert::CertSource;
pub use client_cert::{
    CertIdentity, ClientCertChecker, ClientCertFault, ClientCertPolicy, ClientCertRefused,
    IdentityError, MAX_SERIAL_LEN, RevokedSerials, Serial, SerialError, SharedClientVerifier,
};
pub use connector::{ClientTlsStream, ConnectorConfig, DEFAULT_CLIENT_SESSIONS, TlsConnector};
pub use error::{HandshakeError, Origin, TlsConfigError};
pub use explain::{
    CertificateFault, CertificateRefused, RecordingVerifier, ServerCertWarning,
    check_server_certificate,
};
pub use info::{HandshakeInfo, TlsVersion};
pub use issue::{DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, IssuedCert, PrivateCa};
pub use pem::{MAX_PEM_FILE_LEN, PemInput};
pub use provider::{KeyExchange, provider};
pub use self_signed::SelfSigned;
pub use tickets::{DEFAULT_TICKET_ROTATION, MIN_TICKET_KEY_LEN, SharedTicketer, Tickets};

/// The rustls version this crate is built on, for [`TlsAcceptor::from_rustls`] and
/// [`TlsConnector::from_rustls`].
pub use rustls;

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
