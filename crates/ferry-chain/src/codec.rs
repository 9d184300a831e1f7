//! tokio-util adapters (feature `codec`): [`HopCodec`] decodes a hop's request record from a
//! framed stream and encodes its response records.
//!
//! After the request record, the stream carries later hops' records and payload, which a hop
//! relays unchanged: take them with `FramedRead::into_parts` (its `read_buf`) once the request
//! is decoded.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, BytesMut};
use ring::rand::SecureRandom;
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    Decoded, Keyring, OpenedRequest, RecordInfo, ReplayGuard, RequestError, SealError, Status,
    decode_request, random_nonce, seal_response,
};

/// A [`HopCodec`] failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The underlying stream failed.
    #[error("i/o on the upstream side failed")]
    Io(#[from] io::Error),
    /// The request record was refused; see [`RequestError::reply`].
    #[error("request refused")]
    Request(#[source] RequestError),
    /// The response could not be sealed.
    #[error("cannot seal the response")]
    Seal(#[source] SealError),
    /// The response names a key id that is not in the keyring.
    #[error("no key {0} to seal the response with")]
    UnknownKey(crate::KeyId),
}

/// Decodes request records with a keyring, a shared replay guard and a clock; encodes
/// `(RecordInfo, Status)` as sealed responses with random nonces.
pub struct HopCodec<R> {
    keyring: Arc<Keyring>,
    guard: Arc<Mutex<ReplayGuard>>,
    clock: fn() -> u64,
    rng: R,
}

impl<R> std::fmt::Debug for HopCodec<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopCodec")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl<R: SecureRandom> HopCodec<R> {
    /// A codec. `guard` is shared by every connection of the hop; `clock` returns unix
    /// milliseconds; `rng` makes response nonces.
    #[must_use]
    pub fn new(
        keyring: Arc<Keyring>,
        guard: Arc<Mutex<ReplayGuard>>,
        clock: fn() -> u64,
        rng: R,
    ) -> Self {
        Self {
            keyring,
            guard,
            clock,
            rng,
        }
    }
}

impl<R> Decoder for HopCodec<R> {
    type Item = OpenedRequest;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<OpenedRequest>, CodecError> {
        let now = (self.clock)();
        let result = {
            let mut guard = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
            decode_request(src, &self.keyring, now, &mut guard)
        };
        match result.map_err(CodecError::Request)? {
            Decoded::NeedMore { at_least } => {
                src.reserve(at_least.saturating_sub(src.len()));
                Ok(None)
            }
            Decoded::Done { value, consumed } => {
                src.advance(consumed);
                Ok(Some(value))
            }
        }
    }
}

impl<R: SecureRandom> Encoder<(RecordInfo, Status)> for HopCodec<R> {
    type Error = CodecError;

    fn encode(
        &mut self,
        (info, status): (RecordInfo, Status),
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        let key = self
            .keyring
            .get(info.key_id)
            .ok_or(CodecError::UnknownKey(info.key_id))?;
        let nonce = random_nonce(&self.rng).map_err(CodecError::Seal)?;
        seal_response(key, &info, status, nonce, dst).map_err(CodecError::Seal)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fuzzing::{NOW, key7, keyring};
    use crate::{Flags, Request, decode_response, seal_request};

    #[test]
    fn decodes_one_byte_at_a_time_then_encodes_a_response() {
        let req = Request {
            timestamp_ms: NOW,
            hop_limit: 1,
            flags: Flags::FINAL,
            next: "example.com:443".parse().unwrap(),
            client: None,
        };
        let mut wire = Vec::new();
        seal_request(&key7(), 1, &req, [5; 12], &mut wire).unwrap();
        wire.extend_from_slice(b"payload");
        let mut codec = HopCodec::new(
            Arc::new(keyring()),
            Arc::new(Mutex::new(ReplayGuard::default())),
            || NOW,
            ring::rand::SystemRandom::new(),
        );
        let mut src = BytesMut::new();
        let mut opened = None;
        for b in &wire {
            src.extend_from_slice(&[*b]);
            if let Some(o) = codec.decode(&mut src).unwrap() {
                opened = Some(o);
                break;
            }
        }
        let opened = opened.unwrap();
        assert_eq!(opened.request, req);
        assert!(src.is_empty());
        let mut out = BytesMut::new();
        codec.encode((opened.info, Status::Ok), &mut out).unwrap();
        let got = decode_response(&out, &key7(), 1, &[5; 12]).unwrap();
        assert!(matches!(got, Decoded::Done { value, .. } if value.status == Status::Ok));
        // A replay through the codec is refused with an answer to give.
        let mut again = BytesMut::from(&wire[..]);
        let err = codec.decode(&mut again).unwrap_err();
        assert!(matches!(err, CodecError::Request(e) if e.reply().is_some()));
    }
}
