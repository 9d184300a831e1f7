//! A client-certificate verifier whose policy is swapped while the acceptor runs.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::identity::CertIdentity;
use super::policy::{ClientCertChecker, ClientCertRefused};

/// The client-certificate verifier of an acceptor whose policy can change while it runs
/// ([`store`](Self::store)), for a reload that must not rebuild the TLS configuration: the
/// next handshake uses the new policy. Without a policy (`None`) no certificate is asked
/// for.
///
/// Each refusal is logged (`info`) in plain words, with the certificate's subject and
/// serial, as `the certificate of <who> ...` (`who` given to [`new`](Self::new), e.g. `an
/// agent`): the transport may only pass the TLS alert on.
///
/// A resumed TLS session carries the client certificate of its first handshake without
/// checking it again; [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) checks it with the
/// current policy ([`check`](Self::check)), and so must other transports (QUIC).
///
/// Cheap to clone; clones share the policy.
#[derive(Clone)]
pub struct SharedClientVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    current: ArcSwapOption<ClientCertChecker>,
    who: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for SharedClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedClientVerifier")
            .field("who", &self.inner.who)
            .field("current", &self.inner.current.load())
            .finish()
    }
}

impl PartialEq for SharedClientVerifier {
    /// The same shared verifier (clones of one another).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for SharedClientVerifier {}

impl SharedClientVerifier {
    /// A verifier with `checker` as its policy (`None`: no certificate asked for); refusals
    /// are told about `who` (e.g. `an agent`, `a client`).
    #[must_use]
    pub fn new(who: impl Into<String>, checker: Option<ClientCertChecker>) -> Self {
        Self {
            inner: Arc::new(Inner {
                current: ArcSwapOption::new(checker.map(Arc::new)),
                who: who.into(),
                algorithms: crate::provider(crate::KeyExchange::PostQuantum)
                    .signature_verification_algorithms,
            }),
        }
    }

    /// Makes `checker` the policy of the next handshakes and checks (`None`: no certificate
    /// asked for).
    pub fn store(&self, checker: Option<ClientCertChecker>) {
        self.inner.current.store(checker.map(Arc::new));
    }

    /// The policy in force.
    #[must_use]
    pub fn load(&self) -> Option<Arc<ClientCertChecker>> {
        self.inner.current.load_full()
    }

    /// Checks `chain` with the policy in force ([`ClientCertChecker::check`]); `Ok(None)`
    /// without a policy, or for an empty chain when certificates are optional.
    ///
    /// # Errors
    ///
    /// [`ClientCertRefused`] told about `who`.
    pub fn check(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Option<CertIdentity>, ClientCertRefused> {
        match self.load() {
            None => Ok(None),
            Some(checker) => checker
                .check(chain, now)
                .map_err(|refused| refused.with_peer(self.inner.who.clone())),
        }
    }
}

impl ClientCertVerifier for SharedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.current.load().is_some()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner
            .current
            .load()
            .as_ref()
            .is_some_and(|c| c.required())
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints would be borrowed from a policy that may be swapped; they are optional.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let Some(checker) = self.load() else {
            return Err(rustls::Error::General(
                "no client certificate was asked for".to_owned(),
            ));
        };
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        match checker.verify(&chain, now) {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(refusal) => {
                let (refused, error) = *refusal;
                let refused = refused.with_peer(self.inner.who.clone());
                tracing::info!("client certificate refused: {refused}");
                Err(error)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.inner.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.inner.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.algorithms.supported_schemes()
    }
}
