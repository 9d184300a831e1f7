//! Error types, one enum per operation family.

use crate::response::Status;
use crate::wire::Nonce;

/// The record header (first 7 bytes) cannot belong to a valid record.
///
/// Checked before anything else is buffered; the peer gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The version byte is not [`VERSION`](crate::VERSION).
    #[error("unknown wire version {0}")]
    UnknownVersion(u8),
    /// The kind byte is not the expected record kind.
    #[error("unexpected record kind {0}")]
    WrongKind(u8),
    /// The hop index is 0 or above [`MAX_HOPS`](crate::MAX_HOPS).
    #[error("hop index {0} outside 1..=16")]
    BadHopIndex(u8),
    /// The ciphertext length is out of range for this record kind.
    #[error("record length {len} outside {min}..={max}")]
    BadLength {
        /// The length field.
        len: usize,
        /// Smallest accepted length.
        min: usize,
        /// Largest accepted length.
        max: usize,
    },
    /// No key with this id is known (to the hop's keyring, or the client's hop key).
    #[error("unknown key id {0}")]
    UnknownKeyId(u16),
}

/// What is wrong inside an authenticated plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The plaintext ends inside a field.
    #[error("plaintext truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("trailing bytes after the last field")]
    TrailingBytes,
    /// Undefined flag bits are set.
    #[error("undefined flag bits {0:#04x}")]
    Flags(u8),
    /// Unknown next-address type.
    #[error("unknown next address type {0}")]
    AddressType(u8),
    /// Unknown client-address type.
    #[error("unknown client address type {0}")]
    ClientType(u8),
    /// The domain name is empty or holds characters outside letters, digits, `-`, `_`, `.`.
    #[error("invalid domain name")]
    Domain,
    /// The next port is 0.
    #[error("next port is 0")]
    ZeroPort,
    /// `hop_index + hop_limit - 1` exceeds [`MAX_HOPS`](crate::MAX_HOPS).
    #[error("hop limit {0} too large for this hop index")]
    HopLimit(u8),
    /// Unknown status code in a response.
    #[error("unknown status code {0}")]
    Status(u8),
    /// The hop index inside a response differs from its header.
    #[error("hop index {inner} inside a response for hop {header}")]
    HopMismatch {
        /// The header's hop index.
        header: u8,
        /// The plaintext's hop index.
        inner: u8,
    },
}

/// Identifies an authenticated request record, so a hop can answer it
/// ([`seal_response`](crate::seal_response)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordInfo {
    /// The record's hop index (1..=16).
    pub hop_index: u8,
    /// The key that sealed it.
    pub key_id: crate::KeyId,
    /// The record's nonce; the answer is bound to it.
    pub nonce: Nonce,
}

/// A hop could not accept a request record.
///
/// [`RequestError::reply`] says whether the hop may answer (the record authenticated) and with
/// which status; otherwise it closes without an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The header cannot belong to a valid request.
    #[error("invalid request header")]
    Frame(#[source] FrameError),
    /// The tag did not verify: wrong key or tampered bytes.
    #[error("request record did not authenticate")]
    Auth,
    /// The record authenticated but its plaintext is malformed.
    #[error("malformed request")]
    Malformed {
        /// The record.
        info: RecordInfo,
        /// What is wrong.
        #[source]
        reason: Malformed,
    },
    /// The timestamp is outside the accepted window (stale or from the future).
    #[error("request timestamp {skew_ms} ms away from now, outside the window")]
    Stale {
        /// The record.
        info: RecordInfo,
        /// `timestamp - now` in milliseconds (negative: in the past).
        skew_ms: i128,
    },
    /// The nonce was seen before within the window.
    #[error("replayed request")]
    Replayed {
        /// The record.
        info: RecordInfo,
    },
    /// The replay guard is full of fresh entries; denied because it cannot remember this one.
    #[error("replay guard full, request denied")]
    GuardFull {
        /// The record.
        info: RecordInfo,
    },
    /// The record's hop limit is 0.
    #[error("hop limit exceeded")]
    HopLimitExceeded {
        /// The record.
        info: RecordInfo,
    },
}

impl RequestError {
    /// The record to answer and the status to answer with, when the record authenticated;
    /// `None` when the hop must close without any answer.
    #[must_use]
    pub fn reply(&self) -> Option<(RecordInfo, Status)> {
        match self {
            Self::Frame(_) | Self::Auth => None,
            Self::Malformed { info, .. } => Some((*info, Status::ProtocolError)),
            Self::Stale { info, .. } | Self::Replayed { info } | Self::GuardFull { info } => {
                Some((*info, Status::AuthFailure))
            }
            Self::HopLimitExceeded { info } => Some((*info, Status::HopLimitExceeded)),
        }
    }
}

/// A response record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The header cannot belong to a valid response.
    #[error("invalid response header")]
    Frame(#[source] FrameError),
    /// The response is for another hop position.
    #[error("response for hop {got}, expected hop {expected}")]
    WrongHop {
        /// Expected hop index.
        expected: u8,
        /// Hop index in the header.
        got: u8,
    },
    /// The tag did not verify: wrong key, tampered bytes, or an answer to another request.
    #[error("response record did not authenticate")]
    Auth,
    /// The record authenticated but its plaintext is malformed.
    #[error("malformed response")]
    Malformed(#[source] Malformed),
}

/// Sealing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The random source failed to produce a nonce.
    #[error("random source failed")]
    Random,
    /// The hop index is 0 or above 16, or the hop limit is too large for it.
    #[error("hop index {hop_index} with hop limit {hop_limit} out of range")]
    HopRange {
        /// The hop index.
        hop_index: u8,
        /// The hop limit.
        hop_limit: u8,
    },
    /// Flags with undefined bits.
    #[error("undefined flag bits {0:#04x}")]
    Flags(u8),
    /// The AEAD rejected the key (cannot happen for 32-byte ChaCha20-Poly1305 keys).
    #[error("key rejected by the cipher")]
    Key,
}
