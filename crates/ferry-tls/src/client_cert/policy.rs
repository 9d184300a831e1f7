//! Which client certificates are accepted ([`ClientCertPolicy`]), built into a checker
//! ([`ClientCertChecker`]) that rustls and the application both use, and refusals in plain
//! words ([`ClientCertRefused`]).

use std::fmt;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::crl::load_crls;
use super::identity::CertIdentity;
use super::serial::{RevokedSerials, Serial};
use crate::error::TlsConfigError;
use crate::pem::{PemInput, load_roots};

/// Which client certificates an acceptor accepts (mTLS): chained to one of the CAs, not
/// revoked by a CRL, not listed by serial; required or optional.
///
/// ```
/// use ferry_tls::{ClientCertPolicy, PemInput, RevokedSerials};
///
/// let mut policy = ClientCertPolicy::new(vec![PemInput::file("/etc/ferry/agent-ca.pem")]);
/// policy
///     .crl(PemInput::file("/etc/ferry/agent-ca.crl"))
///     .revoked_serials(RevokedSerials::parse(["3a:0f:11"]).map_err(|(_, e)| e)?);
/// // policy.build()? reads the files.
/// # Ok::<(), ferry_tls::SerialError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCertPolicy {
    pub(crate) cas: Vec<PemInput>,
    pub(crate) crls: Vec<PemInput>,
    pub(crate) revoked: RevokedSerials,
    pub(crate) required: bool,
    pub(crate) trusted: Option<String>,
}

impl ClientCertPolicy {
    /// Certificates chaining to one of the CA certificates in `cas` (every `CERTIFICATE`
    /// block of every input), required, no CRL, no serial revoked.
    #[must_use]
    pub fn new(cas: Vec<PemInput>) -> Self {
        Self {
            cas,
            crls: Vec::new(),
            revoked: RevokedSerials::new(),
            required: true,
            trusted: None,
        }
    }

    /// Adds a CRL file (PEM `X509 CRL` blocks, or DER). With any CRL configured, the
    /// end-entity certificate's revocation status must be known: a certificate whose issuer
    /// has no CRL here is refused ("revocation status unknown"), so give every CA's CRL.
    /// Only the end-entity certificate is checked; a CRL past its `nextUpdate` is still used
    /// (an old list is better than none; renew it and reload). Default none.
    pub fn crl(&mut self, crl: PemInput) -> &mut Self {
        self.crls.push(crl);
        self
    }

    /// Serial numbers refused whatever else is true. Default none.
    pub fn revoked_serials(&mut self, serials: RevokedSerials) -> &mut Self {
        self.revoked = serials;
        self
    }

    /// Whether a client without a certificate is refused (`true`, the default) or accepted
    /// (`false`: a certificate is asked for, and checked when given).
    pub fn required(&mut self, required: bool) -> &mut Self {
        self.required = required;
        self
    }

    /// How the trusted CAs are named in refusals, e.g. `auth.agent_ca /etc/ferry/ca.pem`.
    /// Default: the first CA file's path.
    pub fn trusted_as(&mut self, name: impl Into<String>) -> &mut Self {
        self.trusted = Some(name.into());
        self
    }

    /// Reads the CA and CRL files and builds the checker.
    ///
    /// # Errors
    ///
    /// The read and PEM errors of [`TlsConfigError`] naming the file;
    /// [`TlsConfigError::NoTrustAnchors`] without any CA certificate;
    /// [`TlsConfigError::BadCa`], [`TlsConfigError::NoCrl`], [`TlsConfigError::BadCrl`];
    /// [`TlsConfigError::ClientVerifier`] when rustls refuses the combination.
    pub fn build(&self) -> Result<ClientCertChecker, TlsConfigError> {
        let roots: Arc<RootCertStore> = Arc::new(load_roots(&self.cas)?);
        let mut crls = Vec::new();
        for input in &self.crls {
            crls.extend(load_crls(input)?);
        }
        let provider = crate::provider(crate::KeyExchange::PostQuantum);
        let mut builder = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .with_crls(crls)
            .only_check_end_entity_revocation();
        if !self.required {
            builder = builder.allow_unauthenticated();
        }
        let verifier = builder.build().map_err(TlsConfigError::ClientVerifier)?;
        let trusted = self.trusted.clone().or_else(|| match self.cas.first() {
            Some(PemInput::File(path)) => Some(path.display().to_string()),
            _ => None,
        });
        Ok(ClientCertChecker {
            verifier,
            revoked: self.revoked.clone(),
            required: self.required,
            trusted,
        })
    }
}

/// A built [`ClientCertPolicy`]: checks a client's certificate chain, in a TLS handshake (as
/// the verifier of a [`SharedClientVerifier`](crate::SharedClientVerifier)) or after it
/// ([`check`](Self::check)), e.g. again after a reload or for a resumed session.
pub struct ClientCertChecker {
    pub(crate) verifier: Arc<dyn ClientCertVerifier>,
    revoked: RevokedSerials,
    required: bool,
    trusted: Option<String>,
}

impl fmt::Debug for ClientCertChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertChecker")
            .field("revoked", &self.revoked.len())
            .field("required", &self.required)
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl ClientCertChecker {
    /// Whether a client without a certificate is refused.
    #[must_use]
    pub fn required(&self) -> bool {
        self.required
    }

    /// Checks `chain` (end-entity certificate first, as the client sent it) at `now`: it must
    /// chain to a trusted CA, be valid at `now`, allow `clientAuth`, not be revoked by a CRL
    /// and not have a listed serial. Returns the certificate's identity, or `None` for an
    /// empty chain when certificates are optional.
    ///
    /// # Errors
    ///
    /// [`ClientCertRefused`] saying why, for the peer `a client`
    /// ([`ClientCertRefused::with_peer`] names it better).
    pub fn check(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Option<CertIdentity>, ClientCertRefused> {
        self.verify(chain, now).map_err(|refusal| refusal.0)
    }

    /// [`check`](Self::check), with the rustls error a handshake fails with.
    pub(crate) fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Option<CertIdentity>, Box<(ClientCertRefused, rustls::Error)>> {
        let refused = |identity: Option<&CertIdentity>, fault| ClientCertRefused {
            peer: "a client".to_owned(),
            certificate: identity.map(ToString::to_string),
            trusted: self.trusted.clone(),
            fault,
        };
        let Some((end_entity, intermediates)) = chain.split_first() else {
            if self.required {
                return Err(Box::new((
                    refused(None, ClientCertFault::Missing),
                    rustls::Error::NoCertificatesPresented,
                )));
            }
            return Ok(None);
        };
        let identity = CertIdentity::parse(end_entity).ok();
        if let Err(error) = self
            .verifier
            .verify_client_cert(end_entity, intermediates, now)
        {
            let fault = ClientCertFault::from_tls(&error);
            return Err(Box::new((refused(identity.as_ref(), fault), error)));
        }
        let Some(identity) = identity else {
            return Err(Box::new((
                refused(None, ClientCertFault::Unparseable),
                rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
            )));
        };
        if self.revoked.contains(&identity.serial) {
            return Err(Box::new((
                refused(
                    Some(&identity),
                    ClientCertFault::RevokedSerial(identity.serial.clone()),
                ),
                rustls::Error::InvalidCertificate(CertificateError::Revoked),
            )));
        }
        Ok(Some(identity))
    }
}

/// Why a client certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCertFault {
    /// No certificate was presented, and one is required.
    Missing,
    /// Not signed by a trusted CA.
    UnknownIssuer,
    /// Its validity ended (`notAfter`, seconds since the epoch, when known).
    Expired {
        /// Its `notAfter`.
        not_after: Option<u64>,
    },
    /// Its validity has not started (`notBefore`, when known).
    NotYetValid {
        /// Its `notBefore`.
        not_before: Option<u64>,
    },
    /// A configured CRL lists it.
    RevokedByCrl,
    /// Its serial is in the revoked serial list.
    RevokedSerial(Serial),
    /// CRLs are configured but none is from its issuer.
    RevocationUnknown,
    /// Its extended key usage does not allow TLS clients (`clientAuth`).
    NotForClients,
    /// A CA certificate presented as the client's own.
    CaCertificate,
    /// It cannot be parsed.
    Unparseable,
    /// Another verification error, as rustls words it.
    Other(String),
}

impl ClientCertFault {
    /// The fault a rustls certificate error reports.
    #[must_use]
    pub fn from_tls(error: &rustls::Error) -> Self {
        let rustls::Error::InvalidCertificate(error) = error else {
            return match error {
                rustls::Error::NoCertificatesPresented => Self::Missing,
                other => Self::Other(other.to_string()),
            };
        };
        match error {
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                Self::CaCertificate
            }
            CertificateError::Expired => Self::Expired { not_after: None },
            CertificateError::ExpiredContext { not_after, .. } => Self::Expired {
                not_after: Some(not_after.as_secs()),
            },
            CertificateError::NotValidYet => Self::NotYetValid { not_before: None },
            CertificateError::NotValidYetContext { not_before, .. } => Self::NotYetValid {
                not_before: Some(not_before.as_secs()),
            },
            CertificateError::UnknownIssuer | CertificateError::BadSignature => Self::UnknownIssuer,
            CertificateError::Revoked => Self::RevokedByCrl,
            CertificateError::UnknownRevocationStatus => Self::RevocationUnknown,
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                Self::NotForClients
            }
            CertificateError::BadEncoding => Self::Unparseable,
            other => Self::Other(other.to_string()),
        }
    }
}

/// A client certificate was refused: whose, what is wrong and how to fix it, in one sentence
/// (the [`Display`](fmt::Display) text).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCertRefused {
    /// Who presented it, e.g. `the agent edge-1 at 192.0.2.7:51000`. Default `a client`.
    pub peer: String,
    /// The certificate's subject and serial, when it could be read.
    pub certificate: Option<String>,
    /// Where the trusted CAs came from, when known.
    pub trusted: Option<String>,
    /// What is wrong.
    pub fault: ClientCertFault,
}

impl ClientCertRefused {
    /// The same refusal, told about `peer`.
    #[must_use]
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }
}

impl fmt::Display for ClientCertRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = &self.peer;
        let cert = |f: &mut fmt::Formatter<'_>| match &self.certificate {
            Some(c) => write!(f, "the certificate of {peer} ({c})"),
            None => write!(f, "the certificate of {peer}"),
        };
        let trusted = match &self.trusted {
            Some(t) => format!("the CA in {t}"),
            None => "a trusted CA".to_owned(),
        };
        const ISSUE: &str = "`ferry-gateway cert --client --agent-id ID --ca-cert ca.pem \
                             --ca-key ca.key`";
        match &self.fault {
            ClientCertFault::Missing => write!(
                f,
                "{peer} presented no client certificate, and one signed by {trusted} is \
                 required; give it one, e.g. made with {ISSUE}"
            ),
            ClientCertFault::UnknownIssuer => {
                cert(f)?;
                write!(
                    f,
                    " is not signed by {trusted}; issue it with that CA, e.g. {ISSUE}"
                )
            }
            ClientCertFault::Expired { not_after } => {
                cert(f)?;
                f.write_str(" expired")?;
                if let Some(at) = not_after {
                    write!(f, " on {}", crate::explain::utc(*at))?;
                }
                write!(f, "; issue a new one ({ISSUE}), or check the clocks")
            }
            ClientCertFault::NotYetValid { not_before } => {
                cert(f)?;
                f.write_str(" is not valid yet")?;
                if let Some(at) = not_before {
                    write!(f, " (not before {})", crate::explain::utc(*at))?;
                }
                f.write_str("; check the clocks of this host and of the host that made it")
            }
            ClientCertFault::RevokedByCrl => {
                cert(f)?;
                f.write_str(" is revoked: a configured CRL lists its serial")
            }
            ClientCertFault::RevokedSerial(serial) => {
                cert(f)?;
                write!(
                    f,
                    " is revoked: its serial {serial} is in the revoked serial list"
                )
            }
            ClientCertFault::RevocationUnknown => {
                cert(f)?;
                f.write_str(
                    " has an unknown revocation status: no configured CRL is from its issuer; \
                     add that CA's CRL",
                )
            }
            ClientCertFault::NotForClients => {
                cert(f)?;
                write!(
                    f,
                    " is not meant for TLS clients (its extended key usage lacks clientAuth); \
                     reissue it, e.g. {ISSUE}"
                )
            }
            ClientCertFault::CaCertificate => write!(
                f,
                "{peer} presents a CA certificate (basicConstraints CA:TRUE) as its own; give \
                 it a client certificate signed by the CA, e.g. {ISSUE}"
            ),
            ClientCertFault::Unparseable => {
                cert(f)?;
                f.write_str(" cannot be parsed")
            }
            ClientCertFault::Other(why) => {
                cert(f)?;
                write!(f, " is refused: {why}")
            }
        }
    }
}

impl std::error::Error for ClientCertRefused {}
