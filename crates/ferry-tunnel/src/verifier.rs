//! The hook through which the application checks an agent's credential.

use rustls::pki_types::CertificateDer;

use crate::agent_id::AgentId;

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentRejected {
    /// The credential is wrong, expired, or not valid for this agent id.
    #[error("credential refused")]
    BadCredential,
    /// The verifier cannot decide now (for example its key store is unavailable); the agent
    /// is told to try again later.
    #[error("credential check unavailable")]
    Unavailable,
}

/// Verifies an agent's credential on the gateway. Implemented by the application (for example
/// with hashed static tokens or JWTs).
///
/// Called once per connection, after the auth message was read and before any per-agent state
/// exists; again for every connected agent at each [`Gateway::revalidate`](crate::Gateway::revalidate),
/// and once more when an agent registers while a revalidation has started since it was
/// checked. It is synchronous: it must not block on I/O (a verifier that needs a remote store
/// should cache). Closures `Fn(&AgentId, &str, u64) -> Result<(), AgentRejected>` implement it.
pub trait AgentVerifier: Send + Sync + 'static {
    /// Checks that `credential` is valid for `agent_id` at `now_unix` (seconds since the Unix
    /// epoch, given by the gateway; the library reads no clock itself).
    ///
    /// # Errors
    ///
    /// [`AgentRejected`] when the agent must not connect.
    fn verify(
        &self,
        agent_id: &AgentId,
        credential: &str,
        now_unix: u64,
    ) -> Result<(), AgentRejected>;

    /// Checks `credential` and the agent's TLS client certificate chain for `agent_id` at
    /// `now_unix`: `certificates` is what the agent presented in the handshake, end-entity
    /// certificate first (empty when the gateway's TLS config asked for none or the agent
    /// sent none). The gateway calls this method, never [`verify`](Self::verify) directly:
    /// at the connection's authentication, at each revalidation and at registration (always
    /// with the chain the connection was made with).
    ///
    /// Override it to require or check client certificates (mTLS) — for example, that the
    /// certificate names `agent_id` and is not revoked; the TLS layer has already checked
    /// the chain against its CAs on a full handshake, but a resumed session is not checked
    /// again there. Default: [`verify`](Self::verify), the certificates ignored.
    ///
    /// # Errors
    ///
    /// [`AgentRejected`] when the agent must not connect.
    fn verify_with_certificates(
        &self,
        agent_id: &AgentId,
        credential: &str,
        certificates: &[CertificateDer<'static>],
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        let _ = certificates;
        self.verify(agent_id, credential, now_unix)
    }
}

impl<F> AgentVerifier for F
where
    F: Fn(&AgentId, &str, u64) -> Result<(), AgentRejected> + Send + Sync + 'static,
{
    fn verify(
        &self,
        agent_id: &AgentId,
        credential: &str,
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        self(agent_id, credential, now_unix)
    }
}
