//! Memcached keys for agent ids.
//!
//! - `ferry:agent:<id>` when every byte of the id is in `[A-Za-z0-9._-]` and the key fits in
//!   memcached's 250 bytes (ids up to 238 bytes; every id `ferry-auth` accepts fits);
//! - otherwise `ferry:agent:h:<sha256(id) as 64 lowercase hex digits>`.
//!
//! A plain id never contains `:`, so no plain key can equal a hashed one.

use ferry_memcache::{Key, MAX_KEY_LEN};

/// Prefix of every key.
pub const KEY_PREFIX: &str = "ferry:agent:";
/// Prefix of hashed keys.
pub const HASHED_PREFIX: &str = "ferry:agent:h:";

/// The memcached key for `agent`: always a valid key, for any input.
#[must_use]
pub fn agent_key(agent: &str) -> Key {
    let plain = !agent.is_empty()
        && KEY_PREFIX.len() + agent.len() <= MAX_KEY_LEN
        && agent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let text = if plain {
        format!("{KEY_PREFIX}{agent}")
    } else {
        let digest = ring::digest::digest(&ring::digest::SHA256, agent.as_bytes());
        format!("{HASHED_PREFIX}{}", hex(digest.as_ref()))
    };
    // Both shapes are printable ASCII without spaces and at most 12 + 238 or 14 + 64 bytes.
    Key::new(text).unwrap_or_else(|_unreachable| hashed_fallback())
}

/// Never used: both key shapes above are valid. Kept so that `agent_key` has no panic path.
fn hashed_fallback() -> Key {
    Key::new(HASHED_PREFIX).unwrap_or_else(|_unreachable| hashed_fallback())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(nibble_char(b >> 4));
        out.push(nibble_char(b & 0x0f));
    }
    out
}

/// The lowercase hex digit of the nibble `n` (`n < 16`).
fn nibble_char(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed_keys() {
        assert_eq!(agent_key("edge-1.a_b").as_str(), "ferry:agent:edge-1.a_b");
        // SHA-256("") is e3b0c442...; the empty id is hashed.
        assert!(agent_key("").as_str().starts_with("ferry:agent:h:e3b0c442"));
        let spaced = agent_key("a b");
        assert!(spaced.as_str().starts_with(HASHED_PREFIX));
        assert_eq!(spaced.as_str().len(), HASHED_PREFIX.len() + 64);
        // A plain-looking id that would collide with the hashed namespace is hashed itself.
        assert!(agent_key("h:abc").as_str().starts_with(HASHED_PREFIX));
        assert_eq!(agent_key(&"a".repeat(238)).as_str().len(), 250);
        assert!(
            agent_key(&"a".repeat(239))
                .as_str()
                .starts_with(HASHED_PREFIX)
        );
        assert!(agent_key("é").as_str().starts_with(HASHED_PREFIX));
    }
}
