//! Error types, one enum per operation family. No message ever holds a presented secret.

use crate::Role;

/// Why a presented credential was refused ([`Authenticator::verify`](crate::Authenticator::verify)).
///
/// Messages say what was wrong with the *presenter's* credential; none contains the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The secret is empty.
    #[error("presenter sent an empty credential")]
    Empty,
    /// The secret is longer than the cap ([`MAX_SECRET_LEN`](crate::MAX_SECRET_LEN)).
    #[error("presenter sent a {len}-byte credential, limit {max}")]
    TooLong {
        /// Length presented.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The agent id is empty, too long or holds a character outside `[A-Za-z0-9._-]`.
    #[error("presenter named an invalid agent id")]
    InvalidAgentId,
    /// The secret is a static token that is not in the token file for this role and agent.
    #[error("presenter sent an unknown token")]
    UnknownToken,
    /// A JWT was presented but no JWT keys are configured.
    #[error("presenter sent a jwt but no jwt keys are configured")]
    JwtNotConfigured,
    /// A static token was presented but no token file is configured.
    #[error("presenter sent a static token but no tokens are configured")]
    TokensNotConfigured,
    /// The JWT was refused.
    #[error("presenter's jwt was refused")]
    Jwt(#[source] JwtError),
}

/// Why a JWT was refused ([`JwtVerifier::verify`](crate::JwtVerifier::verify)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than [`MAX_JWT_LEN`](crate::MAX_JWT_LEN).
    #[error("token is {len} bytes, limit {max}")]
    TooLong {
        /// Length presented.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not three non-empty dot-separated base64url parts (JWE and unsecured forms included).
    #[error("token is not a compact jws (header.payload.signature)")]
    Malformed,
    /// A part is not unpadded base64url.
    #[error("token {part} is not base64url")]
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
    },
    /// A part is not the expected JSON object (or a claim has the wrong type, or a duplicate
    /// member).
    #[error("token {part} is not valid json for a jwt")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
    },
    /// `alg` is not `ES256` or `EdDSA` (`none`, `HS256`, `RS256`, ... are all refused).
    #[error("algorithm {alg:?} is not accepted (only ES256 and EdDSA)")]
    Algorithm {
        /// The `alg` header value, truncated to 32 characters.
        alg: String,
    },
    /// The header has a `crit` member: no extension is understood, so it must be refused
    /// (RFC 7515 section 4.1.11).
    #[error("token header has a crit member")]
    Crit,
    /// No configured key has this algorithm (and `kid`, when the header names one).
    #[error("no configured key for this algorithm and key id")]
    NoKey,
    /// The signature does not verify with any candidate key.
    #[error("signature does not verify")]
    Signature,
    /// No `exp` claim.
    #[error("token has no exp claim")]
    MissingExp,
    /// `exp` (plus leeway) is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) is in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` does not contain the configured audience.
    #[error("token audience does not match")]
    Audience,
    /// `iss` is not the configured issuer.
    #[error("token issuer does not match")]
    Issuer,
    /// No `role` claim, or not `agent`/`client`.
    #[error("token has no valid role claim")]
    MissingRole,
    /// The token is for a different role than the one presented.
    #[error("token is for role {got}, {expected} needed")]
    Role {
        /// The role the presenter claims to act as.
        expected: Role,
        /// The role in the token.
        got: Role,
    },
    /// No `agent_id` claim.
    #[error("token has no agent_id claim")]
    MissingAgentId,
    /// `agent_id` differs from the agent id the presenter named.
    #[error("token agent_id does not match the agent named")]
    AgentId,
}

/// Why a token file cannot be used ([`TokenStore::parse`](crate::TokenStore::parse)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token file line {line}: {kind}")]
pub struct TokenFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: TokenFileErrorKind,
}

/// What is wrong with one token file line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileErrorKind {
    /// Not exactly three fields `ROLE AGENT_ID sha256:HEX`.
    #[error("expected 3 fields `role agent_id sha256:hex`, found {0}")]
    Fields(usize),
    /// The role is not `agent` or `client`.
    #[error("role must be agent or client")]
    Role,
    /// The agent id is invalid (or `*` on an agent line).
    #[error("invalid agent id (1-128 of A-Z a-z 0-9 . _ -; `*` only for clients)")]
    AgentId,
    /// The hash is not `sha256:` followed by 64 hex digits.
    #[error("hash must be sha256: followed by 64 hex digits")]
    Hash,
    /// The same hash appears on an earlier line.
    #[error("same hash as line {0}")]
    Duplicate(usize),
    /// The file is larger than [`MAX_TOKEN_FILE_LEN`](crate::MAX_TOKEN_FILE_LEN).
    #[error("file is larger than {0} bytes")]
    TooLarge(usize),
}

/// Why a key cannot be loaded, generated or used for signing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block with the expected label, or a broken block.
    #[error("expected a pem block labelled {label}")]
    Pem {
        /// The label looked for (`PUBLIC KEY`, `PRIVATE KEY`).
        label: &'static str,
    },
    /// The public key is not a P-256 (uncompressed point) or Ed25519 SubjectPublicKeyInfo.
    #[error("public key is not a p-256 or ed25519 subjectpublickeyinfo")]
    PublicKey,
    /// The private key is not a P-256 or Ed25519 PKCS#8 document.
    #[error("private key is not a p-256 or ed25519 pkcs#8 document")]
    PrivateKey,
    /// The `kid` is empty, longer than 128 bytes or holds a control character.
    #[error("invalid key id")]
    KeyId,
    /// The random source failed.
    #[error("random source failed")]
    Random,
    /// Signing failed.
    #[error("signing failed")]
    Sign,
    /// A claim to sign is invalid (agent id syntax, `*` for an agent, ttl overflow).
    #[error("invalid claim {0}")]
    Claim(&'static str),
}
