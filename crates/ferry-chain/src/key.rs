//! Hop keys and keyrings (several keys per hop for rotation), and the key-file format.

use std::collections::BTreeMap;
use std::fmt;

use ring::aead::{CHACHA20_POLY1305, LessSafeKey, UnboundKey};

/// Key length in bytes (ChaCha20-Poly1305).
pub const KEY_LEN: usize = 32;

/// Most keys in one keyring.
pub const MAX_KEYS: usize = 64;

/// The id of a hop key, written in every record's header so a hop with several keys picks the
/// right one without trial decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u16);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One 32-byte ChaCha20-Poly1305 key with its id. `Debug` never shows the key bytes.
#[derive(Clone)]
pub struct HopKey {
    id: KeyId,
    bytes: [u8; KEY_LEN],
}

impl HopKey {
    /// A key from its id and 32 bytes.
    #[must_use]
    pub fn new(id: KeyId, bytes: [u8; KEY_LEN]) -> Self {
        Self { id, bytes }
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The ring key. ChaCha20-Poly1305 key setup is a copy of the 32 bytes, so it is done per
    /// record; `None` cannot happen for a 32-byte key (ring only rejects other lengths).
    pub(crate) fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.bytes)
            .ok()
            .map(LessSafeKey::new)
    }
}

impl fmt::Debug for HopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HopKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for HopKey {
    fn eq(&self, other: &Self) -> bool {
        // Constant time over the key bytes.
        let diff = self
            .bytes
            .iter()
            .zip(&other.bytes)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        self.id == other.id && diff == 0
    }
}

impl Eq for HopKey {}

/// A key file or key variable could not be parsed. Messages name the entry, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The entry is not `KEY_ID HEX`.
    #[error("key entry {entry}: expected `KEY_ID HEX`")]
    Syntax {
        /// 1-based entry number.
        entry: usize,
    },
    /// The key id is not a decimal number in 0..=65535.
    #[error("key entry {entry}: key id is not a number in 0..=65535")]
    BadId {
        /// 1-based entry number.
        entry: usize,
    },
    /// The key is not 64 hex digits.
    #[error("key entry {entry} (id {id}): key is not 64 hex digits")]
    BadKey {
        /// 1-based entry number.
        entry: usize,
        /// The entry's key id.
        id: u16,
    },
    /// The key id appears twice.
    #[error("key entry {entry}: duplicate key id {id}")]
    Duplicate {
        /// 1-based entry number.
        entry: usize,
        /// The repeated key id.
        id: u16,
    },
    /// No key at all.
    #[error("no keys given")]
    Empty,
    /// More than [`MAX_KEYS`] keys.
    #[error("more than 64 keys")]
    TooMany,
}

/// The keys a hop accepts, by id (at least one, at most [`MAX_KEYS`]).
///
/// Rotation: add the new key to every hop's keyring, switch clients to it, then remove the old
/// one. The text format (see [`Keyring::parse`]) is the same for files and environment
/// variables; programs never take keys on the command line.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: BTreeMap<KeyId, HopKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring from keys.
    ///
    /// # Errors
    ///
    /// [`KeyError::Empty`], [`KeyError::TooMany`], or [`KeyError::Duplicate`] (entry numbers
    /// count from 1 in iteration order).
    pub fn new(keys: impl IntoIterator<Item = HopKey>) -> Result<Self, KeyError> {
        let mut map = BTreeMap::new();
        for (i, key) in keys.into_iter().enumerate() {
            let id = key.id();
            if map.insert(id, key).is_some() {
                return Err(KeyError::Duplicate {
                    entry: i + 1,
                    id: id.0,
                });
            }
            if map.len() > MAX_KEYS {
                return Err(KeyError::TooMany);
            }
        }
        if map.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys: map })
    }

    /// Parses key-file text (the contents of a key file or of an environment variable).
    ///
    /// Entries are separated by newlines or commas; `#` starts a comment up to the end of the
    /// line; blank entries are ignored. Each entry is `KEY_ID HEX`: a decimal id in
    /// `0..=65535`, whitespace, then 64 hex digits (32 bytes).
    ///
    /// ```
    /// let ring = ferry_chain::Keyring::parse(
    ///     "# rotation: 2 is new\n2 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\
    ///      1 1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
    /// )?;
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), ferry_chain::KeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`KeyError`] naming the first bad entry.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let mut entry = 0;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            for piece in line.split(',') {
                let piece = piece.trim();
                if piece.is_empty() {
                    continue;
                }
                entry += 1;
                if keys.len() >= MAX_KEYS {
                    return Err(KeyError::TooMany);
                }
                keys.push(parse_entry(piece, entry)?);
            }
        }
        Self::new(keys)
    }

    /// The key with this id.
    #[must_use]
    pub fn get(&self, id: KeyId) -> Option<&HopKey> {
        self.keys.get(&id)
    }

    /// Number of keys (at least 1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a keyring holds at least one key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }
}

fn parse_entry(piece: &str, entry: usize) -> Result<HopKey, KeyError> {
    let mut words = piece.split_whitespace();
    let (Some(id), Some(hex), None) = (words.next(), words.next(), words.next()) else {
        return Err(KeyError::Syntax { entry });
    };
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyError::BadId { entry });
    }
    let id: u16 = id
        .parse()
        .map_err(|_not_a_number| KeyError::BadId { entry })?;
    let bytes = decode_hex32(hex).ok_or(KeyError::BadKey { entry, id })?;
    Ok(HopKey::new(KeyId(id), bytes))
}

fn decode_hex32(hex: &str) -> Option<[u8; KEY_LEN]> {
    let raw = hex.as_bytes();
    if raw.len() != 2 * KEY_LEN {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (o, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
        let hi = hex_digit(*pair.first()?)?;
        let lo = hex_digit(*pair.get(1)?)?;
        *o = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
