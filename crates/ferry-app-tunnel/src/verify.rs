//! Agent credentials on the tunnel: `ferry-auth` (tokens, JWTs) and client certificates
//! (`ferry-tls`) behind `ferry-tunnel`'s verifier hook.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_auth::{Authenticator, Role};
use ferry_tls::SharedClientVerifier;
use ferry_tls::rustls::pki_types::{CertificateDer, UnixTime};
use ferry_tunnel::{AgentId, AgentRejected, AgentVerifier};

use crate::config::AgentAuthMode;

/// What is checked, swapped whole at a reload.
struct State {
    auth: Authenticator,
    mode: AgentAuthMode,
}

/// Verifies agents per [`AgentAuthMode`]:
///
/// - the token: a static token or a JWT for role `agent` issued for exactly the id the agent
///   presents (a JWT's `agent_id` claim must equal it; a client token or client JWT is
///   refused);
/// - the certificate: the TLS client certificate chain the agent presented must pass the
///   policy in force of `certificates` (the same [`SharedClientVerifier`] the agent endpoint's
///   TLS layer uses: CA, CRLs, revoked serials; checked again here because a resumed session
///   skips the TLS layer's check and because [`ferry_tunnel::Gateway::revalidate`] re-checks
///   connected agents), and its one DNS subjectAltName must be the agent id
///   ([`ferry_tls::CertIdentity::agent_name`]).
///
/// A refusal is logged (`info`) in plain words: which agent, which certificate, why.
///
/// Clones share the state, and [`AgentAuth::replace`] swaps it for every clone (a reloaded
/// token file, key set or mode); follow it with `ferry_tunnel::Gateway::revalidate` so that
/// connected agents are checked against the new one too.
#[derive(Clone)]
pub struct AgentAuth {
    state: Arc<ArcSwap<State>>,
    certificates: SharedClientVerifier,
}

impl std::fmt::Debug for AgentAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAuth")
            .field("mode", &self.state.load().mode)
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl AgentAuth {
    /// A verifier over `auth` alone ([`AgentAuthMode::Token`]).
    #[must_use]
    pub fn new(auth: Authenticator) -> Self {
        Self::with_mode(
            auth,
            AgentAuthMode::Token,
            SharedClientVerifier::new("an agent", None),
        )
    }

    /// A verifier checking what `mode` says, client certificates with the policy in force of
    /// `certificates`.
    #[must_use]
    pub fn with_mode(
        auth: Authenticator,
        mode: AgentAuthMode,
        certificates: SharedClientVerifier,
    ) -> Self {
        Self {
            state: Arc::new(ArcSwap::from_pointee(State { auth, mode })),
            certificates,
        }
    }

    /// Makes `auth` the authenticator of this verifier and of every clone, for the next
    /// verification (the mode is kept).
    pub fn replace(&self, auth: Authenticator) {
        let mode = self.state.load().mode;
        self.state.store(Arc::new(State { auth, mode }));
    }

    /// Makes `auth` and `mode` those of this verifier and of every clone.
    pub fn replace_with_mode(&self, auth: Authenticator, mode: AgentAuthMode) {
        self.state.store(Arc::new(State { auth, mode }));
    }

    fn certificate(
        &self,
        agent_id: &AgentId,
        chain: &[CertificateDer<'static>],
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix));
        let refused = |why: &dyn std::fmt::Display| {
            // Counted by ferry-tunnel (`ferry_tunnel_agent_auth_total`).
            tracing::info!(agent = %agent_id, "agent certificate refused: {why}");
            Err(AgentRejected::BadCredential)
        };
        match self.certificates.check(chain, now) {
            Ok(Some(identity)) => match identity.agent_name() {
                Ok(name) if name == agent_id.as_str() => Ok(()),
                Ok(name) => refused(&format!(
                    "the certificate ({identity}) is for the agent {name:?}, not {:?}",
                    agent_id.as_str()
                )),
                Err(e) => refused(&e),
            },
            // No policy, or an optional one and no certificate: never with a certificate mode
            // in a validated config, refused all the same.
            Ok(None) => refused(&"the agent presented no client certificate"),
            Err(e) => refused(&e.with_peer(format!("the agent {agent_id}"))),
        }
    }
}

impl AgentVerifier for AgentAuth {
    fn verify(
        &self,
        agent_id: &AgentId,
        credential: &str,
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        match self
            .state
            .load()
            .auth
            .verify(Role::Agent, agent_id.as_str(), credential, now_unix)
        {
            Ok(identity) if identity.agent_id == agent_id.as_str() => Ok(()),
            Ok(_) => Err(AgentRejected::BadCredential),
            Err(e) => {
                // Counted by ferry-tunnel (`ferry_tunnel_agent_auth_total`).
                tracing::info!(agent = %agent_id, reason = %e, "agent credential refused");
                Err(AgentRejected::BadCredential)
            }
        }
    }

    fn verify_with_certificates(
        &self,
        agent_id: &AgentId,
        credential: &str,
        certificates: &[CertificateDer<'static>],
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        let mode = self.state.load().mode;
        if mode.certificate() {
            self.certificate(agent_id, certificates, now_unix)?;
        }
        if mode.token() {
            self.verify(agent_id, credential, now_unix)?;
        }
        Ok(())
    }
}
