//! An agent's credential (and TLS client certificates) kept in memory for
//! [`Gateway::revalidate`](super::Gateway::revalidate): never shown by `Debug`, the secret
//! overwritten with zeros when the last holder drops it.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// The credential a connected agent authenticated with. Cheap to clone (shared); the bytes
/// are overwritten when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct HeldCredential(Arc<Bytes>);

struct Bytes(Vec<u8>, Vec<CertificateDer<'static>>);

impl Drop for Bytes {
    fn drop(&mut self) {
        for b in &mut self.0 {
            *b = 0;
        }
        // Keeps the writes above from being optimised away as dead stores.
        std::hint::black_box(&self.0);
    }
}

impl HeldCredential {
    /// `credential` and the client certificate chain the agent presented (end-entity
    /// first; empty for none).
    pub(crate) fn new(credential: &str, certificates: Vec<CertificateDer<'static>>) -> Self {
        Self(Arc::new(Bytes(
            credential.as_bytes().to_vec(),
            certificates,
        )))
    }

    /// The agent's TLS client certificate chain (public data; empty for none).
    pub(crate) fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.0.1
    }

    /// The credential as text (it was visible ASCII on the wire, see
    /// [`Credential`](crate::Credential)); empty if it somehow is not UTF-8.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0.0).unwrap_or("")
    }
}

impl HeldCredential {
    /// Whether `other` holds the same credential and certificate chain (the verifier's
    /// verdict is then the same).
    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.0.0 == other.0.0 && self.0.1 == other.0.1)
    }
}

impl fmt::Debug for HeldCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeldCredential(<{} bytes>)", self.0.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let c = HeldCredential::new("fy1_secret", Vec::new());
        assert_eq!(format!("{c:?}"), "HeldCredential(<10 bytes>)");
        assert_eq!(c.as_str(), "fy1_secret");
    }

    #[test]
    fn same_compares_the_credential_and_the_certificates() {
        let cert = CertificateDer::from(vec![1, 2, 3]);
        let a = HeldCredential::new("fy1_secret", vec![cert.clone()]);
        assert!(a.same(&a.clone()));
        assert!(a.same(&HeldCredential::new("fy1_secret", vec![cert.clone()])));
        assert!(!a.same(&HeldCredential::new("fy1_other", vec![cert])));
        assert!(!a.same(&HeldCredential::new("fy1_secret", Vec::new())));
    }
}
