//! Datagrams on a UDP tunnel's stream: [`DatagramStream`] reads the frames of
//! [`wire::encode_datagram`](crate::wire::encode_datagram) off any byte stream (a
//! [`TunnelStream`](crate::TunnelStream), or a stream forwarded between gateways), bounded to
//! one frame of buffer, and [`write_datagram`] writes one.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::wire::{DatagramReader, WireError, encode_datagram};

/// A datagram could not be read from or written to a tunnel stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// A frame announced more than [`MAX_DATAGRAM`](crate::wire::MAX_DATAGRAM) bytes (the peer
    /// broke the protocol), or a datagram that long was to be written.
    #[error("datagram frame too large")]
    TooLarge(#[source] WireError),
    /// The stream ended inside a frame.
    #[error("stream ended inside a datagram frame")]
    Truncated,
    /// Reading or writing the stream failed.
    #[error("tunnel stream failed")]
    Io(#[from] io::Error),
}

impl DatagramError {
    /// A short label for logs and metrics: `frame_too_large`, `truncated`, `stream_error`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "frame_too_large",
            Self::Truncated => "truncated",
            Self::Io(_) => "stream_error",
        }
    }
}

/// Reads datagrams from the frames on `inner`.
#[derive(Debug)]
pub struct DatagramStream<R> {
    inner: R,
    reader: DatagramReader,
}

impl<R: AsyncRead + Unpin> DatagramStream<R> {
    /// Datagrams from `inner`.
    #[must_use]
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            reader: DatagramReader::new(),
        }
    }

    /// The next datagram, or `None` when the stream ended cleanly between frames.
    ///
    /// Cancel safe: a datagram partly read when the future is dropped is kept for the next
    /// call.
    ///
    /// # Errors
    ///
    /// [`DatagramError::TooLarge`] (the peer sent a length above
    /// [`MAX_DATAGRAM`](crate::wire::MAX_DATAGRAM)), [`DatagramError::Truncated`] (the stream
    /// ended inside a frame), [`DatagramError::Io`].
    pub async fn next(&mut self) -> Result<Option<&[u8]>, DatagramError> {
        while !self.reader.frame_ready().map_err(DatagramError::TooLarge)? {
            let n = self.inner.read(self.reader.unfilled()).await?;
            if n == 0 {
                if self.reader.is_mid_frame() {
                    return Err(DatagramError::Truncated);
                }
                return Ok(None);
            }
            self.reader.filled(n);
        }
        self.reader.next_datagram().map_err(DatagramError::TooLarge)
    }

    /// The stream read from.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The stream read from, giving up the bytes buffered past the last datagram returned.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes `payload` as one frame on `w` (`scratch` is reused to build it: one write per
/// datagram).
///
/// # Errors
///
/// [`DatagramError::TooLarge`] for a payload above
/// [`MAX_DATAGRAM`](crate::wire::MAX_DATAGRAM) (nothing is written), [`DatagramError::Io`].
pub async fn write_datagram<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), DatagramError> {
    scratch.clear();
    encode_datagram(payload, scratch).map_err(DatagramError::TooLarge)?;
    w.write_all(scratch).await?;
    Ok(())
}

/// Once its side drains, a UDP flow ends when it has been idle this long (or its idle timeout,
/// if shorter): a flow has no connection to keep, only replies in flight. Used by the agent
/// and by the gateway's UDP services.
pub const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Returns when a flow has seen no datagram for `idle` (at most [`DRAIN_IDLE`] once `draining`
/// is cancelled): `last` holds the milliseconds from `start` to the last datagram either way.
pub async fn idle_expiry(
    start: tokio::time::Instant,
    last: &std::sync::atomic::AtomicU64,
    idle: std::time::Duration,
    draining: &tokio_util::sync::CancellationToken,
) {
    loop {
        let limit = if draining.is_cancelled() {
            idle.min(DRAIN_IDLE)
        } else {
            idle
        };
        let at = start
            + std::time::Duration::from_millis(last.load(std::sync::atomic::Ordering::Relaxed))
            + limit;
        if tokio::time::Instant::now() >= at {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = draining.cancelled(), if !draining.is_cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn frames_in_and_out_and_a_truncated_end() {
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        write_datagram(&mut wire, b"one", &mut scratch)
            .await
            .unwrap();
        write_datagram(&mut wire, b"", &mut scratch).await.unwrap();
        let mut s = DatagramStream::new(&wire[..]);
        assert_eq!(s.next().await.unwrap(), Some(&b"one"[..]));
        assert_eq!(s.next().await.unwrap(), Some(&b""[..]));
        assert!(s.next().await.unwrap().is_none());
        let cut = &wire[..4];
        let mut s = DatagramStream::new(cut);
        assert!(matches!(s.next().await, Err(DatagramError::Truncated)));
        let mut s = DatagramStream::new(&[0xff, 0xff, 1, 2][..]);
        let e = s.next().await.unwrap_err();
        assert_eq!(e.label(), "frame_too_large");
        assert!(matches!(
            write_datagram(&mut Vec::new(), &vec![0; 70_000], &mut scratch).await,
            Err(DatagramError::TooLarge(WireError::DatagramTooLarge(70_000)))
        ));
    }
}
