//! Reading certificate revocation lists: PEM (`-----BEGIN X509 CRL-----` blocks) or DER.

use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::{PemObject, SectionKind};

use crate::error::TlsConfigError;
use crate::pem::PemInput;

/// The CRLs of `input`: every `X509 CRL` block of a PEM file, or the whole file when it is DER
/// (starts with an ASN.1 `SEQUENCE` byte). The CRLs are parsed (and their signatures checked
/// against the trusted CAs) when the verifier is built.
pub(crate) fn load_crls(
    input: &PemInput,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsConfigError> {
    let bytes = input.bytes()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsConfigError::EmptyPem {
            origin: input.origin(),
        });
    }
    if bytes.first() == Some(&0x30) {
        check(input, &bytes)?;
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsConfigError::Pem {
            origin: input.origin(),
            source,
        })?;
    let crls: Vec<_> = sections
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Crl)
        .map(|(_, der)| CertificateRevocationListDer::from(der))
        .collect();
    for crl in &crls {
        check(input, crl.as_ref())?;
    }
    if crls.is_empty() {
        return Err(TlsConfigError::NoCrl {
            origin: input.origin(),
        });
    }
    Ok(crls)
}

/// Parses `der` as webpki will, so that a bad CRL is reported with its file.
fn check(input: &PemInput, der: &[u8]) -> Result<(), TlsConfigError> {
    webpki::OwnedCertRevocationList::from_der(der)
        .map(drop)
        .map_err(|e| TlsConfigError::BadCrl {
            origin: input.origin(),
            reason: format!("{e:?}"),
        })
}
