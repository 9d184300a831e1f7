//! PROXY protocol v1 and v2 (HAProxy, "The PROXY protocol", versions 1 and 2): encode headers
//! for upstreams and decode them from trusted peers.
//!
//! [`decode`] detects the version from the first byte and rejects bytes that cannot start a
//! header as soon as they arrive (a v1 line is checked character by character, a v2 header
//! byte by byte up to its length field), so a peer sending garbage is refused at once instead
//! of holding a buffer until a deadline. A v1 line is at most [`V1_MAX_LEN`] bytes; a v2 header
//! at most [`V2_HEADER_LEN`] plus [`ProxyLimits::max_v2_len`] bytes, and the length field is
//! checked before the caller needs to buffer the rest. The v2 CRC32C TLV, if present, is
//! returned like any other TLV and not verified.
//!
//! ```
//! use ferry_front::Parsed;
//! use ferry_front::proxy_protocol::{self, Command, ProxyHeader, ProxyLimits, Version};
//!
//! let header = ProxyHeader::proxy(
//!     Version::V2,
//!     "192.0.2.1:56324".parse()?,
//!     "198.51.100.7:443".parse()?,
//! )
//! .with_tlv(proxy_protocol::tlv::AUTHORITY, b"example.com".to_vec());
//! let mut wire = Vec::new();
//! header.encode(&mut wire)?;
//! wire.extend_from_slice(b"GET / HTTP/1.1\r\n"); // data after the header
//!
//! let limits = ProxyLimits::default();
//! // Any strict prefix is "need more bytes", never an error.
//! assert_eq!(proxy_protocol::decode(&wire[..20], &limits)?, Parsed::Incomplete);
//! let Parsed::Complete { value, consumed } = proxy_protocol::decode(&wire, &limits)? else {
//!     unreachable!()
//! };
//! assert_eq!(value, header);
//! assert_eq!(value.command, Command::Proxy);
//! assert_eq!(&wire[consumed..], b"GET / HTTP/1.1\r\n");
//!
//! // v1, and garbage refused from the first byte.
//! let line = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
//! assert!(proxy_protocol::decode(line, &limits)?.is_complete());
//! assert!(proxy_protocol::decode(b"G", &limits).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod v1;
mod v2;

use std::net::SocketAddr;

pub use error::{ProxyEncodeError, ProxyProtocolError};

use crate::Parsed;

/// The v2 signature, the first 12 bytes of every v2 header: `\r\n\r\n\0\r\nQUIT\n`.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The v1 signature, the first 6 bytes of every v1 line.
pub const V1_SIGNATURE: [u8; 6] = *b"PROXY ";

/// Longest v1 line, CRLF included (the spec's 107 bytes).
pub const V1_MAX_LEN: usize = 107;

/// Length of the fixed part of a v2 header: signature, version and command, family and
/// transport, length.
pub const V2_HEADER_LEN: usize = 16;

/// Default [`ProxyLimits::max_v2_len`]: 512 bytes of addresses and TLVs.
pub const DEFAULT_MAX_V2_LEN: u16 = 512;

/// Registered v2 TLV types (spec section 2.2).
pub mod tlv {
    /// `PP2_TYPE_ALPN`: the negotiated ALPN protocol.
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI).
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32C checksum of the header (not verified by this crate).
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: TLS information, with sub-TLVs.
    pub const SSL: u8 = 0x20;
    /// `PP2_TYPE_NETNS`: the network namespace name.
    pub const NETNS: u8 = 0x30;
}

/// Limits applied by [`decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyLimits {
    /// Largest v2 length field accepted: bytes of addresses and TLVs after the 16 fixed bytes.
    /// Default [`DEFAULT_MAX_V2_LEN`] (512). An `AF_UNIX` header needs at least 216.
    pub max_v2_len: u16,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            max_v2_len: DEFAULT_MAX_V2_LEN,
        }
    }
}

impl ProxyLimits {
    /// Sets [`ProxyLimits::max_v2_len`] (default 512 bytes).
    #[must_use]
    pub fn with_max_v2_len(mut self, max: u16) -> Self {
        self.max_v2_len = max;
        self
    }
}

/// Which version of the protocol a header uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// The text line `PROXY ...\r\n`.
    V1,
    /// The binary header starting with [`V2_SIGNATURE`].
    V2,
}

/// What the receiver does with the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// The connection was made by the proxy itself (health check): use the real endpoints.
    /// v1 `UNKNOWN` decodes as this.
    Local,
    /// The connection is relayed for the client whose addresses follow.
    Proxy,
}

/// The transport protocol of the relayed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Not given (`UNSPEC`, v1 `UNKNOWN`).
    Unspec,
    /// TCP (`STREAM`, v1 `TCP4`/`TCP6`).
    Stream,
    /// UDP (`DGRAM`, v2 only).
    Datagram,
}

/// The client's addresses as seen by the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxyAddresses {
    /// The client's address.
    pub source: SocketAddr,
    /// The address the client connected to.
    pub destination: SocketAddr,
}

/// One v2 type-length-value extension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type byte (see [`tlv`]).
    pub kind: u8,
    /// The value, at most 65535 bytes.
    pub value: Vec<u8>,
}

/// A decoded or to-be-encoded PROXY protocol header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// The version it was received in, or is to be sent in.
    pub version: Version,
    /// LOCAL or PROXY.
    pub command: Command,
    /// The relayed transport.
    pub transport: Transport,
    /// The client's addresses; `None` for LOCAL, v1 `UNKNOWN`, v2 `UNSPEC` and `AF_UNIX`
    /// (unix socket paths are skipped).
    pub addresses: Option<ProxyAddresses>,
    /// v2 TLVs in wire order (always empty for v1). Bounded by the v2 length limit.
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A PROXY header for a TCP connection from `source` to `destination`.
    pub fn proxy(version: Version, source: SocketAddr, destination: SocketAddr) -> Self {
        Self {
            version,
            command: Command::Proxy,
            transport: Transport::Stream,
            addresses: Some(ProxyAddresses {
                source,
                destination,
            }),
            tlvs: Vec::new(),
        }
    }

    /// A LOCAL header (v1: `PROXY UNKNOWN\r\n`), as sent on health checks.
    pub fn local(version: Version) -> Self {
        Self {
            version,
            command: Command::Local,
            transport: Transport::Unspec,
            addresses: None,
            tlvs: Vec::new(),
        }
    }

    /// Sets the transport (default [`Transport::Stream`] for [`ProxyHeader::proxy`]).
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Appends a TLV (v2 only).
    #[must_use]
    pub fn with_tlv(mut self, kind: u8, value: Vec<u8>) -> Self {
        self.tlvs.push(Tlv { kind, value });
        self
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// Appends the header in its [`version`](ProxyHeader::version) to `out`; returns the
    /// number of bytes written. For LOCAL the addresses are not sent (v1 `UNKNOWN`, v2 family
    /// `UNSPEC`); without addresses v1 sends `UNKNOWN`.
    ///
    /// # Errors
    ///
    /// [`ProxyEncodeError`] when the addresses mix IPv4 and IPv6, when v1 is asked to carry
    /// TLVs or a datagram transport, or when v2 addresses and TLVs exceed 65535 bytes. Nothing
    /// is written on error.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, ProxyEncodeError> {
        match self.version {
            Version::V1 => v1::encode(self, out),
            Version::V2 => v2::encode(self, out),
        }
    }
}

/// Decodes a v1 or v2 header from the start of `input` (the bytes received so far).
///
/// # Errors
///
/// [`ProxyProtocolError`] as soon as `input` cannot be the start of a valid header within the
/// limits; the caller closes the connection.
pub fn decode(
    input: &[u8],
    limits: &ProxyLimits,
) -> Result<Parsed<ProxyHeader>, ProxyProtocolError> {
    match input.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'P') => v1::decode(input),
        Some(b'\r') => v2::decode(input, limits),
        Some(_) => Err(ProxyProtocolError::NoSignature),
    }
}
