//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;

use crate::{
    Authenticator, JwtConfig, JwtSpec, JwtVerifier, Role, SigningKey, TokenStore, sign_jwt,
    token_line,
};

/// The fixed time every harness uses.
pub const NOW: u64 = 1_800_000_000;

/// A fixed Ed25519 key (seed `0..32`, kid `k1`).
#[must_use]
pub fn signing_key() -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap();
    }
    SigningKey::from_ed25519_seed(&seed, Some("k1".into())).unwrap()
}

/// An authenticator with [`signing_key`]'s public key (audience `gw`) and one static client
/// token `fy1_static` for agent `a1`.
#[must_use]
pub fn authenticator() -> Authenticator {
    let key = signing_key().verifying_key();
    let store = TokenStore::parse(&token_line(Role::Client, "a1", "fy1_static").unwrap()).unwrap();
    Authenticator::new()
        .with_tokens(store)
        .with_jwt(JwtVerifier::new(
            vec![key],
            JwtConfig::default().with_audience("gw"),
        ))
}

/// A valid JWT for `role` and agent `a1`, audience `gw`, issued at [`NOW`] for an hour.
#[must_use]
pub fn valid_jwt(role: Role) -> String {
    let spec = JwtSpec::new(role, "a1", 3600).with_audience("gw");
    sign_jwt(&signing_key(), &spec, NOW, &SystemRandom::new()).unwrap()
}

/// Arbitrary bytes as a credential, as-is and spliced into a valid JWT (header, payload or
/// signature replaced): never panics; anything accepted is exactly the original token.
pub fn jwt(data: &[u8]) {
    let auth = authenticator();
    let text = String::from_utf8_lossy(data);
    for role in [Role::Agent, Role::Client] {
        if let Ok(id) = auth.verify(role, "a1", &text, NOW) {
            let static_ok = role == Role::Client && text == "fy1_static";
            assert!(
                static_ok || text == valid_jwt(role).as_str(),
                "forged credential accepted"
            );
            assert_eq!(id.agent_id, "a1");
        }
    }
    let valid = valid_jwt(Role::Agent);
    let parts: Vec<&str> = valid.split('.').collect();
    let fuzzed = URL_SAFE_NO_PAD.encode(data);
    for i in 0..3 {
        let mut p = parts.clone();
        p[i] = &fuzzed;
        let token = p.join(".");
        if token != valid {
            assert!(
                auth.verify(Role::Agent, "a1", &token, NOW).is_err(),
                "spliced token accepted: part {i}"
            );
        }
    }
}

/// Arbitrary text as a token file: never panics; a parsed file's entries have valid fields and
/// errors name a line within the file.
pub fn token_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match TokenStore::parse(&text) {
        Ok(store) => {
            for e in store.entries() {
                assert!(e.line >= 1 && e.line <= text.lines().count());
            }
            let _ = store.contains(Role::Client, "a1", "x");
        }
        Err(e) => assert!(e.line <= text.lines().count()),
    }
}
