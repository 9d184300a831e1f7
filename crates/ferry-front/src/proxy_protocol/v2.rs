//! PROXY protocol v2: the binary header.
//!
//! | bytes | field |
//! |---|---|
//! | 0-11 | signature `\r\n\r\n\0\r\nQUIT\n` |
//! | 12 | version (high nibble, 2) and command (low nibble: 0 LOCAL, 1 PROXY) |
//! | 13 | family (high nibble: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and transport (low: 0, 1, 2) |
//! | 14-15 | length of what follows, big endian |
//! | 16- | addresses (0, 12, 36 or 216 bytes), then TLVs `type u8, length u16 BE, value` |

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{
    Command, ProxyAddresses, ProxyEncodeError, ProxyHeader, ProxyLimits, ProxyProtocolError, Tlv,
    Transport, V2_HEADER_LEN, V2_SIGNATURE, Version,
};
use crate::Parsed;

const FAMILY_UNSPEC: u8 = 0;
const FAMILY_INET: u8 = 1;
const FAMILY_INET6: u8 = 2;
const FAMILY_UNIX: u8 = 3;
const INET_LEN: usize = 12;
const INET6_LEN: usize = 36;
const UNIX_LEN: usize = 216;

pub(super) fn encode(h: &ProxyHeader, out: &mut Vec<u8>) -> Result<usize, ProxyEncodeError> {
    let addresses = match h.command {
        Command::Local => None,
        Command::Proxy => h.addresses,
    };
    let (family, addr_len) = match addresses.map(|a| (a.source, a.destination)) {
        None => (FAMILY_UNSPEC, 0),
        Some((SocketAddr::V4(_), SocketAddr::V4(_))) => (FAMILY_INET, INET_LEN),
        Some((SocketAddr::V6(_), SocketAddr::V6(_))) => (FAMILY_INET6, INET6_LEN),
        Some(_) => return Err(ProxyEncodeError::MixedFamilies),
    };
    let len = h.tlvs.iter().fold(addr_len, |n, t| {
        n.saturating_add(3).saturating_add(t.value.len())
    });
    let len16 = u16::try_from(len)
        .ok()
        .ok_or(ProxyEncodeError::V2TooLong { len })?;
    if h.tlvs.iter().any(|t| u16::try_from(t.value.len()).is_err()) {
        return Err(ProxyEncodeError::V2TooLong { len });
    }
    let command = match h.command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    };
    let transport = match h.transport {
        Transport::Unspec => 0,
        Transport::Stream => 1,
        Transport::Datagram => 2,
    };
    let start = out.len();
    out.reserve(V2_HEADER_LEN + len);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(command);
    out.push(family << 4 | transport);
    out.extend_from_slice(&len16.to_be_bytes());
    if let Some(a) = addresses {
        match (a.source.ip(), a.destination.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
            }
            _ => {} // excluded above
        }
        out.extend_from_slice(&a.source.port().to_be_bytes());
        out.extend_from_slice(&a.destination.port().to_be_bytes());
    }
    for t in &h.tlvs {
        out.push(t.kind);
        // Checked above: every value fits in u16.
        out.extend_from_slice(&u16::try_from(t.value.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&t.value);
    }
    Ok(out.len() - start)
}

/// `input` starts with `\r`.
pub(super) fn decode(
    input: &[u8],
    limits: &ProxyLimits,
) -> Result<Parsed<ProxyHeader>, ProxyProtocolError> {
    let sig_len = input.len().min(V2_SIGNATURE.len());
    if input.get(..sig_len) != V2_SIGNATURE.get(..sig_len) {
        return Err(ProxyProtocolError::NoSignature);
    }
    let command = match input.get(12) {
        None => return Ok(Parsed::Incomplete),
        Some(&b) if b >> 4 != 2 => return Err(ProxyProtocolError::V2Version(b >> 4)),
        Some(&b) => match b & 0x0f {
            0 => Command::Local,
            1 => Command::Proxy,
            c => return Err(ProxyProtocolError::V2Command(c)),
        },
    };
    let (family, transport) = match input.get(13) {
        None => return Ok(Parsed::Incomplete),
        Some(&b) if b >> 4 > FAMILY_UNIX => return Err(ProxyProtocolError::V2Family(b >> 4)),
        Some(&b) => match b & 0x0f {
            0 => (b >> 4, Transport::Unspec),
            1 => (b >> 4, Transport::Stream),
            2 => (b >> 4, Transport::Datagram),
            t => return Err(ProxyProtocolError::V2Transport(t)),
        },
    };
    let (Some(&hi), Some(&lo)) = (input.get(14), input.get(15)) else {
        return Ok(Parsed::Incomplete);
    };
    let len = u16::from_be_bytes([hi, lo]);
    if len > limits.max_v2_len {
        return Err(ProxyProtocolError::V2TooLong {
            len,
            max: limits.max_v2_len,
        });
    }
    let total = V2_HEADER_LEN + usize::from(len);
    let Some(block) = input.get(V2_HEADER_LEN..total) else {
        return Ok(Parsed::Incomplete);
    };
    let addr_len = match family {
        FAMILY_INET => INET_LEN,
        FAMILY_INET6 => INET6_LEN,
        FAMILY_UNIX => UNIX_LEN,
        _ => 0,
    };
    let Some((addr, mut rest)) = block.split_at_checked(addr_len) else {
        if command == Command::Local {
            // LOCAL: the block is discarded anyway (spec section 2.2), so a short one is fine.
            let value = ProxyHeader::local(Version::V2).with_transport(transport);
            return Ok(Parsed::Complete {
                value,
                consumed: total,
            });
        }
        return Err(ProxyProtocolError::V2AddressTruncated);
    };
    let addresses = match command {
        Command::Local => None,
        Command::Proxy => parse_addresses(family, addr),
    };
    let mut tlvs = Vec::new();
    while !rest.is_empty() {
        let [kind, hi, lo, tail @ ..] = rest else {
            return Err(ProxyProtocolError::V2TlvTruncated);
        };
        let (value, tail) = tail
            .split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))
            .ok_or(ProxyProtocolError::V2TlvTruncated)?;
        tlvs.push(Tlv {
            kind: *kind,
            value: value.to_vec(),
        });
        rest = tail;
    }
    Ok(Parsed::Complete {
        value: ProxyHeader {
            version: Version::V2,
            command,
            transport,
            addresses,
            tlvs,
        },
        consumed: total,
    })
}

fn parse_addresses(family: u8, addr: &[u8]) -> Option<ProxyAddresses> {
    let (src, dst, ports): (IpAddr, IpAddr, &[u8]) = match family {
        FAMILY_INET => {
            let (s, rest) = addr.split_first_chunk::<4>()?;
            let (d, ports) = rest.split_first_chunk::<4>()?;
            (Ipv4Addr::from(*s).into(), Ipv4Addr::from(*d).into(), ports)
        }
        FAMILY_INET6 => {
            let (s, rest) = addr.split_first_chunk::<16>()?;
            let (d, ports) = rest.split_first_chunk::<16>()?;
            (Ipv6Addr::from(*s).into(), Ipv6Addr::from(*d).into(), ports)
        }
        _ => return None,
    };
    let [sp0, sp1, dp0, dp1] = *ports else {
        return None;
    };
    Some(ProxyAddresses {
        source: SocketAddr::new(src, u16::from_be_bytes([sp0, sp1])),
        destination: SocketAddr::new(dst, u16::from_be_bytes([dp0, dp1])),
    })
}
