//! Per-hop sealed responses: status codes, sealing, and the client-side decoder.

use std::fmt;

use bytes::BufMut;

use crate::Decoded;
use crate::error::{FrameError, Malformed, RecordInfo, ResponseError, SealError};
use crate::key::HopKey;
use crate::record::{open_record, seal_record};
use crate::wire::{
    HEADER_LEN, Header, KIND_RESPONSE, Nonce, PREFIX_LEN, RESPONSE_PLAINTEXT, TAG_LEN, prefix_of,
};

/// A hop's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The hop dialed its next address; relayed bytes follow.
    Ok,
    /// The next address's name did not resolve.
    DnsFailure,
    /// The next address refused the connection.
    Refused,
    /// No route to the next address.
    Unreachable,
    /// The dial did not finish in time.
    Timeout,
    /// The hop's policy denies the next address.
    Denied,
    /// The record authenticated but is stale, from the future, or replayed.
    AuthFailure,
    /// The record authenticated but its plaintext is malformed.
    ProtocolError,
    /// The record's hop limit was 0.
    HopLimitExceeded,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Self; 9] = [
        Self::Ok,
        Self::DnsFailure,
        Self::Refused,
        Self::Unreachable,
        Self::Timeout,
        Self::Denied,
        Self::AuthFailure,
        Self::ProtocolError,
        Self::HopLimitExceeded,
    ];

    /// The wire code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::DnsFailure => 1,
            Self::Refused => 2,
            Self::Unreachable => 3,
            Self::Timeout => 4,
            Self::Denied => 5,
            Self::AuthFailure => 6,
            Self::ProtocolError => 7,
            Self::HopLimitExceeded => 8,
        }
    }

    /// The status for a wire code.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Whether this is [`Status::Ok`].
    #[must_use]
    pub fn is_ok(self) -> bool {
        self == Self::Ok
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::DnsFailure => "dns failure",
            Self::Refused => "connection refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Denied => "denied by policy",
            Self::AuthFailure => "authentication failure",
            Self::ProtocolError => "protocol error",
            Self::HopLimitExceeded => "hop limit exceeded",
        })
    }
}

/// An opened response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Response {
    /// The answering hop's index.
    pub hop_index: u8,
    /// Its status.
    pub status: Status,
}

/// Seals a response to the request `answering` (hop index, key id and nonce from
/// [`OpenedRequest::info`](crate::OpenedRequest) or [`RequestError::reply`](crate::RequestError::reply))
/// with `key` and a fresh `nonce`, appending [`RESPONSE_RECORD_LEN`](crate::RESPONSE_RECORD_LEN)
/// bytes to `out`.
///
/// # Errors
///
/// [`SealError::HopRange`] when the hop index is out of range; [`SealError::Key`] is not expected.
pub fn seal_response(
    key: &HopKey,
    answering: &RecordInfo,
    status: Status,
    nonce: Nonce,
    out: &mut impl BufMut,
) -> Result<(), SealError> {
    let hop_index = answering.hop_index;
    if hop_index == 0 || hop_index > crate::MAX_HOPS {
        return Err(SealError::HopRange {
            hop_index,
            hop_limit: 0,
        });
    }
    let header = Header {
        kind: KIND_RESPONSE,
        hop_index,
        key_id: key.id(),
        length: RESPONSE_PLAINTEXT + TAG_LEN,
    };
    let mut plain = [hop_index, status.code()];
    seal_record(key, &header, nonce, &answering.nonce, &mut plain, out)
}

/// Decodes the response record at the start of `buf` (client side): it must come from hop
/// `hop_index`, be sealed with `key` and answer the request sealed with `request_nonce`.
///
/// Fewer bytes than a record is [`Decoded::NeedMore`]; a response is always
/// [`RESPONSE_RECORD_LEN`](crate::RESPONSE_RECORD_LEN) bytes.
///
/// # Errors
///
/// A [`ResponseError`]: bad header, another hop, another key, tag failure (including an answer
/// to another request), or a malformed plaintext.
pub fn decode_response(
    buf: &[u8],
    key: &HopKey,
    hop_index: u8,
    request_nonce: &Nonce,
) -> Result<Decoded<Response>, ResponseError> {
    let Some(prefix) = prefix_of(buf) else {
        return Ok(Decoded::NeedMore {
            at_least: PREFIX_LEN,
        });
    };
    let len = RESPONSE_PLAINTEXT + TAG_LEN;
    let header = Header::check(prefix, KIND_RESPONSE, len, len).map_err(ResponseError::Frame)?;
    if header.hop_index != hop_index {
        return Err(ResponseError::WrongHop {
            expected: hop_index,
            got: header.hop_index,
        });
    }
    if header.key_id != key.id() {
        return Err(ResponseError::Frame(FrameError::UnknownKeyId(
            header.key_id.0,
        )));
    }
    let total = HEADER_LEN + len;
    let Some(record) = buf.get(..total) else {
        return Ok(Decoded::NeedMore { at_least: total });
    };
    let mut scratch = [0u8; RESPONSE_PLAINTEXT + TAG_LEN];
    let (_, plain) = open_record(key, &header, record, request_nonce, &mut scratch)
        .ok_or(ResponseError::Auth)?;
    let [inner, code] = *plain else {
        return Err(ResponseError::Malformed(Malformed::Truncated));
    };
    if inner != header.hop_index {
        return Err(ResponseError::Malformed(Malformed::HopMismatch {
            header: header.hop_index,
            inner,
        }));
    }
    let status =
        Status::from_code(code).ok_or(ResponseError::Malformed(Malformed::Status(code)))?;
    Ok(Decoded::Done {
        value: Response { hop_index, status },
        consumed: total,
    })
}
