//! Datagram frames: how a UDP tunnel carries datagrams on its stream, after the `ok` status,
//! both ways. Each frame is a 2-byte big-endian length and that many payload bytes.

use super::{Parsed, WireError};

/// Largest datagram a UDP tunnel carries: 65,507 bytes, the largest UDP payload over IPv4
/// (65,535 − 8-byte UDP header − 20-byte IPv4 header). A longer frame length is an error.
pub const MAX_DATAGRAM: usize = 65_507;

/// Length of a frame's length prefix.
pub const DATAGRAM_PREFIX_LEN: usize = 2;

/// Longest frame: prefix and [`MAX_DATAGRAM`] bytes.
pub const MAX_FRAME_LEN: usize = DATAGRAM_PREFIX_LEN + MAX_DATAGRAM;

/// Appends the frame of `payload` (0..=[`MAX_DATAGRAM`] bytes) to `out`.
///
/// # Errors
///
/// [`WireError::DatagramTooLarge`] when `payload` is longer than [`MAX_DATAGRAM`] (nothing is
/// appended).
pub fn encode_datagram(payload: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let len = u16::try_from(payload.len())
        .ok()
        .filter(|_| payload.len() <= MAX_DATAGRAM)
        .ok_or(WireError::DatagramTooLarge(payload.len()))?;
    out.reserve(DATAGRAM_PREFIX_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Decodes one frame from the bytes received so far: the payload's range in `buf` (after the
/// prefix) and, as `consumed`, the frame's whole length.
///
/// # Errors
///
/// [`WireError::DatagramTooLarge`] when the length field is above [`MAX_DATAGRAM`] (decided
/// from the first two bytes, before any payload is buffered).
pub fn decode_datagram(buf: &[u8]) -> Result<Parsed<std::ops::Range<usize>>, WireError> {
    let Some(&[hi, lo]) = buf.get(..DATAGRAM_PREFIX_LEN) else {
        return Ok(Parsed::Incomplete);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > MAX_DATAGRAM {
        return Err(WireError::DatagramTooLarge(len));
    }
    let end = DATAGRAM_PREFIX_LEN + len;
    if buf.len() < end {
        return Ok(Parsed::Incomplete);
    }
    Ok(Parsed::Complete {
        value: DATAGRAM_PREFIX_LEN..end,
        consumed: end,
    })
}

/// First size of a [`DatagramReader`]'s buffer; it grows (doubling) up to [`MAX_FRAME_LEN`]
/// only when a longer frame arrives.
const FIRST_BUFFER: usize = 2048;

/// Splits a received byte stream into datagrams, holding at most [`MAX_FRAME_LEN`] bytes:
/// write what was read into [`DatagramReader::unfilled`], say how much with
/// [`DatagramReader::filled`], then take frames with [`DatagramReader::next_datagram`] until it
/// answers `None`.
#[derive(Debug, Default)]
pub struct DatagramReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl DatagramReader {
    /// An empty reader (no buffer is allocated until the first read).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the next bytes read go: never empty while [`DatagramReader::next_datagram`]
    /// answers `None` (a partial frame is always shorter than the buffer can grow to).
    pub fn unfilled(&mut self) -> &mut [u8] {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < MAX_FRAME_LEN {
            let grown = (self.buf.len() * 2).clamp(FIRST_BUFFER, MAX_FRAME_LEN);
            self.buf.resize(grown, 0);
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Records that `n` bytes were written into [`DatagramReader::unfilled`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Whether a partial frame is buffered (the stream must not end here).
    #[must_use]
    pub fn is_mid_frame(&self) -> bool {
        self.end > self.start
    }

    /// Whether a complete datagram is buffered ([`DatagramReader::next_datagram`] will return
    /// it).
    ///
    /// # Errors
    ///
    /// [`WireError::DatagramTooLarge`], as [`DatagramReader::next_datagram`].
    pub fn frame_ready(&self) -> Result<bool, WireError> {
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        Ok(decode_datagram(pending)?.is_complete())
    }

    /// The next complete datagram, if one is buffered.
    ///
    /// # Errors
    ///
    /// [`WireError::DatagramTooLarge`] for a frame length above [`MAX_DATAGRAM`]: the stream
    /// is broken and must be abandoned.
    pub fn next_datagram(&mut self) -> Result<Option<&[u8]>, WireError> {
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        match decode_datagram(pending)? {
            Parsed::Incomplete => {
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                Ok(None)
            }
            Parsed::Complete { value, consumed } => {
                let base = self.start;
                self.start += consumed;
                Ok(self.buf.get(base + value.start..base + value.end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn frames_round_trip_through_the_reader_in_any_split() {
        let payloads: Vec<Vec<u8>> = vec![vec![], vec![7], vec![1; 3000], vec![2; MAX_DATAGRAM]];
        let mut wire = Vec::new();
        for p in &payloads {
            encode_datagram(p, &mut wire).unwrap();
        }
        for chunk in [1, 2, 3, 1000, 70_000] {
            let mut r = DatagramReader::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                let mut piece = piece;
                while !piece.is_empty() {
                    let room = r.unfilled();
                    assert!(!room.is_empty());
                    let n = room.len().min(piece.len());
                    room[..n].copy_from_slice(&piece[..n]);
                    r.filled(n);
                    piece = &piece[n..];
                    while let Some(d) = r.next_datagram().unwrap() {
                        got.push(d.to_vec());
                    }
                }
            }
            assert_eq!(got, payloads, "chunk {chunk}");
            assert!(!r.is_mid_frame());
            assert!(r.buf.len() <= MAX_FRAME_LEN);
        }
    }

    #[test]
    fn oversize_is_refused_both_ways() {
        let mut out = Vec::new();
        assert_eq!(
            encode_datagram(&vec![0; MAX_DATAGRAM + 1], &mut out),
            Err(WireError::DatagramTooLarge(MAX_DATAGRAM + 1))
        );
        assert!(out.is_empty());
        assert_eq!(
            decode_datagram(&[0xff, 0xe4]),
            Err(WireError::DatagramTooLarge(0xffe4))
        );
        assert_eq!(decode_datagram(&[0xff, 0xe3]), Ok(Parsed::Incomplete));
        let mut r = DatagramReader::new();
        r.unfilled()[..2].copy_from_slice(&[0xff, 0xff]);
        r.filled(2);
        assert_eq!(r.next_datagram(), Err(WireError::DatagramTooLarge(65_535)));
    }
}
