//! The shared gateway credential: the secret gateways present to each other's peer listener.

use std::fmt;
use std::path::Path;

/// Shortest accepted credential, bytes.
pub const MIN_CREDENTIAL_LEN: usize = 16;
/// Longest accepted credential, bytes (it travels base64-encoded in one header field).
pub const MAX_CREDENTIAL_LEN: usize = 512;

/// The username sent with the credential in `Proxy-Authorization: Basic` (informational; only
/// the password is checked).
pub const PEER_USERNAME: &str = "ferry-gateway";

/// A credential that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The file cannot be read.
    #[error("cannot read the gateway credential file")]
    Read(#[source] std::io::Error),
    /// Shorter than [`MIN_CREDENTIAL_LEN`] or longer than [`MAX_CREDENTIAL_LEN`] bytes after
    /// trimming, or holds a control character or a non-UTF-8 byte.
    #[error(
        "gateway credential must be {MIN_CREDENTIAL_LEN}-{MAX_CREDENTIAL_LEN} bytes of text without control characters"
    )]
    Invalid,
}

/// The secret every gateway of a cluster shares. `Debug` hides it; comparison is constant
/// time (SHA-256 digests of both sides, compared without an early exit).
#[derive(Clone)]
pub struct GatewayCredential {
    secret: String,
    digest: [u8; 32],
}

impl fmt::Debug for GatewayCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GatewayCredential(<redacted>)")
    }
}

impl GatewayCredential {
    /// A credential from its text (leading and trailing whitespace removed).
    ///
    /// # Errors
    ///
    /// [`CredentialError::Invalid`].
    pub fn new(secret: &str) -> Result<Self, CredentialError> {
        let secret = secret.trim();
        if secret.len() < MIN_CREDENTIAL_LEN
            || secret.len() > MAX_CREDENTIAL_LEN
            || secret.chars().any(char::is_control)
        {
            return Err(CredentialError::Invalid);
        }
        Ok(Self {
            secret: secret.to_owned(),
            digest: sha256(secret.as_bytes()),
        })
    }

    /// Reads a credential file (its whole content, whitespace around it trimmed).
    ///
    /// # Errors
    ///
    /// [`CredentialError::Read`] or [`CredentialError::Invalid`] (also for a file that is not
    /// UTF-8).
    pub fn from_file(path: &Path) -> Result<Self, CredentialError> {
        let bytes = std::fs::read(path).map_err(CredentialError::Read)?;
        if bytes.len() > MAX_CREDENTIAL_LEN * 2 {
            return Err(CredentialError::Invalid);
        }
        let text = String::from_utf8(bytes).map_err(|_not_utf8| CredentialError::Invalid)?;
        Self::new(&text)
    }

    /// The secret, to present to a peer.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// `true` when `presented` is the credential; time independent of where they differ.
    #[must_use]
    pub fn verify(&self, presented: &str) -> bool {
        // Digests of both sides: equal lengths, so nothing about the secret's length leaks.
        ferry_base::ct_eq(&self.digest, &sha256(presented.as_bytes()))
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_compares() {
        let c = GatewayCredential::new("  0123456789abcdef-secret\n").unwrap();
        assert!(c.verify("0123456789abcdef-secret"));
        assert!(!c.verify("0123456789abcdef-secreT"));
        assert!(!c.verify(""));
        assert!(GatewayCredential::new("short").is_err());
        assert!(GatewayCredential::new("0123456789abcdef\u{7}x").is_err());
        assert!(GatewayCredential::new(&"x".repeat(MAX_CREDENTIAL_LEN + 1)).is_err());
        assert_eq!(format!("{c:?}"), "GatewayCredential(<redacted>)");
    }
}
