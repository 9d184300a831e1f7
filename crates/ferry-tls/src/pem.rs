//! Reading PEM inputs: certificate chains, private keys and CA bundles.

use std::io::Read;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Origin, TlsConfigError};

/// Largest PEM file read (1 MiB): more than any real chain or CA bundle, small enough that a
/// wrong path (say `/dev/zero`) fails fast.
pub const MAX_PEM_FILE_LEN: u64 = 1024 * 1024;

/// A PEM document: a file read when the configuration is built (and again on every reload), or
/// bytes already in memory.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemInput {
    /// A file path.
    File(PathBuf),
    /// PEM text in memory; the label says what it is in error messages.
    Memory {
        /// Shown in errors as `in-memory <label>`.
        label: &'static str,
        /// The PEM text.
        pem: Vec<u8>,
    },
}

impl std::fmt::Debug for PemInput {
    // Never print in-memory PEM: it may hold a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Memory { label, pem } => f
                .debug_struct("Memory")
                .field("label", label)
                .field("len", &pem.len())
                .finish(),
        }
    }
}

impl PemInput {
    /// A PEM file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File(path.into())
    }

    /// PEM text in memory, labelled `label` in error messages.
    pub fn memory(label: &'static str, pem: impl Into<Vec<u8>>) -> Self {
        Self::Memory {
            label,
            pem: pem.into(),
        }
    }

    pub(crate) fn origin(&self) -> Origin {
        match self {
            Self::File(path) => Origin::File(path.clone()),
            Self::Memory { label, .. } => Origin::Memory(label),
        }
    }

    /// The PEM bytes (reads the file).
    pub(crate) fn bytes(&self) -> Result<Vec<u8>, TlsConfigError> {
        match self {
            Self::File(path) => read_bounded(path, MAX_PEM_FILE_LEN),
            Self::Memory { pem, .. } => Ok(pem.clone()),
        }
    }
}

/// Read at most `max` bytes of `path`; a longer file is an error.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, TlsConfigError> {
    let origin = || Origin::File(path.to_path_buf());
    let file = std::fs::File::open(path).map_err(|source| TlsConfigError::Read {
        origin: origin(),
        source,
    })?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| TlsConfigError::Read {
            origin: origin(),
            source,
        })?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > max {
        return Err(TlsConfigError::TooLarge {
            origin: origin(),
            max,
        });
    }
    Ok(buf)
}

/// The recognised sections of a PEM document: kind and DER bytes.
type Sections = Vec<(SectionKind, Vec<u8>)>;

/// The bytes of `input`, which must not be empty or only whitespace.
fn read_nonempty(input: &PemInput) -> Result<Vec<u8>, TlsConfigError> {
    let bytes = input.bytes()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsConfigError::EmptyPem {
            origin: input.origin(),
        });
    }
    Ok(bytes)
}

/// All recognised sections of `bytes` (unknown labels are skipped).
fn parse(input: &PemInput, bytes: &[u8]) -> Result<Sections, TlsConfigError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsConfigError::Pem {
            origin: input.origin(),
            source,
        })
}

/// The certificates of `input`, in file order (leaf first for a chain).
///
/// Non-certificate sections (such as a key in a combined file) are skipped.
pub(crate) fn load_certs(input: &PemInput) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let sections = parse(input, &read_nonempty(input)?)?;
    let certs: Vec<_> = sections
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            origin: input.origin(),
        });
    }
    Ok(certs)
}

/// The single private key of `input` (PKCS#8, PKCS#1 RSA or SEC1 EC).
///
/// Certificate sections are skipped, so a combined cert+key file works.
pub(crate) fn load_key(input: &PemInput) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let bytes = read_nonempty(input)?;
    let origin = || input.origin();
    // Encrypted keys are not sections the parser knows: PKCS#8 `ENCRYPTED PRIVATE KEY` is
    // skipped as unknown, and legacy OpenSSL encryption hides behind `Proc-Type` headers.
    if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || contains(&bytes, b"Proc-Type: 4,ENCRYPTED")
    {
        return Err(TlsConfigError::EncryptedKey { origin: origin() });
    }
    let sections = parse(input, &bytes)?;
    let mut keys = sections
        .into_iter()
        .filter_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der));
    let Some(key) = keys.next() else {
        return Err(TlsConfigError::NoPrivateKey { origin: origin() });
    };
    if keys.next().is_some() {
        return Err(TlsConfigError::MultiplePrivateKeys { origin: origin() });
    }
    Ok(key)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A root store with every certificate of every input.
pub(crate) fn load_roots(inputs: &[PemInput]) -> Result<rustls::RootCertStore, TlsConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    for input in inputs {
        for cert in load_certs(input)? {
            roots.add(cert).map_err(|source| TlsConfigError::BadCa {
                origin: input.origin(),
                source,
            })?;
        }
    }
    if roots.is_empty() {
        return Err(TlsConfigError::NoTrustAnchors);
    }
    Ok(roots)
}
