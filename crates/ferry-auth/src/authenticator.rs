//! One front for both credential kinds.

use crate::error::AuthError;
use crate::jwt::{JwtVerifier, MAX_JWT_LEN, looks_like_jwt};
use crate::role::{Identity, Method, Role, is_valid_agent_id};
use crate::token::TokenStore;

/// Longest secret accepted by [`Authenticator::verify`]: [`MAX_JWT_LEN`] (8 KiB).
pub const MAX_SECRET_LEN: usize = MAX_JWT_LEN;

/// Verifies a presented secret, a static token or a JWT, for a role and agent id.
///
/// A secret shaped like a JWT ([`looks_like_jwt`]) goes to the JWT verifier, anything else to
/// the token store; there is no fallback from one to the other.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    tokens: Option<TokenStore>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// An authenticator with no credentials: refuses everything. Add tokens and/or JWT keys.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts the static tokens of `store` (default none).
    #[must_use]
    pub fn with_tokens(mut self, store: TokenStore) -> Self {
        self.tokens = Some(store);
        self
    }

    /// Accepts JWTs verified by `verifier` (default none).
    #[must_use]
    pub fn with_jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// Whether any credential can ever be accepted.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.tokens.is_some() || self.jwt.is_some()
    }

    /// Verifies `secret` for a presenter acting as `role` for `agent_id` at `now_unix`.
    ///
    /// # Errors
    ///
    /// [`AuthError`]: the agent id is invalid, the secret empty or longer than
    /// [`MAX_SECRET_LEN`], the token unknown, or the JWT refused.
    pub fn verify(
        &self,
        role: Role,
        agent_id: &str,
        secret: &str,
        now_unix: u64,
    ) -> Result<Identity, AuthError> {
        if !is_valid_agent_id(agent_id) {
            return Err(AuthError::InvalidAgentId);
        }
        if secret.is_empty() {
            return Err(AuthError::Empty);
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(AuthError::TooLong {
                len: secret.len(),
                max: MAX_SECRET_LEN,
            });
        }
        if looks_like_jwt(secret) {
            let verifier = self.jwt.as_ref().ok_or(AuthError::JwtNotConfigured)?;
            return verifier
                .verify(secret, role, agent_id, now_unix)
                .map_err(AuthError::Jwt);
        }
        let store = self.tokens.as_ref().ok_or(AuthError::TokensNotConfigured)?;
        if store.contains(role, agent_id, secret) {
            Ok(Identity {
                role,
                agent_id: agent_id.to_owned(),
                method: Method::StaticToken,
                subject: None,
                expires_at: None,
            })
        } else {
            Err(AuthError::UnknownToken)
        }
    }
}
