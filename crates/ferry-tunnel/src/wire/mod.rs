//! The tunnel wire format, sans-IO: the agent's authentication message and the gateway's
//! reply on the first stream, the per-tunnel header and the agent's status on every
//! tunnel stream, and the datagram frames of UDP tunnels. The normative byte tables are in `docs/wire/tunnel.md`.
//!
//! Decoders take the bytes received so far and return [`Parsed::Incomplete`] ("read more"), a
//! [`WireError`], or the message and the number of bytes it took; bytes after it belong to the
//! stream's payload and must be kept. Every message has a fixed upper size
//! ([`MAX_AUTH_LEN`], [`MAX_HEADER_LEN`], 2 bytes for replies), so a reader never buffers more
//! than that. Encoders cannot fail: the types they take are validated when built.

mod auth;
mod datagram;
mod header;

pub use auth::{
    AUTH_VERSION_GROUP, AuthReply, AuthRequest, Credential, GROUP_ID_LEN, GroupId, GroupMember,
    MAX_AUTH_LEN, MAX_CREDENTIAL_LEN, MAX_GROUP_MEMBERS, RejectReason, decode_auth,
    decode_auth_reply, encode_auth, encode_auth_reply,
};
pub use datagram::{
    DATAGRAM_PREFIX_LEN, DatagramReader, MAX_DATAGRAM, MAX_FRAME_LEN, decode_datagram,
    encode_datagram,
};
pub use header::{
    DestHost, Destination, HEADER_VERSION_2, MAX_DOMAIN_LEN, MAX_HEADER_LEN, PROTOCOL_UDP,
    Protocol, TunnelHeader, TunnelStatus, decode_header, decode_status, encode_header,
    encode_status,
};

/// The protocol version carried in the first byte of every message.
pub const VERSION: u8 = 1;

/// The ALPN protocol id both ends require on the QUIC connection.
pub const ALPN: &[u8] = b"ferry-tunnel/1";

/// The ALPN protocol id both ends require on the TLS-over-TCP connection of the TCP transport
/// (HTTP/2 streams after the authentication exchange).
pub const ALPN_TCP: &[u8] = b"ferry-tunnel-h2/1";

/// Length of an auth reply and of a tunnel status: version and code.
pub const REPLY_LEN: usize = 2;

/// QUIC application error codes used when closing an agent connection (see
/// `docs/wire/tunnel.md`).
pub mod close_code {
    /// Orderly close: shutdown or drain.
    pub const SHUTDOWN: u32 = 0;
    /// The gateway rejected the agent's credential.
    pub const AUTH_REJECTED: u32 = 1;
    /// The agent did not complete authentication within the deadline.
    pub const AUTH_TIMEOUT: u32 = 2;
    /// The auth message was malformed, too large or of an unsupported version.
    pub const AUTH_MALFORMED: u32 = 3;
    /// A newer connection authenticated with the same agent id replaced this one.
    pub const REPLACED: u32 = 4;
    /// The peer broke the protocol (for example opened a stream it must not open).
    pub const PROTOCOL: u32 = 5;
}

/// QUIC stream error codes (`RESET_STREAM` / `STOP_SENDING`) on tunnel streams.
pub mod stream_code {
    /// The tunnel was abandoned (timeout, error, or the status was not `ok`).
    pub const ABORTED: u32 = 1;
}

/// What a decoder made of the bytes received so far. "Need more bytes" is not an error. (The
/// parse result every Ferry parser returns, defined once in `ferry-base`.)
pub use ferry_base::Parsed;

/// Bytes that are not a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The first byte is not a version this implementation speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The agent id length is 0 or above 64, or it holds a byte that is not allowed.
    #[error("invalid agent id")]
    AgentId,
    /// The credential is longer than [`MAX_CREDENTIAL_LEN`].
    #[error("credential longer than {MAX_CREDENTIAL_LEN} bytes")]
    CredentialTooLong,
    /// The credential holds a byte outside visible ASCII (`0x21..=0x7E`).
    #[error("credential holds a byte outside visible ASCII")]
    CredentialByte,
    /// A reply or status code that this version does not define.
    #[error("unknown code {0}")]
    UnknownCode(u8),
    /// An address type other than IPv4 (1), domain (3) or IPv6 (4) (domain is not allowed for
    /// the client address).
    #[error("unknown address type {0}")]
    AddressType(u8),
    /// A domain name that is empty or holds bytes other than letters, digits, `-`, `_`, `.`.
    #[error("invalid domain name")]
    DomainName,
    /// Destination port 0.
    #[error("destination port 0")]
    Port,
    /// A version 2 tunnel header whose `protocol` byte this implementation does not know.
    #[error("unknown tunnel protocol {0}")]
    UnknownProtocol(u8),
    /// A datagram frame longer than [`MAX_DATAGRAM`] (its length field), or a datagram that
    /// long given to the encoder.
    #[error("datagram of {0} bytes is longer than {MAX_DATAGRAM}")]
    DatagramTooLarge(usize),
    /// A version 2 auth message whose member index is [`MAX_GROUP_MEMBERS`] or more.
    #[error("connection group member index {0} is not below {MAX_GROUP_MEMBERS}")]
    GroupMember(u8),
}

/// A cursor over the input: `None` means "not enough bytes yet".
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}

/// Reads the version byte: `Ok(None)` when the input is empty.
pub(crate) fn version(r: &mut Reader<'_>) -> Result<Option<()>, WireError> {
    match r.u8() {
        None => Ok(None),
        Some(VERSION) => Ok(Some(())),
        Some(v) => Err(WireError::UnsupportedVersion(v)),
    }
}

/// Decodes a two-byte reply (`version`, `code`) with `from_code`.
pub(crate) fn decode_reply<T>(
    buf: &[u8],
    from_code: impl FnOnce(u8) -> Option<T>,
) -> Result<Parsed<T>, WireError> {
    let mut r = Reader::new(buf);
    if version(&mut r)?.is_none() {
        return Ok(Parsed::Incomplete);
    }
    let Some(code) = r.u8() else {
        return Ok(Parsed::Incomplete);
    };
    let value = from_code(code).ok_or(WireError::UnknownCode(code))?;
    Ok(Parsed::Complete {
        value,
        consumed: REPLY_LEN,
    })
}
