//! A private CA and the server certificates it issues (what `ferry-gateway cert` writes).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SecureRandom as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;

use crate::client_cert::Serial;
use crate::error::TlsConfigError;
use crate::pem::{PemInput, load_certs, load_key};
use crate::provider::KeyExchange;

/// Validity of a CA made by [`PrivateCa::generate`] when the caller has no opinion: 3650 days
/// (10 years).
pub const DEFAULT_CA_VALIDITY: Duration = Duration::from_secs(3650 * 86_400);

/// Validity of a server certificate made by [`PrivateCa::issue_server`] when the caller has no
/// opinion: 825 days (the longest public CAs were allowed to issue until 2020, and what Apple
/// platforms still accept for private CAs).
pub const DEFAULT_SERVER_VALIDITY: Duration = Duration::from_secs(825 * 86_400);

/// A private certificate authority (ECDSA P-256) that issues server certificates.
///
/// The CA certificate is what clients trust (`ferry-agent --tls-ca`, `cluster.peer_ca`,
/// `ferry-hop --tls-ca`); the servers present certificates it issued
/// ([`issue_server`](Self::issue_server)). The CA is constrained to issue end-entity
/// certificates only (path length 0).
///
/// ```
/// use std::time::SystemTime;
/// use ferry_tls::{DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, PrivateCa};
///
/// let now = SystemTime::now();
/// let ca = PrivateCa::generate("Example CA", now, DEFAULT_CA_VALIDITY)?;
/// let server = ca.issue_server(["gw.example.com", "127.0.0.1"], now, DEFAULT_SERVER_VALIDITY)?;
/// assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(server.chain_pem().ends_with(ca.cert_pem()));
/// # Ok::<(), ferry_tls::TlsConfigError>(())
/// ```
pub struct PrivateCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for PrivateCa {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateCa")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl PrivateCa {
    /// A new CA named `common_name`, valid from `not_before` for `validity` (see
    /// [`DEFAULT_CA_VALIDITY`]).
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Issue`] when rcgen cannot build the certificate (for example a time
    /// out of X.509's range), [`TlsConfigError::Random`] when the system's generator fails.
    pub fn generate(
        common_name: &str,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<Self, TlsConfigError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsConfigError::Issue)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity_period(&mut params, not_before, validity)?;
        params.serial_number = Some(serial()?);
        let cert = params.self_signed(&key).map_err(TlsConfigError::Issue)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            key_pem,
        })
    }

    /// An existing CA: its certificate (the first `CERTIFICATE` block of `cert`) and its
    /// private key (PKCS#8, or SEC1 for EC keys; ECDSA P-256/P-384, Ed25519 or RSA), for
    /// issuing more certificates with a CA clients already trust.
    ///
    /// # Errors
    ///
    /// The read and PEM errors of [`TlsConfigError`] naming the file,
    /// [`TlsConfigError::KeyMismatch`] when the key is not the certificate's,
    /// [`TlsConfigError::UnsupportedKey`] or [`TlsConfigError::BadCertificate`].
    pub fn from_pem(cert: &PemInput, key: &PemInput) -> Result<Self, TlsConfigError> {
        let certs = load_certs(cert)?;
        let first = certs
            .into_iter()
            .next()
            .ok_or(TlsConfigError::NoCertificate {
                origin: cert.origin(),
            })?;
        let key_der = load_key(key)?;
        let provider = crate::provider(KeyExchange::default());
        crate::cert::certified(
            vec![first.clone()],
            key_der.clone_key(),
            &provider,
            cert.origin(),
            key.origin(),
        )?;
        let key_pair = KeyPair::try_from(&key_der).map_err(|source| TlsConfigError::CaKey {
            origin: key.origin(),
            source,
        })?;
        let issuer = Issuer::from_ca_cert_der(&first, key_pair).map_err(|source| {
            TlsConfigError::CaCertificate {
                origin: cert.origin(),
                source,
            }
        })?;
        let cert_pem = pem_of(&first);
        let key_pem = issuer.key().serialize_pem();
        Ok(Self {
            issuer,
            cert_pem,
            key_pem,
        })
    }

    /// The CA certificate as PEM (what clients trust).
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key as PKCS#8 PEM (keep it secret; needed to issue more certificates).
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A server certificate for `names` (DNS names, or IP addresses written as text, which
    /// become IP subject alternative names), valid from `not_before` for `validity` (see
    /// [`DEFAULT_SERVER_VALIDITY`]). The certificate has a new ECDSA P-256 key, the names as
    /// subject alternative names (the first one as common name too), `CA:FALSE`, key usage
    /// `digitalSignature` and extended key usage `serverAuth`.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::InvalidServerName`] when `names` is empty or a name is neither a DNS
    /// name nor an IP address; [`TlsConfigError::Issue`] or [`TlsConfigError::Random`] as for
    /// [`generate`](Self::generate).
    pub fn issue_server<S: AsRef<str>>(
        &self,
        names: impl IntoIterator<Item = S>,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<IssuedCert, TlsConfigError> {
        let mut params = CertificateParams::default();
        for name in names {
            let name = name.as_ref();
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) if rustls_pki_types::DnsName::try_from(name).is_ok() => {
                    SanType::DnsName(name.try_into().map_err(|_ia5| {
                        TlsConfigError::InvalidServerName {
                            name: name.to_owned(),
                        }
                    })?)
                }
                Err(_) => {
                    return Err(TlsConfigError::InvalidServerName {
                        name: name.to_owned(),
                    });
                }
            };
            if params.subject_alt_names.is_empty() {
                params.distinguished_name.push(DnType::CommonName, name);
            }
            params.subject_alt_names.push(san);
        }
        if params.subject_alt_names.is_empty() {
            return Err(TlsConfigError::InvalidServerName {
                name: String::new(),
            });
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity_period(&mut params, not_before, validity)?;
        self.sign(params, not_before, validity)
    }

    /// A client certificate for the agent (or client) `name`: a new ECDSA P-256 key, `name`
    /// as its only `dNSName` subject alternative name (what the gateway matches against the
    /// agent id, see [`CertIdentity::agent_name`](crate::CertIdentity::agent_name)) and as
    /// common name, `CA:FALSE`, key usage `digitalSignature`, extended key usage
    /// `clientAuth`, valid from `not_before` for `validity` (see
    /// [`DEFAULT_SERVER_VALIDITY`]).
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::InvalidServerName`] when `name` is empty or not ASCII (it must fit an
    /// X.509 `IA5String`); [`TlsConfigError::Issue`] or [`TlsConfigError::Random`] as for
    /// [`generate`](Self::generate).
    pub fn issue_client(
        &self,
        name: &str,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<IssuedCert, TlsConfigError> {
        let invalid = || TlsConfigError::InvalidServerName {
            name: name.to_owned(),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = vec![SanType::DnsName(
            name.try_into().map_err(|_not_ia5| invalid())?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, not_before, validity)
    }

    /// Signs an end-entity certificate with a new key: `CA:FALSE`, `digitalSignature`, the
    /// authority key identifier, a random serial.
    fn sign(
        &self,
        mut params: CertificateParams,
        not_before: SystemTime,
        validity: Duration,
    ) -> Result<IssuedCert, TlsConfigError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity_period(&mut params, not_before, validity)?;
        let serial = serial()?;
        params.serial_number = Some(serial.clone());
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsConfigError::Issue)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(TlsConfigError::Issue)?;
        Ok(IssuedCert {
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
            leaf_der: cert.der().clone(),
            serial: Serial::from_bytes(serial.as_ref()).map_err(|_long| TlsConfigError::Random)?,
        })
    }

    /// A certificate revocation list signed by this CA, as PEM, listing `revoked`, issued at
    /// `this_update` and valid for `validity` (its `nextUpdate`), with CRL number
    /// `number` (increase it with every new list).
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Issue`] when rcgen cannot build it; [`TlsConfigError::Validity`]
    /// for times out of range.
    pub fn crl_pem(
        &self,
        revoked: &[Serial],
        this_update: SystemTime,
        validity: Duration,
        number: u64,
    ) -> Result<String, TlsConfigError> {
        let out_of_range = |_range| TlsConfigError::Validity;
        let start = unix_seconds(this_update);
        let end = i64::try_from(validity.as_secs())
            .ok()
            .and_then(|v| start.checked_add(v))
            .ok_or(TlsConfigError::Validity)?;
        let this_update = time::OffsetDateTime::from_unix_timestamp(start).map_err(out_of_range)?;
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update: time::OffsetDateTime::from_unix_timestamp(end).map_err(out_of_range)?,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(s.as_bytes()),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(TlsConfigError::Issue)?;
        crl.pem().map_err(TlsConfigError::Issue)
    }
}

/// A server or client certificate issued by a [`PrivateCa`], with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    chain_pem: String,
    key_pem: String,
    leaf_der: CertificateDer<'static>,
    serial: Serial,
}

impl std::fmt::Debug for IssuedCert {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("chain_pem", &self.chain_pem)
            .finish_non_exhaustive()
    }
}

impl IssuedCert {
    /// The chain as PEM: the server certificate, then the CA certificate.
    #[must_use]
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The server's private key as PKCS#8 PEM.
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate as DER.
    #[must_use]
    pub fn leaf_der(&self) -> &CertificateDer<'static> {
        &self.leaf_der
    }

    /// The certificate's serial number (to revoke it).
    #[must_use]
    pub fn serial(&self) -> &Serial {
        &self.serial
    }

    /// This certificate and key as a [`CertSource`](crate::CertSource) (PEM in memory).
    #[must_use]
    pub fn to_source(&self) -> crate::CertSource {
        crate::CertSource::pem(self.chain_pem.clone(), self.key_pem.clone())
    }
}

fn validity_period(
    params: &mut CertificateParams,
    not_before: SystemTime,
    validity: Duration,
) -> Result<(), TlsConfigError> {
    let out_of_range = || TlsConfigError::Validity;
    let start = unix_seconds(not_before);
    let end = i64::try_from(validity.as_secs())
        .ok()
        .and_then(|v| start.checked_add(v))
        .ok_or_else(out_of_range)?;
    params.not_before =
        time::OffsetDateTime::from_unix_timestamp(start).map_err(|_range| out_of_range())?;
    params.not_after =
        time::OffsetDateTime::from_unix_timestamp(end).map_err(|_range| out_of_range())?;
    Ok(())
}

/// Seconds since the epoch, negative before it.
fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// A random positive 16-byte serial number.
fn serial() -> Result<SerialNumber, TlsConfigError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_unspecified| TlsConfigError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// `cert` as PEM, written as rcgen writes it (64-column base64, LF line ends).
fn pem_of(cert: &CertificateDer<'_>) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", cert.as_ref()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustls_pki_types::pem::PemObject as _;

    use super::*;

    #[test]
    fn pem_encoding_reads_back_for_every_padding() {
        for len in [1usize, 2, 3, 47, 48, 49, 100] {
            let der: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let pem = pem_of(&CertificateDer::from(der.clone()));
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &der[..], "length {len}");
        }
    }
}
