//! Async helpers on tokio's I/O traits (feature `io`): reading one message with a sans-IO
//! parser, and a stream that yields bytes already read before its inner stream's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::Parsed;

/// One message could not be read by [`read_message`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError<E> {
    /// The parser refused the bytes.
    #[error("malformed message")]
    Malformed(#[source] E),
    /// The message did not complete within the byte bound.
    #[error("message larger than {max} bytes")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// The stream ended before the message completed.
    #[error("stream ended inside a message after {read} bytes")]
    Eof {
        /// Bytes received before the end (0: the peer sent nothing).
        read: usize,
    },
    /// Reading failed.
    #[error("read failed")]
    Io(#[source] io::Error),
}

/// Reads from `r` until `parse` completes, buffering at most `max` bytes, and returns the
/// message with the bytes read after it (payload that must not be lost). `parse` is called
/// with everything received so far after every read, so a message trickled one byte at a time
/// is read exactly like one that arrives whole. Not cancel safe: bytes read before a cancel
/// are lost (put a deadline around the whole call, not around single reads).
///
/// # Errors
///
/// [`ReadError::Malformed`] with the parser's error, [`ReadError::TooLarge`] when `max` bytes
/// do not hold a complete message, [`ReadError::Eof`] when the stream ends first,
/// [`ReadError::Io`] when a read fails.
pub async fn read_message<R, T, E>(
    r: &mut R,
    max: usize,
    mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, E>,
) -> Result<(T, Bytes), ReadError<E>>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut buf = vec![0u8; max.clamp(1, 1024)];
    let mut len = 0;
    loop {
        let received = buf.get(..len).unwrap_or_default();
        if let Parsed::Complete { value, consumed } =
            parse(received).map_err(ReadError::Malformed)?
        {
            let rest = received
                .get(consumed..)
                .map(Bytes::copy_from_slice)
                .unwrap_or_default();
            return Ok((value, rest));
        }
        if len >= max {
            return Err(ReadError::TooLarge { max });
        }
        if len == buf.len() {
            buf.resize(len.saturating_mul(2).min(max), 0);
        }
        let spare = buf.get_mut(len..).unwrap_or_default();
        let n = r.read(spare).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Eof { read: len });
        }
        len += n;
    }
}

/// A stream whose reads first return `prefix` (bytes already read from `inner`, for example
/// what followed a protocol header), then `inner`'s own bytes. Writes, flushes and shutdowns go
/// straight to `inner`.
#[derive(Debug)]
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, with `prefix` read first.
    pub fn new(prefix: impl Into<Bytes>, inner: S) -> Self {
        Self {
            prefix: prefix.into(),
            inner,
        }
    }

    /// The prefix bytes not read yet.
    #[must_use]
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Replaces the prefix bytes not read yet with `prefix` (bytes read past a header that
    /// was read from the inner stream directly).
    pub fn set_prefix(&mut self, prefix: impl Into<Bytes>) {
        self.prefix = prefix.into();
    }

    /// The inner stream.
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably (reading from it directly skips the prefix).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner stream and the prefix bytes not read yet.
    #[must_use]
    pub fn into_parts(self) -> (S, Bytes) {
        (self.inner, self.prefix)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.has_remaining() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(this.prefix.get(..n).unwrap_or_default());
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A `len:payload` message: one length byte, then that many bytes.
    fn framed(input: &[u8]) -> Result<Parsed<Vec<u8>>, &'static str> {
        match input.first() {
            None => Ok(Parsed::Incomplete),
            Some(0) => Err("empty"),
            Some(&n) => {
                let end = 1 + usize::from(n);
                Ok(match input.get(1..end) {
                    Some(body) => Parsed::Complete {
                        value: body.to_vec(),
                        consumed: end,
                    },
                    None => Parsed::Incomplete,
                })
            }
        }
    }

    /// Hands out one byte per read.
    struct OneByte(Vec<u8>, usize);

    impl AsyncRead for OneByte {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(&b) = self.0.get(self.1) {
                buf.put_slice(&[b]);
                self.1 += 1;
            }
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn whole_and_trickled_messages_keep_their_leftovers() {
        let wire = b"\x03abcpayload".to_vec();
        let (msg, rest) = read_message(&mut wire.as_slice(), 64, framed)
            .await
            .unwrap();
        assert_eq!((msg.as_slice(), &rest[..]), (&b"abc"[..], &b"payload"[..]));
        // One byte at a time: the message ends at its last byte and nothing more is read.
        let mut slow = OneByte(wire, 0);
        let (msg, rest) = read_message(&mut slow, 64, framed).await.unwrap();
        assert_eq!(msg, b"abc");
        assert!(rest.is_empty());
        assert_eq!(slow.1, 4);
    }

    #[tokio::test]
    async fn bad_truncated_and_oversized_input_are_typed_errors() {
        assert!(matches!(
            read_message(&mut &b"\x00"[..], 64, framed).await,
            Err(ReadError::Malformed("empty"))
        ));
        assert!(matches!(
            read_message(&mut &b"\x05ab"[..], 64, framed).await,
            Err(ReadError::Eof { read: 3 })
        ));
        assert!(matches!(
            read_message(&mut &b""[..], 64, framed).await,
            Err(ReadError::Eof { read: 0 })
        ));
        // A parser that never completes cannot make the reader hold more than `max` bytes.
        let endless = vec![1u8; 100_000];
        let never = |_: &[u8]| Ok::<_, ()>(Parsed::<()>::Incomplete);
        assert!(matches!(
            read_message(&mut endless.as_slice(), 3000, never).await,
            Err(ReadError::TooLarge { max: 3000 })
        ));
        assert!(matches!(
            read_message(&mut &b"\xff"[..], 100, framed).await,
            Err(ReadError::Eof { read: 1 })
        ));
        assert!(matches!(
            read_message(&mut vec![0xffu8; 300].as_slice(), 100, framed).await,
            Err(ReadError::TooLarge { max: 100 })
        ));
    }

    #[tokio::test]
    async fn prefixed_reads_the_prefix_first_and_writes_through() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut p = Prefixed::new(Bytes::from_static(b"early "), a);
        assert_eq!(p.prefix(), b"early ");
        b.write_all(b"late").await.unwrap();
        b.shutdown().await.unwrap();
        let mut small = [0u8; 3];
        p.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"ear");
        let mut rest = Vec::new();
        p.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"ly late");
        p.write_all(b"back").await.unwrap();
        p.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"back");
        p.set_prefix(Bytes::from_static(b"again"));
        let mut again = [0u8; 5];
        p.read_exact(&mut again).await.unwrap();
        assert_eq!(&again, b"again");
        let (_, left) = p.into_parts();
        assert!(left.is_empty());
    }
}
