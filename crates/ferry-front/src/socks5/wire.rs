//! SOCKS5 address encoding (RFC 1928 section 5) and replies (section 6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{ReplyCode, SOCKS_VERSION, Socks5Error};
use crate::{Address, AddressError, validate_domain};

/// Username/password sub-negotiation version (RFC 1929).
pub(crate) const AUTH_VERSION: u8 = 0x01;
pub(crate) const ATYP_IPV4: u8 = 0x01;
pub(crate) const ATYP_DOMAIN: u8 = 0x03;
pub(crate) const ATYP_IPV6: u8 = 0x04;

/// Reads the `ATYP ADDR PORT` of a UDP ASSOCIATE request, which only hints where the client
/// will send from (RFC 1928 section 4): any well-formed address is accepted. Clients send all
/// zeros, their own address and port, or a domain such as `0`; a domain that is not an
/// address becomes the unspecified IPv4 address with the hinted port (0: no hint). An unknown
/// address type is still an error, and `Ok(None)` means more bytes are needed.
pub(crate) fn read_hint(buf: &[u8]) -> Result<Option<(Address, usize)>, Socks5Error> {
    if buf.first() != Some(&ATYP_DOMAIN) {
        return read_addr(buf);
    }
    let Some(&n) = buf.get(1) else {
        return Ok(None);
    };
    let n = usize::from(n);
    let (Some(name), Some(port)) = (buf.get(2..2 + n), read_port(buf, 2 + n)) else {
        return Ok(None);
    };
    let unspecified = Address::Ip(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    let addr = std::str::from_utf8(name)
        .ok()
        .and_then(|name| Address::from_domain(name, port).ok())
        .unwrap_or(unspecified);
    Ok(Some((addr, 2 + n + 2)))
}

/// Reads `ATYP ADDR PORT` from the start of `buf`: `Ok(None)` when more bytes are needed. Bytes
/// of a domain name are checked as they arrive, so garbage is refused early; a domain that is
/// an IP literal becomes [`Address::Ip`].
pub(crate) fn read_addr(buf: &[u8]) -> Result<Option<(Address, usize)>, Socks5Error> {
    let Some(&atyp) = buf.first() else {
        return Ok(None);
    };
    let (ip, len): (Option<IpAddr>, usize) = match atyp {
        ATYP_IPV4 => {
            let ip = buf
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| IpAddr::V4(Ipv4Addr::from(b)));
            (ip, 4)
        }
        ATYP_IPV6 => {
            let ip = buf
                .get(1..17)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(|b| IpAddr::V6(Ipv6Addr::from(b)));
            (ip, 16)
        }
        ATYP_DOMAIN => return read_domain(buf),
        other => return Err(Socks5Error::AddressType(other)),
    };
    let (Some(ip), Some(port)) = (ip, read_port(buf, 1 + len)) else {
        return Ok(None);
    };
    Ok(Some((Address::Ip(SocketAddr::new(ip, port)), 1 + len + 2)))
}

fn read_domain(buf: &[u8]) -> Result<Option<(Address, usize)>, Socks5Error> {
    let Some(&n) = buf.get(1) else {
        return Ok(None);
    };
    let n = usize::from(n);
    if n == 0 {
        return Err(Socks5Error::Domain(AddressError::DomainLength { len: 0 }));
    }
    let have = buf.get(2..buf.len().min(2 + n)).unwrap_or_default();
    // Domain characters, plus what an IP literal needs; anything else fails the full check
    // with the same error.
    let ok = |b: &u8| b.is_ascii_alphanumeric() || b"-_.:[]".contains(b);
    if !have.iter().all(ok) {
        return Err(Socks5Error::Domain(AddressError::DomainCharacter));
    }
    let (Some(name), Some(port)) = (buf.get(2..2 + n), read_port(buf, 2 + n)) else {
        return Ok(None);
    };
    let name = std::str::from_utf8(name)
        .ok()
        .ok_or(Socks5Error::Domain(AddressError::DomainCharacter))?;
    let addr = Address::from_domain(name, port).map_err(Socks5Error::Domain)?;
    Ok(Some((addr, 2 + n + 2)))
}

fn read_port(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Appends `ATYP ADDR PORT`.
///
/// # Errors
///
/// [`Socks5Error::Domain`] for a domain name that is not valid.
pub(crate) fn write_addr(addr: &Address, out: &mut Vec<u8>) -> Result<(), Socks5Error> {
    match addr {
        Address::Ip(SocketAddr::V4(sa)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&sa.ip().octets());
        }
        Address::Ip(SocketAddr::V6(sa)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&sa.ip().octets());
        }
        Address::Domain(name, _) => {
            validate_domain(name).map_err(Socks5Error::Domain)?;
            let len = u8::try_from(name.len()).ok().ok_or(Socks5Error::Domain(
                AddressError::DomainLength { len: name.len() },
            ))?;
            out.push(ATYP_DOMAIN);
            out.push(len);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
    Ok(())
}

/// Appends a reply `05 REP 00 ATYP BND.ADDR BND.PORT` (RFC 1928 section 6).
///
/// # Errors
///
/// [`Socks5Error::Domain`] when `bound` is a domain name that is not valid; nothing is
/// written then.
pub fn encode_reply(
    code: ReplyCode,
    bound: &Address,
    out: &mut Vec<u8>,
) -> Result<(), Socks5Error> {
    let start = out.len();
    out.extend_from_slice(&[SOCKS_VERSION, code.0, 0x00]);
    write_addr(bound, out).inspect_err(|_| out.truncate(start))
}

/// Appends a reply with bound address `0.0.0.0:0`, as sent on failure.
pub(crate) fn write_unspecified_reply(code: ReplyCode, out: &mut Vec<u8>) {
    out.extend_from_slice(&[SOCKS_VERSION, code.0, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}
