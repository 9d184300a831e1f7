//! Authentication for Ferry's reverse tunnel: agents prove the agent id they connect as, and
//! clients prove they may use an agent, with either a **static token** or a **JWT**.
//!
//! **What it does:**
//! - static tokens: a token file holding only SHA-256 hashes ([`TokenStore`], format in
//!   [`token`]), lookup by hashing the presented token and comparing digests in constant time;
//!   generation of tokens and their file lines ([`generate_token`], [`token_line`]);
//! - JWTs: compact JWS verified with `ring`, only `ES256` and `EdDSA`, with the algorithm taken
//!   from the configured key, `exp` required, `nbf`, `aud`, `iss`, `role` and `agent_id` checked
//!   ([`JwtVerifier`], rules in [`jwt`]); key-pair generation and signing ([`generate_key_pair`],
//!   [`sign_jwt`]); keys as PEM (SPKI public, PKCS#8 private), several at once for rotation;
//! - one front for both, [`Authenticator::verify`], returning an [`Identity`] or an
//!   [`AuthError`] that never contains the secret.
//!
//! **What it does not do:** read files, read the clock (time is a parameter, unix seconds),
//! draw randomness of its own (a [`ring::rand::SecureRandom`] is passed in), rate-limit failed
//! attempts (the caller does, e.g. with `ferry-limit`), revoke JWTs before `exp`, fetch JWKS,
//! or use keys embedded in a token (`jwk`, `jku`, `x5c` headers are ignored). No tokio.
//!
//! # Example
//!
//! ```
//! use ferry_auth::{
//!     Algorithm, Authenticator, JwtConfig, JwtSpec, JwtVerifier, Method, Role, SigningKey,
//!     TokenStore, VerifyingKey, generate_key_pair, generate_token, sign_jwt, token_line,
//! };
//! use ring::rand::SystemRandom;
//!
//! let rng = SystemRandom::new();
//! let now = 1_800_000_000;
//!
//! // A static client token for agent edge-1: the gateway keeps only the line.
//! let token = generate_token(&rng)?;
//! let store = TokenStore::parse(&token_line(Role::Client, "edge-1", &token)?)?;
//!
//! // An Ed25519 key pair; the gateway keeps only the public key.
//! let pair = generate_key_pair(Algorithm::EdDsa, &rng)?;
//! let signer = SigningKey::from_pem(&pair.private_pkcs8_pem, None, &rng)?;
//! let keys = VerifyingKey::from_pem(&pair.public_spki_pem, None)?;
//! let jwt = sign_jwt(&signer, &JwtSpec::new(Role::Agent, "edge-1", 3600).with_audience("gw"), now, &rng)?;
//!
//! let auth = Authenticator::new()
//!     .with_tokens(store)
//!     .with_jwt(JwtVerifier::new(keys, JwtConfig::default().with_audience("gw")));
//!
//! let client = auth.verify(Role::Client, "edge-1", &token, now)?;
//! assert_eq!(client.method, Method::StaticToken);
//! let agent = auth.verify(Role::Agent, "edge-1", &jwt, now)?;
//! assert_eq!((agent.method, agent.agent_id.as_str()), (Method::Jwt, "edge-1"));
//!
//! // Wrong agent, wrong role, expired: refused.
//! assert!(auth.verify(Role::Client, "edge-2", &token, now).is_err());
//! assert!(auth.verify(Role::Client, "edge-1", &jwt, now).is_err());
//! assert!(auth.verify(Role::Agent, "edge-1", &jwt, now + 7200).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod authenticator;
mod ct;
mod error;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod jwt;
mod key;
mod pem;
mod role;
pub mod token;

pub use authenticator::{Authenticator, MAX_SECRET_LEN};
pub use error::{AuthError, JwtError, KeyError, TokenFileError, TokenFileErrorKind};
pub use jwt::{
    DEFAULT_LEEWAY_SECS, JwtConfig, JwtSpec, JwtVerifier, MAX_JWT_LEN, looks_like_jwt, sign_jwt,
};
pub use key::{Algorithm, KeyPairPem, MAX_KID_LEN, SigningKey, VerifyingKey, generate_key_pair};
pub use role::{Identity, MAX_AGENT_ID_LEN, Method, Role, RoleError, is_valid_agent_id};
pub use token::{
    MAX_TOKEN_FILE_LEN, Scope, TOKEN_PREFIX, TokenEntry, TokenStore, generate_token, token_line,
};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
