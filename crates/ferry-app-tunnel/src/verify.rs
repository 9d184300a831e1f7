//! Agent credentials on the tunnel: `ferry-auth` behind `ferry-tunnel`'s verifier hook.

use std::sync::Arc;

use arc_swap::ArcSwap;
use ferry_auth::{Authenticator, Role};
use ferry_tunnel::{AgentId, AgentRejected, AgentVerifier};

/// Verifies agents with an [`Authenticator`]: the secret must be a static token or a JWT for
/// role `agent` issued for exactly the id the agent presents (a JWT's `agent_id` claim must
/// equal it; a client token or client JWT is refused).
///
/// Clones share the authenticator, and [`AgentAuth::replace`] swaps it for every clone (a
/// reloaded token file or key set); follow it with `ferry_tunnel::Gateway::revalidate` so that
/// connected agents are checked against the new one too.
#[derive(Clone, Debug)]
pub struct AgentAuth {
    auth: Arc<ArcSwap<Authenticator>>,
}

impl AgentAuth {
    /// A verifier over `auth`.
    #[must_use]
    pub fn new(auth: Authenticator) -> Self {
        Self {
            auth: Arc::new(ArcSwap::from_pointee(auth)),
        }
    }

    /// Makes `auth` the authenticator of this verifier and of every clone, for the next
    /// verification.
    pub fn replace(&self, auth: Authenticator) {
        self.auth.store(Arc::new(auth));
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
            .auth
            .load()
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
}
