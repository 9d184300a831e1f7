//! PROXY protocol errors.

/// Why bytes received from a peer are not a valid PROXY protocol header. The caller closes the
/// connection (there is no reply in this protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyProtocolError {
    /// The bytes start neither with the v1 signature `PROXY ` nor with the v2 signature.
    #[error("peer sent no PROXY protocol signature")]
    NoSignature,
    /// The v1 line has no CRLF within 107 bytes.
    #[error("peer sent a v1 line longer than 107 bytes")]
    V1TooLong,
    /// The v1 protocol is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("peer sent a v1 line with an unknown protocol")]
    V1Protocol,
    /// The v1 line does not have the form `PROXY TCPx src dst sport dport\r\n`.
    #[error("peer sent a malformed v1 line")]
    V1Syntax,
    /// A v1 address is not an address of the announced family.
    #[error("peer sent a v1 line with an invalid address")]
    V1Address,
    /// A v1 port is not a decimal number in 0..=65535 without leading zeros.
    #[error("peer sent a v1 line with an invalid port")]
    V1Port,
    /// The v2 version nibble is not 2.
    #[error("peer sent v2 header version {0}")]
    V2Version(u8),
    /// The v2 command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("peer sent v2 command {0}")]
    V2Command(u8),
    /// The v2 address family nibble is not 0-3.
    #[error("peer sent v2 address family {0}")]
    V2Family(u8),
    /// The v2 transport protocol nibble is not 0-2.
    #[error("peer sent v2 transport protocol {0}")]
    V2Transport(u8),
    /// The v2 length field exceeds the configured limit.
    #[error("peer sent a v2 header of {len} bytes after the fixed part, limit {max}")]
    V2TooLong {
        /// The announced length.
        len: u16,
        /// The configured limit ([`ProxyLimits::max_v2_len`](super::ProxyLimits::max_v2_len)).
        max: u16,
    },
    /// The v2 length is too short for the addresses of the announced family.
    #[error("peer sent a v2 header too short for its address family")]
    V2AddressTruncated,
    /// A v2 TLV runs past the end of the header.
    #[error("peer sent a truncated v2 TLV")]
    V2TlvTruncated,
}

/// Why a [`ProxyHeader`](super::ProxyHeader) cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyEncodeError {
    /// Source and destination are not of the same address family.
    #[error("source and destination address families differ")]
    MixedFamilies,
    /// v1 carries TCP only.
    #[error("PROXY protocol v1 cannot carry datagram transport")]
    V1Datagram,
    /// v1 has no TLVs.
    #[error("PROXY protocol v1 cannot carry TLVs")]
    V1Tlvs,
    /// The addresses and TLVs do not fit in the 16-bit v2 length field.
    #[error("v2 header of {len} bytes after the fixed part exceeds 65535")]
    V2TooLong {
        /// The length that would be needed.
        len: usize,
    },
}
