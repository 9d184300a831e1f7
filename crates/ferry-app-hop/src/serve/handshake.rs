//! Reading one hop's request record from a stream, bounded in size (and, by the caller, in
//! time), and answering with a sealed status.

use ferry_app_core::clock::WallClock;
use std::sync::Mutex;

use ferry_chain::{
    Decoded, Keyring, OpenedRequest, RecordInfo, ReplayGuard, RequestError, Status, random_nonce,
    seal_response,
};
use ring::rand::SystemRandom;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes read at most while waiting for the record (a record is at most 323 bytes; the rest
/// is later hops' records and early payload, forwarded unchanged).
pub(crate) const READ_BUF: usize = 4096;

/// Why no request came out of a stream.
#[derive(Debug)]
pub(crate) enum ReadFail {
    /// The peer closed (or reset) before the record was complete.
    Closed,
    /// The record was refused.
    Refused(RequestError),
}

impl ReadFail {
    /// The metrics / access-log label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Closed => "closed_early",
            Self::Refused(e) => refused_label(e),
        }
    }
}

/// The label of a refused record.
pub(crate) fn refused_label(e: &RequestError) -> &'static str {
    match e {
        RequestError::Frame(_) => "frame",
        RequestError::Auth => "auth",
        RequestError::Malformed { .. } => "malformed",
        RequestError::Stale { .. } => "stale",
        RequestError::Replayed { .. } => "replayed",
        RequestError::GuardFull { .. } => "guard_full",
        RequestError::HopLimitExceeded { .. } => "hop_limit",
        _ => "refused",
    }
}

/// Reads until this hop's record decodes; returns it and the bytes after it.
pub(crate) async fn read_request<R: AsyncRead + Unpin>(
    io: &mut R,
    keys: &Keyring,
    guard: &Mutex<ReplayGuard>,
    clock: &dyn WallClock,
) -> Result<(OpenedRequest, Vec<u8>), ReadFail> {
    let mut buf = vec![0u8; READ_BUF];
    let mut len = 0;
    let mut need = 1;
    loop {
        if len >= need {
            let have = buf.get(..len).unwrap_or_default();
            let decoded = {
                let mut g = guard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                ferry_chain::decode_request(have, keys, clock.unix_ms(), &mut g)
            };
            match decoded {
                Ok(Decoded::Done { value, consumed }) => {
                    let rest = buf.get(consumed..len).unwrap_or_default().to_vec();
                    return Ok((value, rest));
                }
                Ok(Decoded::NeedMore { at_least }) => need = at_least,
                Err(e) => return Err(ReadFail::Refused(e)),
            }
        }
        let Some(free) = buf.get_mut(len..).filter(|f| !f.is_empty()) else {
            // Cannot happen: a record is shorter than READ_BUF and is decoded as soon as it is
            // complete. Treated as a malformed stream rather than trusted.
            return Err(ReadFail::Closed);
        };
        match io.read(free).await {
            Ok(0) | Err(_) => return Err(ReadFail::Closed),
            Ok(n) => len += n,
        }
    }
}

/// Seals `status` for the record `info` and writes it.
///
/// # Errors
///
/// The write's error; a key that disappeared or a failing random source is `Other`.
pub(crate) async fn answer<W: AsyncWrite + Unpin>(
    io: &mut W,
    keys: &Keyring,
    info: &RecordInfo,
    status: Status,
    rng: &SystemRandom,
) -> std::io::Result<()> {
    let out = seal_status(keys, info, status, rng).ok_or(std::io::ErrorKind::Other)?;
    io.write_all(&out).await
}

/// The sealed response record for `info`.
pub(crate) fn seal_status(
    keys: &Keyring,
    info: &RecordInfo,
    status: Status,
    rng: &SystemRandom,
) -> Option<Vec<u8>> {
    let key = keys.get(info.key_id)?;
    let mut out = Vec::with_capacity(ferry_chain::RESPONSE_RECORD_LEN);
    seal_response(key, info, status, random_nonce(rng).ok()?, &mut out).ok()?;
    Some(out)
}
