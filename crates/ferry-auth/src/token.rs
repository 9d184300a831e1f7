//! Static tokens: the token file (hashes only), lookup in constant time, and generation.
//!
//! # Token file format
//!
//! UTF-8 text, one entry per line: `ROLE AGENT sha256:HEX`, fields separated by spaces or tabs.
//! `ROLE` is `agent` or `client`; `AGENT` is an agent id (see
//! [`is_valid_agent_id`]), or `*` on a `client` line for a client
//! token valid for every agent; `HEX` is the SHA-256 of the token, 64 hex digits. Blank lines and
//! lines whose first non-blank character is `#` are ignored. A hash may appear only once. The
//! file holds no secret: tokens are 256-bit random values, so a plain (unsalted, fast) hash is
//! enough; a salt or a slow hash protects guessable passwords, which these are not.
//!
//! ```text
//! # ferry gateway tokens
//! agent  edge-1  sha256:0d5c...   (64 hex digits)
//! client edge-1  sha256:9a1f...
//! client *       sha256:77e0...
//! ```

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom;

use crate::ct::{Digest, digest_eq, sha256};
use crate::error::{KeyError, TokenFileError, TokenFileErrorKind};
use crate::role::{Role, is_valid_agent_id};

/// Largest token file accepted: 4 MiB.
pub const MAX_TOKEN_FILE_LEN: usize = 4 << 20;

/// Prefix of generated tokens (lets secret scanners and humans recognise them).
pub const TOKEN_PREFIX: &str = "fy1_";

/// Which agents a token file entry is good for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// One agent id.
    Agent(String),
    /// Every agent (`*`; client entries only).
    Any,
}

/// One token file entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenEntry {
    /// The role the token is for.
    pub role: Role,
    /// The agents it is good for.
    pub scope: Scope,
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// 1-based line in the file.
    pub line: usize,
}

/// The parsed token file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenStore {
    entries: Vec<TokenEntry>,
}

impl TokenStore {
    /// Parses a token file (format in the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`TokenFileError`] naming the first bad line.
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        if text.len() > MAX_TOKEN_FILE_LEN {
            return Err(TokenFileError {
                line: 0,
                kind: TokenFileErrorKind::TooLarge(MAX_TOKEN_FILE_LEN),
            });
        }
        let mut entries: Vec<TokenEntry> = Vec::new();
        let mut seen: HashMap<[u8; 32], usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |kind| TokenFileError { line, kind };
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = content
                .split([' ', '\t'])
                .filter(|f| !f.is_empty())
                .collect();
            let [role, agent, hash] = fields.as_slice() else {
                return Err(err(TokenFileErrorKind::Fields(fields.len())));
            };
            let role: Role = role.parse().map_err(|_bad| err(TokenFileErrorKind::Role))?;
            let scope = parse_scope(role, agent).ok_or_else(|| err(TokenFileErrorKind::AgentId))?;
            let hash = parse_hash(hash).ok_or_else(|| err(TokenFileErrorKind::Hash))?;
            if let Some(first) = seen.insert(hash, line) {
                return Err(err(TokenFileErrorKind::Duplicate(first)));
            }
            entries.push(TokenEntry {
                role,
                scope,
                hash,
                line,
            });
        }
        Ok(Self { entries })
    }

    /// The entries, in file order.
    #[must_use]
    pub fn entries(&self) -> &[TokenEntry] {
        &self.entries
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `token` is a valid token for `role` and `agent_id`. The token is hashed and the
    /// digest compared with every entry's in constant time (no early exit), so timing says
    /// nothing about the token; it may say how many entries the file has. Cost: one SHA-256 and
    /// a 32-byte comparison per entry, so linear in the size of the file.
    #[must_use]
    pub fn contains(&self, role: Role, agent_id: &str, token: &str) -> bool {
        let presented: Digest = sha256(token.as_bytes());
        let mut found = false;
        for entry in &self.entries {
            let hash_ok = digest_eq(&entry.hash, &presented);
            let scope_ok = match &entry.scope {
                Scope::Any => true,
                Scope::Agent(id) => id == agent_id,
            };
            found |= hash_ok & scope_ok & (entry.role == role);
        }
        found
    }
}

fn parse_scope(role: Role, agent: &str) -> Option<Scope> {
    if agent == "*" {
        return (role == Role::Client).then_some(Scope::Any);
    }
    is_valid_agent_id(agent).then(|| Scope::Agent(agent.to_owned()))
}

fn parse_hash(field: &str) -> Option<[u8; 32]> {
    let hex = field.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let hi = hex_digit(*pair.first()?)?;
        let lo = hex_digit(*pair.get(1)?)?;
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(nibble_char(b >> 4));
        s.push(nibble_char(b & 0x0f));
    }
    s
}

/// The lowercase hex digit of the nibble `n` (`n < 16`).
fn nibble_char(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

/// A new random token: [`TOKEN_PREFIX`] and 32 random bytes in base64url (47 characters).
///
/// # Errors
///
/// [`KeyError::Random`] when the random source fails.
pub fn generate_token(rng: &dyn SecureRandom) -> Result<String, KeyError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)
        .map_err(|_unspecified| KeyError::Random)?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The token file line for `token`: `ROLE AGENT sha256:HEX`. `agent` is an agent id, or `*`
/// for a client token valid for every agent.
///
/// # Errors
///
/// [`KeyError::Claim`] when `agent` is not a valid agent id (or `*` with [`Role::Agent`]).
pub fn token_line(role: Role, agent: &str, token: &str) -> Result<String, KeyError> {
    if parse_scope(role, agent).is_none() {
        return Err(KeyError::Claim("agent_id"));
    }
    Ok(format!(
        "{role} {agent} sha256:{}",
        hex(&sha256(token.as_bytes()))
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hex_roundtrip() {
        let h = sha256(b"x");
        assert_eq!(parse_hash(&format!("sha256:{}", hex(&h))), Some(h));
        assert_eq!(
            parse_hash(&format!("sha256:{}", hex(&h).to_uppercase())),
            Some(h)
        );
        assert_eq!(parse_hash(&hex(&h)), None);
        assert_eq!(parse_hash("sha256:zz"), None);
    }

    #[test]
    fn generated_token_is_in_its_line() {
        let rng = ring::rand::SystemRandom::new();
        let token = generate_token(&rng).unwrap();
        assert_eq!(token.len(), 47);
        let line = token_line(Role::Client, "*", &token).unwrap();
        let store = TokenStore::parse(&line).unwrap();
        assert!(store.contains(Role::Client, "any-agent", &token));
        assert!(!store.contains(Role::Agent, "any-agent", &token));
        assert!(token_line(Role::Agent, "*", &token).is_err());
    }
}
