//! Who a client certificate names: its subject, serial and DNS names, and the one agent name
//! the tunnel matches against an agent's id.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::serial::Serial;

/// What an end-entity certificate says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertIdentity {
    /// The subject distinguished name, as OpenSSL's one-line form (`CN=edge-1, O=Example`),
    /// for logs.
    pub subject: String,
    /// The serial number.
    pub serial: Serial,
    /// The `dNSName` subject alternative names, in certificate order.
    pub dns_names: Vec<String>,
}

/// A certificate's identity cannot be read, or does not name one agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate is not parseable X.509 DER (or its serial is longer than 20 bytes).
    #[error("the certificate cannot be parsed")]
    Unparseable,
    /// The certificate has no `dNSName` subject alternative name, so it names no agent (the
    /// common name is not used).
    #[error(
        "the certificate ({subject}) has no DNS subjectAltName naming the agent (the common \
         name is not used); reissue it, e.g. `ferry-gateway cert --client --agent-id ID`"
    )]
    NoAgentName {
        /// The certificate's subject.
        subject: String,
    },
    /// The certificate has several `dNSName` subject alternative names: which agent it is for
    /// would be ambiguous.
    #[error(
        "the certificate ({subject}) has several DNS subjectAltNames ({}); an agent \
         certificate must name exactly one agent", names.join(", ")
    )]
    SeveralAgentNames {
        /// The certificate's subject.
        subject: String,
        /// The names.
        names: Vec<String>,
    },
}

impl CertIdentity {
    /// Reads the identity of `cert` (DER).
    ///
    /// # Errors
    ///
    /// [`IdentityError::Unparseable`] when it is not X.509 DER.
    pub fn parse(cert: &CertificateDer<'_>) -> Result<Self, IdentityError> {
        let (_, parsed) =
            X509Certificate::from_der(cert.as_ref()).map_err(|_bad| IdentityError::Unparseable)?;
        let serial = Serial::from_bytes(parsed.tbs_certificate.raw_serial())
            .map_err(|_bad| IdentityError::Unparseable)?;
        let dns_names = match parsed.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(_duplicate_or_bad) => return Err(IdentityError::Unparseable),
        };
        Ok(Self {
            subject: parsed.subject().to_string(),
            serial,
            dns_names,
        })
    }

    /// The agent this certificate is for: its only `dNSName` subject alternative name.
    ///
    /// The rule, and why: the subject alternative name is where X.509 puts names that are
    /// matched (TLS clients stopped reading the common name for host names, RFC 6125); a
    /// `dNSName` is what every tool can write (`openssl req -addext
    /// "subjectAltName=DNS:edge-1"`, `ferry-gateway cert --client --agent-id edge-1`), and
    /// agent ids (printable ASCII, no `:`) fit in one. Exactly one is required, so that one
    /// certificate never stands for two agents by accident. The common name is never used:
    /// a certificate made for something else (a host's `CN`) must not become an agent
    /// credential.
    ///
    /// # Errors
    ///
    /// [`IdentityError::NoAgentName`] or [`IdentityError::SeveralAgentNames`].
    pub fn agent_name(&self) -> Result<&str, IdentityError> {
        match self.dns_names.as_slice() {
            [one] => Ok(one),
            [] => Err(IdentityError::NoAgentName {
                subject: self.subject.clone(),
            }),
            several => Err(IdentityError::SeveralAgentNames {
                subject: self.subject.clone(),
                names: several.to_vec(),
            }),
        }
    }
}

impl std::fmt::Display for CertIdentity {
    /// `subject, serial S` as logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subject = if self.subject.is_empty() {
            "no subject"
        } else {
            &self.subject
        };
        write!(f, "{subject}, serial {}", self.serial)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::PrivateCa;

    /// Certificates are only parsed here, never verified: any fixed time does.
    const AT: Duration = Duration::from_secs(1_700_000_000);

    fn ca() -> &'static PrivateCa {
        static CA: std::sync::OnceLock<PrivateCa> = std::sync::OnceLock::new();
        CA.get_or_init(|| {
            PrivateCa::generate(
                "identity test CA",
                SystemTime::UNIX_EPOCH + AT,
                crate::DEFAULT_CA_VALIDITY,
            )
            .unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every agent id (printable ASCII without `:`, 1..=64 bytes) survives the trip
        /// through a client certificate: issued, parsed, named back exactly.
        #[test]
        fn agent_ids_round_trip_through_a_certificate(id in "[!-9;-~]{1,64}") {
            let cert = ca()
                .issue_client(&id, SystemTime::UNIX_EPOCH + AT, Duration::from_secs(86_400))
                .unwrap();
            let identity = CertIdentity::parse(cert.leaf_der()).unwrap();
            prop_assert_eq!(identity.agent_name(), Ok(id.as_str()));
            prop_assert_eq!(&identity.serial, cert.serial());
        }

        /// Any bytes are parsed or refused as `Unparseable`; never a panic.
        #[test]
        fn any_bytes_are_handled(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = CertIdentity::parse(&CertificateDer::from(bytes));
        }
    }
}
