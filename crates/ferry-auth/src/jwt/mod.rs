//! JWT verification (compact JWS, ES256 and EdDSA only) and creation.
//!
//! Verification steps, in order; the first failure is the error:
//!
//! 1. length ≤ [`MAX_JWT_LEN`]; exactly three non-empty dot-separated parts;
//! 2. the header is unpadded base64url of a JSON object; `alg` is exactly `ES256` or `EdDSA`
//!    (`none`, `HS*`, `RS*`, `PS*`, `ES384`, other spellings: [`JwtError::Algorithm`]); no
//!    `crit` member ([`JwtError::Crit`]); any `jwk`, `jku`, `x5u` or `x5c` member is ignored:
//!    keys come only from the configuration;
//! 3. candidate keys: configured keys of that algorithm, restricted to the header's `kid` when
//!    it names one (keys configured without a `kid` stay candidates); none: [`JwtError::NoKey`].
//!    So an `HS256` token "signed" with the public key as HMAC secret fails at step 2, and an
//!    `EdDSA` token fails at step 3 when only P-256 keys are configured;
//! 4. the signature (base64url; ES256 in the fixed `r || s` form of RFC 7518) verifies over
//!    `header.payload` with one candidate ([`JwtError::Signature`]);
//! 5. only now is the payload decoded; claims: `exp` required ([`JwtError::MissingExp`]) and
//!    `now ≤ exp + leeway`; `nbf`, when present, `nbf ≤ now + leeway`; `aud` (string or array)
//!    contains the configured audience, when one is configured (a token without `aud` then
//!    fails); `iss` equals the configured issuer, when configured; `role` is `agent` or
//!    `client` and equals the role presented; `agent_id` equals the agent id the presenter
//!    named.
//!
//! Time is a parameter (unix seconds); the default leeway is [`DEFAULT_LEEWAY_SECS`].

mod claims;
mod sign;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use self::sign::{JwtSpec, sign_jwt};
use crate::error::JwtError;
use crate::key::{Algorithm, VerifyingKey};
use crate::role::{Identity, Method, Role};

/// Longest JWT accepted: 8 KiB.
pub const MAX_JWT_LEN: usize = 8 * 1024;

/// Default clock-skew allowance for `exp` and `nbf`: 60 s.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// What the claims are checked against, besides the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtConfig {
    /// Required audience (`aud` must contain it). Default none (`aud` not checked).
    pub audience: Option<String>,
    /// Required issuer. Default none (`iss` not checked).
    pub issuer: Option<String>,
    /// Clock-skew allowance for `exp` and `nbf`, seconds. Default [`DEFAULT_LEEWAY_SECS`].
    pub leeway_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            audience: None,
            issuer: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

impl JwtConfig {
    /// Sets the required audience (default none).
    #[must_use]
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sets the required issuer (default none).
    #[must_use]
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Sets the leeway (default 60 s).
    #[must_use]
    pub fn with_leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }
}

/// Verifies JWTs against a set of public keys (several for rotation).
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    config: JwtConfig,
}

fn b64(part: &str, name: &'static str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_not_b64| JwtError::Base64 { part: name })
}

impl JwtVerifier {
    /// A verifier for `keys` (may be empty: every token then fails with [`JwtError::NoKey`]).
    #[must_use]
    pub fn new(keys: Vec<VerifyingKey>, config: JwtConfig) -> Self {
        Self { keys, config }
    }

    /// The configured keys.
    #[must_use]
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Verifies `token` for a presenter acting as `role` for `agent_id` at `now_unix`
    /// (steps in the [module docs](self)).
    ///
    /// # Errors
    ///
    /// The [`JwtError`] of the first failed step.
    pub fn verify(
        &self,
        token: &str,
        role: Role,
        agent_id: &str,
        now_unix: u64,
    ) -> Result<Identity, JwtError> {
        if token.len() > MAX_JWT_LEN {
            return Err(JwtError::TooLong {
                len: token.len(),
                max: MAX_JWT_LEN,
            });
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(JwtError::Malformed);
        }
        let header: claims::Header = serde_json::from_slice(&b64(h64, "header")?)
            .map_err(|_json| JwtError::Json { part: "header" })?;
        let alg = Algorithm::from_alg(&header.alg).ok_or_else(|| JwtError::Algorithm {
            alg: header.alg.chars().take(32).collect(),
        })?;
        if header.crit {
            return Err(JwtError::Crit);
        }
        let sig = b64(s64, "signature")?;
        let signed = token
            .get(..h64.len() + 1 + p64.len())
            .ok_or(JwtError::Malformed)?
            .as_bytes();
        let mut any_candidate = false;
        let mut verified = false;
        for key in &self.keys {
            let kid_ok = match (header.kid.as_deref(), key.kid()) {
                (Some(wanted), Some(have)) => wanted == have,
                _ => true,
            };
            if key.algorithm() != alg || !kid_ok {
                continue;
            }
            any_candidate = true;
            if key.verify(signed, &sig) {
                verified = true;
                break;
            }
        }
        if !any_candidate {
            return Err(JwtError::NoKey);
        }
        if !verified {
            return Err(JwtError::Signature);
        }
        let claims: claims::Claims = serde_json::from_slice(&b64(p64, "payload")?)
            .map_err(|_json| JwtError::Json { part: "payload" })?;
        self.check_claims(claims, role, agent_id, now_unix)
    }

    fn check_claims(
        &self,
        claims: claims::Claims,
        role: Role,
        agent_id: &str,
        now: u64,
    ) -> Result<Identity, JwtError> {
        let leeway = self.config.leeway_secs;
        let exp = claims.exp.ok_or(JwtError::MissingExp)?.0;
        if now > exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(leeway) < nbf.0
        {
            return Err(JwtError::NotYetValid);
        }
        if let Some(wanted) = &self.config.audience
            && !claims.aud.as_ref().is_some_and(|a| a.contains(wanted))
        {
            return Err(JwtError::Audience);
        }
        if let Some(wanted) = &self.config.issuer
            && claims.iss.as_deref() != Some(wanted.as_str())
        {
            return Err(JwtError::Issuer);
        }
        let got: Role = claims
            .role
            .as_deref()
            .and_then(|r| r.parse().ok())
            .ok_or(JwtError::MissingRole)?;
        if got != role {
            return Err(JwtError::Role {
                expected: role,
                got,
            });
        }
        let claimed = claims.agent_id.ok_or(JwtError::MissingAgentId)?;
        if claimed != agent_id {
            return Err(JwtError::AgentId);
        }
        Ok(Identity {
            role,
            agent_id: claimed,
            method: Method::Jwt,
            subject: claims.sub,
            expires_at: Some(exp),
        })
    }
}

/// Whether `secret` has the shape of a compact JWS (two dots, header starting with `eyJ`, the
/// base64url of `{"`). Static tokens never contain a dot, so this routes a secret to the right
/// verifier.
#[must_use]
pub fn looks_like_jwt(secret: &str) -> bool {
    secret.starts_with("eyJ") && secret.bytes().filter(|&b| b == b'.').count() == 2
}
