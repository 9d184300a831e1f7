//! Generated self-signed certificates for development, tests and demos.

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::TlsConfigError;

/// A freshly generated self-signed ECDSA P-256 certificate and its private key.
///
/// For development, tests and demos (`ferry-proxy --tls-self-signed`): a client can only verify
/// it by trusting this exact certificate (for example with
/// [`ConnectorConfig::add_ca`](crate::ConnectorConfig::add_ca) and
/// [`SelfSigned::cert_pem`]). The validity period is rcgen's default (1975 to 4096), so no clock
/// is read.
///
/// ```
/// let generated = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"])?;
/// assert!(generated.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(generated.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
/// # Ok::<(), ferry_tls::TlsConfigError>(())
/// ```
#[derive(Clone)]
pub struct SelfSigned {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for SelfSigned {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// Generate a certificate valid for `names`: DNS names, or IP addresses written as text
    /// (`"127.0.0.1"`, `"::1"`), which become IP subject alternative names.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::InvalidServerName`] if `names` is empty or a name is not a valid DNS
    /// name or IP address; [`TlsConfigError::SelfSigned`] if generation fails.
    pub fn generate<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, TlsConfigError> {
        let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if names.is_empty() {
            return Err(TlsConfigError::InvalidServerName {
                name: String::new(),
            });
        }
        for name in &names {
            let valid = name.parse::<std::net::IpAddr>().is_ok()
                || rustls_pki_types::DnsName::try_from(name.as_str()).is_ok();
            if !valid {
                return Err(TlsConfigError::InvalidServerName { name: name.clone() });
            }
        }
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).map_err(TlsConfigError::SelfSigned)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: signing_key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: signing_key.serialize_der(),
        })
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate as DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The private key as PKCS#8 DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// This certificate as a [`CertSource`](crate::CertSource) (PEM in memory).
    pub fn to_source(&self) -> crate::CertSource {
        crate::CertSource::pem(self.cert_pem.clone(), self.key_pem.clone())
    }
}
