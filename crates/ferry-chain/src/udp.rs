//! UDP framing: one datagram carries the stacked request records then the payload; replies
//! carry one response record per hop then the reply payload.

use bytes::BufMut;

use crate::chain::{Chain, SealedChain, StatusError};
use crate::error::{RecordInfo, RequestError, ResponseError, SealError};
use crate::key::{HopKey, Keyring};
use crate::replay::ReplayGuard;
use crate::request::{OpenedRequest, decode_request};
use crate::response::{Status, decode_response, seal_response};
use crate::wire::{Nonce, RESPONSE_RECORD_LEN};
use crate::{Decoded, Response};

/// Largest UDP payload over IPv4 (65 535 - 8 - 20).
pub const MAX_DATAGRAM: usize = 65_507;

/// A datagram could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// Records plus payload exceed [`MAX_DATAGRAM`].
    #[error("datagram of {len} bytes exceeds {max}")]
    TooLarge {
        /// The datagram length it would have.
        len: usize,
        /// [`MAX_DATAGRAM`].
        max: usize,
    },
    /// The datagram ends inside a record (a datagram is always complete).
    #[error("datagram truncated inside a record")]
    Truncated,
    /// This hop's request record was refused; answer only when
    /// [`RequestError::reply`] says so (never for a record that did not authenticate).
    #[error("request record refused")]
    Request(#[source] RequestError),
    /// The reply's response records did not verify against any recent request, or a hop failed.
    #[error("reply refused")]
    Reply(#[source] StatusError),
}

/// Client: `records` (from [`Chain::seal`] with `udp: true`) followed by `payload`.
///
/// # Errors
///
/// [`UdpError::TooLarge`] when the datagram would exceed [`MAX_DATAGRAM`].
pub fn encode_datagram(
    sealed: &SealedChain,
    payload: &[u8],
    out: &mut impl BufMut,
) -> Result<(), UdpError> {
    let len = sealed.bytes.len() + payload.len();
    if len > MAX_DATAGRAM {
        return Err(UdpError::TooLarge {
            len,
            max: MAX_DATAGRAM,
        });
    }
    out.put_slice(&sealed.bytes);
    out.put_slice(payload);
    Ok(())
}

/// Hop: opens this hop's record at the start of `datagram` (same checks and guard updates as
/// [`decode_request`]) and returns it with the rest to forward unchanged to its next address.
///
/// # Errors
///
/// [`UdpError::Truncated`] when the datagram ends inside the record, [`UdpError::Request`]
/// otherwise.
pub fn open_datagram<'d>(
    datagram: &'d [u8],
    keyring: &Keyring,
    now_unix_ms: u64,
    guard: &mut ReplayGuard,
) -> Result<(OpenedRequest, &'d [u8]), UdpError> {
    match decode_request(datagram, keyring, now_unix_ms, guard).map_err(UdpError::Request)? {
        Decoded::NeedMore { .. } => Err(UdpError::Truncated),
        Decoded::Done { value, consumed } => {
            Ok((value, datagram.get(consumed..).unwrap_or_default()))
        }
    }
}

/// Hop: prepends this hop's response to `reply` (a reply from its next address: the
/// destination's bare payload, or the next hop's records and payload).
///
/// # Errors
///
/// [`WrapError::TooLarge`] when the result would exceed [`MAX_DATAGRAM`];
/// [`WrapError::Seal`] when the hop index is out of range.
pub fn wrap_reply(
    key: &HopKey,
    answering: &RecordInfo,
    status: Status,
    nonce: Nonce,
    reply: &[u8],
    out: &mut impl BufMut,
) -> Result<(), WrapError> {
    let len = RESPONSE_RECORD_LEN + reply.len();
    if len > MAX_DATAGRAM {
        return Err(WrapError::TooLarge {
            len,
            max: MAX_DATAGRAM,
        });
    }
    seal_response(key, answering, status, nonce, out).map_err(WrapError::Seal)?;
    out.put_slice(reply);
    Ok(())
}

/// A reply could not be wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// The wrapped reply would exceed [`MAX_DATAGRAM`].
    #[error("reply of {len} bytes exceeds {max}")]
    TooLarge {
        /// The length it would have.
        len: usize,
        /// [`MAX_DATAGRAM`].
        max: usize,
    },
    /// Sealing failed.
    #[error("cannot seal the response")]
    Seal(#[source] SealError),
}

/// Client: strips the `N` response records from a reply and returns the payload.
///
/// Each hop's record must verify against that hop's nonce in one of `recent` (the nonce lists
/// of recently sent datagrams, any order); at most `recent.len()` tries per hop.
///
/// # Errors
///
/// [`UdpError::Truncated`] when the reply is shorter than the records;
/// [`UdpError::Reply`] naming the first hop whose record is invalid or not `Ok`.
pub fn open_reply<'d>(
    chain: &Chain,
    recent: &[Vec<Nonce>],
    datagram: &'d [u8],
) -> Result<&'d [u8], UdpError> {
    let mut at = 0;
    for (i, hop) in chain.hops().iter().enumerate() {
        let hop_index = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let rest = datagram.get(at..).unwrap_or_default();
        let mut last = ResponseError::Auth;
        let mut found: Option<Response> = None;
        for nonces in recent {
            let Some(nonce) = nonces.get(i) else { continue };
            match decode_response(rest, &hop.key, hop_index, nonce) {
                Ok(Decoded::Done { value, .. }) => {
                    found = Some(value);
                    break;
                }
                Ok(Decoded::NeedMore { .. }) => return Err(UdpError::Truncated),
                Err(ResponseError::Auth) => {}
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        let Some(response) = found else {
            return Err(UdpError::Reply(StatusError::Response {
                hop: hop_index,
                error: last,
            }));
        };
        if !response.status.is_ok() {
            return Err(UdpError::Reply(StatusError::HopFailed {
                hop: hop_index,
                status: response.status,
            }));
        }
        at += RESPONSE_RECORD_LEN;
    }
    Ok(datagram.get(at..).unwrap_or_default())
}
