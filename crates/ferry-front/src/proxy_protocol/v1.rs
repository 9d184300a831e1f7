//! PROXY protocol v1: `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN...\r\n`.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::{
    Command, ProxyAddresses, ProxyEncodeError, ProxyHeader, ProxyProtocolError, Transport,
    V1_MAX_LEN, V1_SIGNATURE, Version,
};
use crate::Parsed;

const PROTOCOLS: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];

pub(super) fn encode(h: &ProxyHeader, out: &mut Vec<u8>) -> Result<usize, ProxyEncodeError> {
    if !h.tlvs.is_empty() {
        return Err(ProxyEncodeError::V1Tlvs);
    }
    let start = out.len();
    let (Command::Proxy, Some(addrs)) = (h.command, h.addresses) else {
        out.extend_from_slice(b"PROXY UNKNOWN\r\n");
        return Ok(out.len() - start);
    };
    if h.transport == Transport::Datagram {
        return Err(ProxyEncodeError::V1Datagram);
    }
    let proto = match (addrs.source, addrs.destination) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
        (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
        _ => return Err(ProxyEncodeError::MixedFamilies),
    };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {proto} {} {} {} {}\r\n",
        addrs.source.ip(),
        addrs.destination.ip(),
        addrs.source.port(),
        addrs.destination.port()
    );
    Ok(out.len() - start)
}

/// `input` starts with `P`.
pub(super) fn decode(input: &[u8]) -> Result<Parsed<ProxyHeader>, ProxyProtocolError> {
    let sig_len = input.len().min(V1_SIGNATURE.len());
    if input.get(..sig_len) != V1_SIGNATURE.get(..sig_len) {
        return Err(ProxyProtocolError::NoSignature);
    }
    let window = input.get(..input.len().min(V1_MAX_LEN)).unwrap_or(input);
    let lf = window.iter().position(|&b| b == b'\n');
    let body = window
        .get(V1_SIGNATURE.len()..lf.unwrap_or(window.len()))
        .unwrap_or_default();
    // The same check on every prefix, so that bytes fed one at a time fail exactly like the
    // whole line.
    check_prefix(body)?;
    let Some(lf) = lf else {
        if input.len() >= V1_MAX_LEN {
            return Err(ProxyProtocolError::V1TooLong);
        }
        return Ok(Parsed::Incomplete);
    };
    let line = body
        .strip_suffix(b"\r")
        .ok_or(ProxyProtocolError::V1Syntax)?;
    let header = parse_line(line)?;
    Ok(Parsed::Complete {
        value: header,
        consumed: lf + 1,
    })
}

/// Rejects a partial line (after the signature, no LF yet) that cannot become valid.
fn check_prefix(rest: &[u8]) -> Result<(), ProxyProtocolError> {
    let token_end = rest.iter().position(|&b| b == b' ' || b == b'\r');
    let token = rest.get(..token_end.unwrap_or(rest.len())).unwrap_or(rest);
    let known = if token_end.is_some() {
        PROTOCOLS.contains(&token)
    } else {
        PROTOCOLS.iter().any(|p| p.starts_with(token))
    };
    if !known {
        return Err(ProxyProtocolError::V1Protocol);
    }
    if token == b"UNKNOWN" {
        return Ok(()); // anything may follow until CRLF
    }
    let body = rest.get(token.len()..).unwrap_or_default();
    let (last, init) = match body.split_last() {
        Some((last, init)) => (*last, init),
        None => return Ok(()),
    };
    let ok = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b' ');
    if init.iter().all(|&b| ok(b)) && (ok(last) || last == b'\r') {
        Ok(())
    } else {
        Err(ProxyProtocolError::V1Syntax)
    }
}

/// Parses the line between `PROXY ` and CRLF.
fn parse_line(line: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return Ok(ProxyHeader::local(Version::V1));
    }
    let text = std::str::from_utf8(line)
        .ok()
        .ok_or(ProxyProtocolError::V1Syntax)?;
    let mut parts = text.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(
            if PROTOCOLS.contains(&text.split(' ').next().unwrap_or("").as_bytes()) {
                ProxyProtocolError::V1Syntax
            } else {
                ProxyProtocolError::V1Protocol
            },
        );
    };
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            IpAddr::V4(src.parse().ok().ok_or(ProxyProtocolError::V1Address)?),
            IpAddr::V4(dst.parse().ok().ok_or(ProxyProtocolError::V1Address)?),
        ),
        "TCP6" => (
            IpAddr::V6(src.parse().ok().ok_or(ProxyProtocolError::V1Address)?),
            IpAddr::V6(dst.parse().ok().ok_or(ProxyProtocolError::V1Address)?),
        ),
        _ => return Err(ProxyProtocolError::V1Protocol),
    };
    let addresses = ProxyAddresses {
        source: SocketAddr::new(src, parse_port(sport)?),
        destination: SocketAddr::new(dst, parse_port(dport)?),
    };
    Ok(ProxyHeader {
        version: Version::V1,
        command: Command::Proxy,
        transport: Transport::Stream,
        addresses: Some(addresses),
        tlvs: Vec::new(),
    })
}

/// A port: decimal 0..=65535 without sign or leading zeros.
fn parse_port(s: &str) -> Result<u16, ProxyProtocolError> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return Err(ProxyProtocolError::V1Port);
    }
    s.parse().ok().ok_or(ProxyProtocolError::V1Port)
}
