//! Certificate sources: PEM chain + key, or a generated self-signed certificate.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use crate::error::{Origin, TlsConfigError};
use crate::pem::{PemInput, load_certs, load_key};
use crate::self_signed::SelfSigned;

/// Where a certificate chain and its private key come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertSource {
    /// A PEM certificate chain (leaf first, then intermediates) and a PEM private key (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC; RSA, ECDSA P-256/P-384 or Ed25519). Both may be the same file.
    Pem {
        /// The chain.
        chain: PemInput,
        /// The key. Encrypted keys are rejected.
        key: PemInput,
    },
    /// A self-signed ECDSA P-256 certificate generated when the configuration is built, valid
    /// for these DNS names or IP addresses. For development only: clients cannot verify it
    /// unless they pin it, and building logs a warning.
    SelfSigned {
        /// Subject alternative names.
        names: Vec<String>,
    },
}

impl CertSource {
    /// A chain file and a key file (which may be the same path).
    pub fn files(chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self::Pem {
            chain: PemInput::file(chain),
            key: PemInput::file(key),
        }
    }

    /// A chain and a key as PEM text in memory.
    pub fn pem(chain: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        Self::Pem {
            chain: PemInput::memory("certificate chain", chain),
            key: PemInput::memory("private key", key),
        }
    }

    /// A generated self-signed certificate for `names` (development only; see
    /// [`CertSource::SelfSigned`]).
    pub fn self_signed<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::SelfSigned {
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Loads (or generates) the chain and key with the ring provider, the key checked against
    /// the leaf: what a client presents as its certificate (mTLS) with a rustls config built
    /// elsewhere (QUIC), e.g. through `rustls::sign::SingleCertAndKey`.
    ///
    /// # Errors
    ///
    /// The read, PEM and key errors of [`TlsConfigError`], naming the file.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, TlsConfigError> {
        load_arc(self, &crate::provider(crate::KeyExchange::PostQuantum))
    }

    /// Load (or generate) the chain and key, and check that the key matches the leaf.
    pub(crate) fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsConfigError> {
        match self {
            Self::Pem { chain, key } => {
                let certs = load_certs(chain)?;
                let key_der = load_key(key)?;
                certified(certs, key_der, provider, chain.origin(), key.origin())
            }
            Self::SelfSigned { names } => {
                let generated = SelfSigned::generate(names)?;
                tracing::warn!(
                    ?names,
                    "using a generated self-signed TLS certificate: clients cannot verify it; \
                     for development only"
                );
                certified(
                    vec![generated.cert_der().clone()],
                    generated.key_der(),
                    provider,
                    Origin::Memory("self-signed certificate"),
                    Origin::Memory("self-signed key"),
                )
            }
        }
    }
}

pub(crate) fn certified(
    certs: Vec<rustls_pki_types::CertificateDer<'static>>,
    key_der: rustls_pki_types::PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    cert_origin: Origin,
    key_origin: Origin,
) -> Result<CertifiedKey, TlsConfigError> {
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| TlsConfigError::UnsupportedKey {
            origin: key_origin.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(certs, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        // The provider could not tell (no public key available): rustls treats this as a
        // match too; the handshake's signature check is the backstop.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsConfigError::KeyMismatch {
            cert: cert_origin,
            key: key_origin,
        }),
        Err(source) => Err(TlsConfigError::BadCertificate {
            origin: cert_origin,
            source,
        }),
    }
}

/// [`CertSource::load`], in the `Arc` rustls wants.
pub(crate) fn load_arc(
    source: &CertSource,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsConfigError> {
    source.load(provider).map(Arc::new)
}
