//! Certificate problems in plain words: what rustls refused and why ([`CertificateFault`]),
//! told with which peer and which CA file ([`CertificateRefused`]); a verifier that remembers
//! its refusals for transports that turn errors into text ([`RecordingVerifier`]); and the
//! checks a server runs on its own certificate at start ([`check_server_certificate`]).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::cert::CertSource;
use crate::error::TlsConfigError;
use crate::provider::KeyExchange;

/// What is wrong with a certificate, as far as a TLS client is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateFault {
    /// The certificate is a CA certificate (`basicConstraints CA:TRUE`) presented as the
    /// server's own certificate (webpki's `CaUsedAsEndEntity`; what `openssl req -x509` makes
    /// by default).
    CaCertificate,
    /// The certificate does not cover the name the client asked for.
    NameMismatch {
        /// The name (or IP address) the client asked for.
        expected: String,
        /// The DNS names and IP addresses the certificate covers (empty when unknown or when
        /// it has no subject alternative name).
        presented: Vec<String>,
    },
    /// The certificate has no subject alternative name, so it is valid for no name at all
    /// (clients ignore the common name).
    NoSubjectAltName,
    /// The certificate's validity ended.
    Expired {
        /// Its `notAfter`, in seconds since the Unix epoch, when known.
        not_after: Option<u64>,
    },
    /// The certificate's validity has not started yet.
    NotYetValid {
        /// Its `notBefore`, in seconds since the Unix epoch, when known.
        not_before: Option<u64>,
    },
    /// The certificate is not signed by any CA the client trusts (no trusted CA has its issuer's
    /// name, or one has but its key did not sign it).
    UnknownIssuer,
    /// The certificate's extended key usage does not allow TLS servers (`serverAuth`).
    NotForServers,
}

impl CertificateFault {
    /// The fault a rustls error reports, for the certificate errors this type knows;
    /// `None` for any other error.
    #[must_use]
    pub fn from_tls(error: &rustls::Error) -> Option<Self> {
        let rustls::Error::InvalidCertificate(error) = error else {
            return None;
        };
        Some(match error {
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                Self::CaCertificate
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                let presented: Vec<String> = presented.iter().filter_map(|n| san(n)).collect();
                let expected = expected.to_str().into_owned();
                Self::NameMismatch {
                    expected,
                    presented,
                }
            }
            CertificateError::NotValidForName => Self::NameMismatch {
                expected: String::new(),
                presented: Vec::new(),
            },
            CertificateError::Expired => Self::Expired { not_after: None },
            CertificateError::ExpiredContext { not_after, .. } => Self::Expired {
                not_after: Some(not_after.as_secs()),
            },
            CertificateError::NotValidYet => Self::NotYetValid { not_before: None },
            CertificateError::NotValidYetContext { not_before, .. } => Self::NotYetValid {
                not_before: Some(not_before.as_secs()),
            },
            // A CA of the same name but another key (two private CAs made alike) is found as
            // the issuer, and its signature does not verify: not signed by the trusted CA.
            CertificateError::UnknownIssuer | CertificateError::BadSignature => Self::UnknownIssuer,
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                Self::NotForServers
            }
            _ => return None,
        })
    }
}

/// A name as webpki lists it (`DnsName("a.example")`, `IpAddress(10.0.0.1)`), bare; `None` for
/// other kinds of names.
fn san(listed: &str) -> Option<String> {
    if let Some(dns) = listed
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
    {
        return Some(dns.to_owned());
    }
    listed
        .strip_prefix("IpAddress(")
        .and_then(|s| s.strip_suffix(')'))
        .map(str::to_owned)
}

/// A peer's certificate was refused: which peer, what is wrong, and how to fix it, in one
/// readable sentence (the [`Display`](fmt::Display) text).
///
/// ```
/// use ferry_tls::{CertificateFault, CertificateRefused};
///
/// let refused = CertificateRefused::new(
///     "the gateway at 192.0.2.1:4433",
///     Some("--tls-ca ca.pem".to_owned()),
///     CertificateFault::UnknownIssuer,
/// );
/// assert!(refused.to_string().contains("is not signed by the CA in --tls-ca ca.pem"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateRefused {
    /// Who presented the certificate, e.g. `the gateway at 192.0.2.1:4433`.
    pub peer: String,
    /// Where the trusted CAs came from, e.g. `--tls-ca /etc/ferry/ca.pem`, when known.
    pub trusted: Option<String>,
    /// What is wrong.
    pub fault: CertificateFault,
}

impl CertificateRefused {
    /// A refusal of `peer`'s certificate for `fault`; `trusted` says where the CAs came from.
    pub fn new(peer: impl Into<String>, trusted: Option<String>, fault: CertificateFault) -> Self {
        Self {
            peer: peer.into(),
            trusted,
            fault,
        }
    }

    /// The same refusal, told about `peer` (e.g. `the next hop 192.0.2.7:7000`).
    #[must_use]
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }
}

impl fmt::Display for CertificateRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = &self.peer;
        match &self.fault {
            CertificateFault::CaCertificate => write!(
                f,
                "{peer} presents a CA certificate (basicConstraints CA:TRUE) as its own \
                 certificate, which TLS clients refuse; give it a server certificate signed by \
                 a CA instead, e.g. made with `ferry-gateway cert`"
            ),
            CertificateFault::NameMismatch {
                expected,
                presented,
            } => {
                let flag = if expected.parse::<std::net::IpAddr>().is_ok() {
                    "--ip"
                } else {
                    "--name"
                };
                write!(
                    f,
                    "the certificate of {peer} is not valid for {expected:?} ("
                )?;
                if presented.is_empty() {
                    f.write_str("it names no host")?;
                } else {
                    write!(f, "it is valid for {}", presented.join(", "))?;
                }
                write!(
                    f,
                    "); connect with a name it is valid for (--server-name), or reissue it \
                     for that name, e.g. `ferry-gateway cert {flag} {expected}`"
                )
            }
            CertificateFault::NoSubjectAltName => write!(
                f,
                "the certificate of {peer} has no subjectAltName, so it is valid for no name \
                 (clients ignore the common name); reissue it with the names clients use, \
                 e.g. `ferry-gateway cert --name NAME --ip ADDRESS`"
            ),
            CertificateFault::Expired { not_after } => {
                write!(f, "the certificate of {peer} expired")?;
                if let Some(at) = not_after {
                    write!(f, " on {}", utc(*at))?;
                }
                write!(
                    f,
                    "; issue a new one (e.g. `ferry-gateway cert --ca-cert ca.pem --ca-key \
                     ca.key ...`), or check this host's clock"
                )
            }
            CertificateFault::NotYetValid { not_before } => {
                write!(f, "the certificate of {peer} is not valid yet")?;
                if let Some(at) = not_before {
                    write!(f, " (not before {})", utc(*at))?;
                }
                write!(
                    f,
                    "; check the clocks of this host and of the host that made the certificate"
                )
            }
            CertificateFault::UnknownIssuer => {
                write!(f, "the certificate of {peer} is not signed by ")?;
                match &self.trusted {
                    Some(trusted) => write!(f, "the CA in {trusted}")?,
                    None => f.write_str("a trusted CA")?,
                }
                write!(
                    f,
                    "; trust the CA that issued it (the ca.pem `ferry-gateway cert` wrote next \
                     to it), or reissue it with the trusted CA (`ferry-gateway cert --ca-cert \
                     ca.pem --ca-key ca.key ...`)"
                )
            }
            CertificateFault::NotForServers => write!(
                f,
                "the certificate of {peer} is not meant for TLS servers (its extended key \
                 usage lacks serverAuth); reissue it, e.g. with `ferry-gateway cert`"
            ),
        }
    }
}

impl std::error::Error for CertificateRefused {}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A server certificate verifier (webpki, against the given CAs, as rustls' default) that
/// remembers the last certificate it refused, for transports that pass rustls errors on as
/// text only (quinn): after a failed handshake, [`take_refusal`](Self::take_refusal) says
/// why. Meant for one handshake at a time.
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    refusal: Mutex<Option<CertificateFault>>,
}

impl RecordingVerifier {
    /// A verifier trusting `roots`, with [`crate::provider()`]'s signature algorithms.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::NoTrustAnchors`] when `roots` is empty.
    pub fn new(roots: Arc<RootCertStore>) -> Result<Self, TlsConfigError> {
        let provider = crate::provider(KeyExchange::default());
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|_no_roots| TlsConfigError::NoTrustAnchors)?;
        Ok(Self {
            inner,
            refusal: Mutex::new(None),
        })
    }

    /// Why the last refused certificate was refused (and forget it); `None` when no
    /// certificate was refused since the last call, or for a fault this crate does not name.
    pub fn take_refusal(&self) -> Option<CertificateFault> {
        self.refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(error) = &result {
            *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) =
                CertificateFault::from_tls(error);
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A problem with a server's own certificate that makes clients refuse it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCertWarning {
    /// Where the certificate comes from (its file).
    pub cert: String,
    /// What is wrong: [`CertificateFault::CaCertificate`], [`CertificateFault::Expired`],
    /// [`CertificateFault::NotYetValid`], [`CertificateFault::NoSubjectAltName`] or
    /// [`CertificateFault::NotForServers`].
    pub fault: CertificateFault,
}

impl fmt::Display for ServerCertWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cert = &self.cert;
        match &self.fault {
            CertificateFault::CaCertificate => write!(
                f,
                "the certificate in {cert} is a CA certificate (basicConstraints CA:TRUE): \
                 clients refuse it as a server certificate; make a server certificate and a CA \
                 for the clients, e.g. `ferry-gateway cert --name NAME --out-dir DIR`"
            ),
            CertificateFault::Expired { not_after } => {
                write!(f, "the certificate in {cert} expired")?;
                if let Some(at) = not_after {
                    write!(f, " on {}", utc(*at))?;
                }
                write!(
                    f,
                    ": clients refuse it; issue a new one, e.g. `ferry-gateway cert --ca-cert \
                     ca.pem --ca-key ca.key --name NAME --out-dir DIR`"
                )
            }
            CertificateFault::NotYetValid { not_before } => {
                write!(f, "the certificate in {cert} is not valid yet")?;
                if let Some(at) = not_before {
                    write!(f, " (not before {})", utc(*at))?;
                }
                write!(f, ": clients refuse it until then; check this host's clock")
            }
            CertificateFault::NoSubjectAltName => write!(
                f,
                "the certificate in {cert} has no subjectAltName: clients refuse it for every \
                 name; make one with the names clients use, e.g. `ferry-gateway cert --name \
                 NAME --ip ADDRESS --out-dir DIR`"
            ),
            CertificateFault::NotForServers => write!(
                f,
                "the certificate in {cert} is not meant for TLS servers (its extended key \
                 usage lacks serverAuth): clients refuse it; make a server certificate, e.g. \
                 `ferry-gateway cert --name NAME --out-dir DIR`"
            ),
            other => write!(f, "the certificate in {cert}: {other:?}"),
        }
    }
}

/// What would make clients refuse the certificate of `source` at `now`, whoever they trust:
/// a CA certificate as the leaf, a validity that ended or has not started, no subject
/// alternative name, an extended key usage without `serverAuth`. Empty when none of these
/// applies, for a generated self-signed certificate, and when the certificate cannot be read
/// or parsed (loading it reports that).
#[must_use]
pub fn check_server_certificate(source: &CertSource, now: UnixTime) -> Vec<ServerCertWarning> {
    let CertSource::Pem { chain, .. } = source else {
        return Vec::new();
    };
    let Ok(certs) = crate::pem::load_certs(chain) else {
        return Vec::new();
    };
    let cert = chain.origin().to_string();
    check_chain(&certs, now)
        .into_iter()
        .map(|fault| ServerCertWarning {
            cert: cert.clone(),
            fault,
        })
        .collect()
}

fn check_chain(certs: &[CertificateDer<'static>], now: UnixTime) -> Vec<CertificateFault> {
    let Some((leaf, intermediates)) = certs.split_first() else {
        return Vec::new();
    };
    let Ok(parsed) = ParsedCertificate::try_from(leaf) else {
        return Vec::new();
    };
    let algorithms = crate::provider(KeyExchange::default())
        .signature_verification_algorithms
        .all;
    let roots = RootCertStore::empty();
    let mut faults = Vec::new();
    let mut at = now;
    // The checks that do not depend on the issuer come first in webpki: the time, then
    // basicConstraints and the extended key usage. When the time is wrong, look again at a
    // time inside the validity period for the others.
    for _ in 0..2 {
        let result = verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            intermediates,
            at,
            algorithms,
        );
        let Err(error) = result else { break };
        let fault = CertificateFault::from_tls(&error);
        match fault {
            Some(CertificateFault::Expired {
                not_after: Some(end),
            }) if faults.is_empty() => {
                faults.push(CertificateFault::Expired {
                    not_after: Some(end),
                });
                at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(end));
            }
            Some(CertificateFault::NotYetValid {
                not_before: Some(start),
            }) if faults.is_empty() => {
                faults.push(CertificateFault::NotYetValid {
                    not_before: Some(start),
                });
                at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(start));
            }
            Some(
                fault @ (CertificateFault::CaCertificate
                | CertificateFault::NotForServers
                | CertificateFault::Expired { .. }
                | CertificateFault::NotYetValid { .. }),
            ) => {
                if !faults.contains(&fault) {
                    faults.push(fault);
                }
                break;
            }
            _ => break,
        }
    }
    if let Ok(probe) = ServerName::try_from("ferry-name-check.invalid")
        && let Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        })) = rustls::client::verify_server_name(&parsed, &probe)
        && presented.iter().all(|n| san(n).is_none())
    {
        faults.push(CertificateFault::NoSubjectAltName);
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_704_067_199), "2023-12-31 23:59:59 UTC");
        assert_eq!(utc(4_102_444_800), "2100-01-01 00:00:00 UTC");
    }

    #[test]
    fn listed_names_are_bare() {
        assert_eq!(
            san("DnsName(\"gw.example\")").as_deref(),
            Some("gw.example")
        );
        assert_eq!(san("IpAddress(127.0.0.1)").as_deref(), Some("127.0.0.1"));
        assert_eq!(san("UniformResourceIdentifier(\"x\")"), None);
    }
}
