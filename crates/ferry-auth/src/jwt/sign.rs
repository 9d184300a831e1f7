//! Creating JWTs (for `ferry-gateway jwt sign` and tests).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom;

use super::claims::{ClaimsOut, HeaderOut};
use crate::error::KeyError;
use crate::key::SigningKey;
use crate::role::{Role, is_valid_agent_id};

/// What to put in a new JWT.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtSpec {
    /// `role`.
    pub role: Role,
    /// `agent_id`.
    pub agent_id: String,
    /// Lifetime in seconds: `exp = now + ttl_secs`.
    pub ttl_secs: u64,
    /// `aud`, if any. Default none.
    pub audience: Option<String>,
    /// `iss`, if any. Default none.
    pub issuer: Option<String>,
    /// `sub`, if any (shown in logs). Default none.
    pub subject: Option<String>,
}

impl JwtSpec {
    /// A spec with no audience, issuer or subject.
    #[must_use]
    pub fn new(role: Role, agent_id: impl Into<String>, ttl_secs: u64) -> Self {
        Self {
            role,
            agent_id: agent_id.into(),
            ttl_secs,
            audience: None,
            issuer: None,
            subject: None,
        }
    }

    /// Sets the audience (default none).
    #[must_use]
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sets the issuer (default none).
    #[must_use]
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Sets the subject (default none).
    #[must_use]
    pub fn with_subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = Some(sub.into());
        self
    }
}

/// Signs a compact JWS with `key`: header `{"alg":...,"typ":"JWT","kid":...}`, claims `role`,
/// `agent_id`, `iat = now_unix`, `exp = now_unix + ttl`, and `aud`/`iss`/`sub` when set.
///
/// # Errors
///
/// [`KeyError::Claim`] for an invalid agent id or a ttl that overflows; [`KeyError::Sign`] when
/// signing fails.
pub fn sign_jwt(
    key: &SigningKey,
    spec: &JwtSpec,
    now_unix: u64,
    rng: &dyn SecureRandom,
) -> Result<String, KeyError> {
    if !is_valid_agent_id(&spec.agent_id) {
        return Err(KeyError::Claim("agent_id"));
    }
    let exp = now_unix
        .checked_add(spec.ttl_secs)
        .ok_or(KeyError::Claim("exp"))?;
    let header = HeaderOut {
        alg: key.algorithm().as_str(),
        typ: "JWT",
        kid: key.kid(),
    };
    let claims = ClaimsOut {
        role: spec.role.as_str(),
        agent_id: &spec.agent_id,
        iat: now_unix,
        exp,
        aud: spec.audience.as_deref(),
        iss: spec.issuer.as_deref(),
        sub: spec.subject.as_deref(),
    };
    let header = serde_json::to_vec(&header).map_err(|_json| KeyError::Claim("header"))?;
    let claims = serde_json::to_vec(&claims).map_err(|_json| KeyError::Claim("claims"))?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let sig = key.sign(out.as_bytes(), rng)?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}
