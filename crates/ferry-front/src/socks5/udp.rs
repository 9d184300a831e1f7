//! The UDP ASSOCIATE datagram header (RFC 1928 section 7).

use super::Socks5Error;
use super::wire::{read_addr, write_addr};
use crate::Address;

/// The header of a relayed UDP datagram: `RSV(2)=0 FRAG=0 ATYP DST.ADDR DST.PORT DATA`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpHeader {
    /// The destination (client to relay) or the source (relay to client).
    pub target: Address,
    /// Where the payload starts in the datagram.
    pub payload_offset: usize,
}

/// Decodes the header of one whole datagram.
///
/// # Errors
///
/// [`Socks5Error::UdpReserved`] when RSV is not zero, [`Socks5Error::UdpFragment`] when FRAG
/// is not zero (fragments are not supported: drop the datagram),
/// [`Socks5Error::UdpTruncated`] when the datagram ends inside the header, and
/// [`Socks5Error::AddressType`] / [`Socks5Error::Domain`] for a bad address.
pub fn decode_udp(datagram: &[u8]) -> Result<UdpHeader, Socks5Error> {
    let [r0, r1, frag, rest @ ..] = datagram else {
        return Err(Socks5Error::UdpTruncated);
    };
    if (*r0, *r1) != (0, 0) {
        return Err(Socks5Error::UdpReserved);
    }
    if *frag != 0 {
        return Err(Socks5Error::UdpFragment(*frag));
    }
    let (target, n) = read_addr(rest)?.ok_or(Socks5Error::UdpTruncated)?;
    Ok(UdpHeader {
        target,
        payload_offset: 3 + n,
    })
}

/// Appends a datagram header for `target` (FRAG 0); the payload follows.
///
/// # Errors
///
/// [`Socks5Error::Domain`] when `target` is an invalid domain name; nothing is written then.
pub fn encode_udp_header(target: &Address, out: &mut Vec<u8>) -> Result<(), Socks5Error> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0]);
    write_addr(target, out).inspect_err(|_| out.truncate(start))
}
