//! The TLS baseline: the terminator most people write first with tokio-rustls. A rustls
//! `ServerConfig` with one certificate and rustls' defaults (TLS 1.2 and 1.3, a stateful
//! session cache of 256 sessions, no ticket keys), `TlsAcceptor::accept` per connection, then
//! `copy_bidirectional` to the upstream; no handshake deadline, no limits.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

/// The aws-lc-rs provider as rustls' default features configure it (its `prefer-post-quantum`
/// feature): `X25519MLKEM768`, `X25519`, `secp256r1`, `secp384r1`. The same provider and group
/// order as Ferry's (`ferry_tls::provider`), so the baseline differs only in what the proxy
/// adds. Named explicitly (never the process default).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    Arc::new(rustls::crypto::CryptoProvider {
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
            kx_group::SECP384R1,
        ],
        ..default_provider()
    })
}

/// The one key-exchange group a bench client offers, so every terminator negotiates the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kx {
    /// The hybrid post-quantum group.
    X25519mlkem768,
    /// Classical X25519.
    X25519,
}

impl Kx {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::X25519mlkem768 => "X25519MLKEM768",
            Self::X25519 => "X25519",
        }
    }

    /// [`provider`] offering only this group.
    pub(crate) fn client_provider(self) -> Arc<rustls::crypto::CryptoProvider> {
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let group = match self {
            Self::X25519mlkem768 => kx_group::X25519MLKEM768,
            Self::X25519 => kx_group::X25519,
        };
        Arc::new(rustls::crypto::CryptoProvider {
            kx_groups: vec![group],
            ..default_provider()
        })
    }
}

/// The certificate chain and the private key in the PEM files `cert` and `key`.
pub(crate) fn load_pem(
    cert: &Path,
    key: &Path,
) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(io::Error::other)?;
    Ok((certs, key))
}

/// A root store holding every certificate in the PEM file `path`.
pub(crate) fn load_roots(path: &Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(io::Error::other)? {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    Ok(roots)
}

/// Runs the naive terminator forever.
pub(crate) async fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    cert: &Path,
    key: &Path,
) -> io::Result<()> {
    let (certs, key) = load_pem(cert, key)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (client, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                let _ = up.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            }
        });
    }
}
