//! Constants and the 19-byte cleartext record header (docs/wire/chain-header.md).

use crate::error::FrameError;
use crate::key::KeyId;

/// Wire version written and accepted by this crate.
pub const VERSION: u8 = 1;
/// Record kind byte of a sealed request.
pub const KIND_REQUEST: u8 = 0x01;
/// Record kind byte of a sealed response.
pub const KIND_RESPONSE: u8 = 0x02;
/// Most hops in a chain; hop indexes are `1..=MAX_HOPS`.
pub const MAX_HOPS: u8 = 16;
/// Length of the cleartext record header: version, kind, hop index, key id, length, nonce.
pub const HEADER_LEN: usize = 19;
/// Bytes of the header a decoder needs before it can reject a record (everything but the nonce).
pub const PREFIX_LEN: usize = 7;
/// Nonce length (96 bits).
pub const NONCE_LEN: usize = 12;
/// AEAD tag length (ChaCha20-Poly1305).
pub const TAG_LEN: usize = 16;
/// Smallest request plaintext (one-letter domain, no client address).
pub const MIN_REQUEST_PLAINTEXT: usize = 16;
/// Largest request plaintext (255-byte domain, IPv6 client address).
pub const MAX_REQUEST_PLAINTEXT: usize = 288;
/// Largest request record on the wire: header plus sealed plaintext plus tag (323 bytes).
pub const MAX_REQUEST_RECORD: usize = HEADER_LEN + MAX_REQUEST_PLAINTEXT + TAG_LEN;
/// Response plaintext length (hop index, status).
pub const RESPONSE_PLAINTEXT: usize = 2;
/// Length of every response record on the wire (37 bytes).
pub const RESPONSE_RECORD_LEN: usize = HEADER_LEN + RESPONSE_PLAINTEXT + TAG_LEN;

/// A 96-bit record nonce.
pub type Nonce = [u8; NONCE_LEN];

/// The parsed cleartext header of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: u8,
    pub(crate) hop_index: u8,
    pub(crate) key_id: KeyId,
    pub(crate) length: usize,
}

impl Header {
    /// Checks the first [`PREFIX_LEN`] bytes of `buf` (which must hold them).
    pub(crate) fn check(
        prefix: &[u8; PREFIX_LEN],
        kind: u8,
        min: usize,
        max: usize,
    ) -> Result<Self, FrameError> {
        let [version, k, hop_index, id0, id1, l0, l1] = *prefix;
        if version != VERSION {
            return Err(FrameError::UnknownVersion(version));
        }
        if k != kind {
            return Err(FrameError::WrongKind(k));
        }
        if hop_index == 0 || hop_index > MAX_HOPS {
            return Err(FrameError::BadHopIndex(hop_index));
        }
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if length < min || length > max {
            return Err(FrameError::BadLength {
                len: length,
                min,
                max,
            });
        }
        Ok(Self {
            kind,
            hop_index,
            key_id: KeyId(u16::from_be_bytes([id0, id1])),
            length,
        })
    }

    /// The header's first [`PREFIX_LEN`] bytes, which are (the start of) the associated data.
    pub(crate) fn prefix(&self) -> [u8; PREFIX_LEN] {
        let [i0, i1] = self.key_id.0.to_be_bytes();
        // Lengths are bounded by the callers (<= 304), so the cast cannot truncate.
        let [l0, l1] = u16::try_from(self.length).unwrap_or(u16::MAX).to_be_bytes();
        [VERSION, self.kind, self.hop_index, i0, i1, l0, l1]
    }
}

/// Splits `buf` into the record prefix when it holds one.
pub(crate) fn prefix_of(buf: &[u8]) -> Option<&[u8; PREFIX_LEN]> {
    buf.get(..PREFIX_LEN).and_then(|p| p.try_into().ok())
}
