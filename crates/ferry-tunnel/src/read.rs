//! Reading one bounded message off a stream with a sans-IO decoder.

use bytes::Bytes;
use ferry_base::io::ReadError as BaseError;
use tokio::io::AsyncRead;

use crate::wire::{Parsed, WireError};

/// A message could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("malformed message")]
    Wire(#[from] WireError),
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("stream ended inside a message")]
    Eof,
    #[error("read failed")]
    Io(#[from] std::io::Error),
}

/// Reads until `decode` completes, buffering at most `max` bytes. Returns the message and the
/// bytes read after it (payload that must not be lost). `ferry_base::io::read_message`, with
/// this crate's error.
pub(crate) async fn read_message<R, T>(
    r: &mut R,
    max: usize,
    decode: impl Fn(&[u8]) -> Result<Parsed<T>, WireError>,
) -> Result<(T, Bytes), ReadError>
where
    R: AsyncRead + Unpin,
{
    ferry_base::io::read_message(r, max, decode)
        .await
        .map_err(|e| match e {
            BaseError::Malformed(w) => ReadError::Wire(w),
            BaseError::TooLarge { max } => ReadError::TooLarge(max),
            BaseError::Io(e) => ReadError::Io(e),
            _ => ReadError::Eof,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;
    use crate::AgentId;
    use crate::wire::{AuthRequest, Credential, decode_auth, encode_auth};

    /// Hands out one byte per read.
    struct OneByte(Vec<u8>, usize);

    impl AsyncRead for OneByte {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(&b) = self.0.get(self.1) {
                buf.put_slice(&[b]);
                self.1 += 1;
            }
            Poll::Ready(Ok(()))
        }
    }

    fn auth_bytes() -> Vec<u8> {
        let mut wire = Vec::new();
        encode_auth(
            &AuthRequest {
                agent_id: AgentId::new("a").unwrap(),
                credential: Credential::new("tok").unwrap(),
                member: None,
            },
            &mut wire,
        );
        wire
    }

    #[tokio::test]
    async fn one_byte_at_a_time_keeps_leftovers() {
        let mut wire = auth_bytes();
        let n = wire.len();
        wire.extend_from_slice(b"payload");
        let mut r = OneByte(wire, 0);
        let (msg, rest) = read_message(&mut r, 64, decode_auth).await.unwrap();
        assert_eq!(msg.agent_id.as_str(), "a");
        // One byte at a time: the message ends exactly at its last byte, nothing extra read.
        assert!(rest.is_empty());
        assert_eq!(r.1, n);
    }

    #[tokio::test]
    async fn leftovers_from_one_chunk_are_returned() {
        let mut wire = auth_bytes();
        wire.extend_from_slice(b"payload");
        let (_, rest) = read_message(&mut wire.as_slice(), 64, decode_auth)
            .await
            .unwrap();
        assert_eq!(&rest[..], b"payload");
    }

    #[tokio::test]
    async fn truncated_is_eof_and_garbage_is_an_error() {
        let wire = auth_bytes();
        let cut = &wire[..wire.len() - 1];
        assert!(matches!(
            read_message(&mut &cut[..], 64, decode_auth).await,
            Err(ReadError::Eof)
        ));
        assert!(matches!(
            read_message(&mut &b"\x07"[..], 64, decode_auth).await,
            Err(ReadError::Wire(WireError::UnsupportedVersion(7)))
        ));
        // A decoder that never completes cannot make the reader buffer more than `max`.
        let endless = vec![1u8; 10_000];
        let never = |_: &[u8]| Ok(Parsed::<()>::Incomplete);
        assert!(matches!(
            read_message(&mut endless.as_slice(), 100, never).await,
            Err(ReadError::TooLarge(100))
        ));
    }
}
