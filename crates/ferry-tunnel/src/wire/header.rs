//! The per-tunnel header (gateway to agent) and the agent's status.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;

use super::{Parsed, Reader, VERSION, WireError, decode_reply};

/// Longest domain name in a header.
pub const MAX_DOMAIN_LEN: usize = 255;

/// Longest tunnel header: version, protocol (version 2 only), request id, domain destination,
/// port, IPv6 client.
pub const MAX_HEADER_LEN: usize = 1 + 1 + 8 + (1 + 1 + MAX_DOMAIN_LEN + 2) + (1 + 16 + 2);

/// The header version that carries a `protocol` byte (UDP tunnels). TCP tunnels keep sending
/// version 1 headers, byte for byte as before.
pub const HEADER_VERSION_2: u8 = 2;

/// The version 2 `protocol` byte of a UDP tunnel (its IANA protocol number). TCP tunnels use
/// version 1 headers, so version 2 defines no TCP value.
pub const PROTOCOL_UDP: u8 = 0x11;

const TYPE_V4: u8 = 1;
const TYPE_DOMAIN: u8 = 3;
const TYPE_V6: u8 = 4;

/// The host the agent should connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DestHost {
    /// An IP address.
    Ip(IpAddr),
    /// A domain name (1-255 bytes of ASCII letters, digits, `-`, `_`, `.`), resolved by the
    /// agent.
    Domain(Box<str>),
}

impl DestHost {
    /// A domain name.
    ///
    /// # Errors
    ///
    /// [`WireError::DomainName`] when it is empty, longer than 255 bytes or holds other bytes.
    pub fn domain(name: &str) -> Result<Self, WireError> {
        if valid_domain(name.as_bytes()) {
            Ok(Self::Domain(name.into()))
        } else {
            Err(WireError::DomainName)
        }
    }
}

fn valid_domain(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DOMAIN_LEN
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Where a tunnel goes: a host and a non-zero port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The host.
    pub host: DestHost,
    /// The port.
    pub port: NonZeroU16,
}

impl Destination {
    /// A destination from a host and a port.
    #[must_use]
    pub fn new(host: DestHost, port: NonZeroU16) -> Self {
        Self { host, port }
    }

    /// A destination from `host` (an IP address or a domain name, IPv6 without brackets) and
    /// `port`.
    ///
    /// # Errors
    ///
    /// [`WireError::Port`] for port 0, [`WireError::DomainName`] for an invalid name.
    pub fn parse(host: &str, port: u16) -> Result<Self, WireError> {
        let port = NonZeroU16::new(port).ok_or(WireError::Port)?;
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => DestHost::Ip(ip),
            Err(_) => DestHost::domain(host)?,
        };
        Ok(Self { host, port })
    }
}

impl TryFrom<SocketAddr> for Destination {
    type Error = WireError;

    fn try_from(addr: SocketAddr) -> Result<Self, WireError> {
        let port = NonZeroU16::new(addr.port()).ok_or(WireError::Port)?;
        Ok(Self::new(DestHost::Ip(addr.ip()), port))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            DestHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            DestHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            DestHost::Domain(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// What a tunnel carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// A byte stream to a TCP destination (header version 1; the default).
    #[default]
    Tcp,
    /// Datagrams to a UDP destination, framed on the stream (header version 2, protocol
    /// `0x11`; see [`encode_datagram`](super::encode_datagram)).
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`, for logs and metrics.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The header the gateway writes first on every tunnel stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TunnelHeader {
    /// What the tunnel carries: [`Protocol::Tcp`] is encoded as a version 1 header (unchanged
    /// since the first release), anything else as version 2 with a `protocol` byte.
    pub protocol: Protocol,
    /// An id chosen by the gateway for logs on both ends.
    pub request_id: u64,
    /// Where the agent should connect.
    pub destination: Destination,
    /// The client that asked for the tunnel, as the gateway saw it.
    pub client: SocketAddr,
}

fn push_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(TYPE_V4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(TYPE_V6);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// Appends the encoded header to `out` (at most [`MAX_HEADER_LEN`] bytes): version 1 for
/// [`Protocol::Tcp`], version 2 with the `protocol` byte otherwise.
pub fn encode_header(header: &TunnelHeader, out: &mut Vec<u8>) {
    match header.protocol {
        Protocol::Tcp => out.push(VERSION),
        Protocol::Udp => out.extend_from_slice(&[HEADER_VERSION_2, PROTOCOL_UDP]),
    }
    out.extend_from_slice(&header.request_id.to_be_bytes());
    match &header.destination.host {
        DestHost::Ip(ip) => push_ip(*ip, out),
        DestHost::Domain(name) => {
            out.push(TYPE_DOMAIN);
            // At most 255 bytes by construction.
            out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&header.destination.port.get().to_be_bytes());
    push_ip(header.client.ip(), out);
    out.extend_from_slice(&header.client.port().to_be_bytes());
}

/// `Ok(None)`: incomplete.
fn read_ip(r: &mut Reader<'_>, kind: u8) -> Result<Option<IpAddr>, WireError> {
    Ok(match kind {
        TYPE_V4 => r.array::<4>().map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        TYPE_V6 => r.array::<16>().map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        other => return Err(WireError::AddressType(other)),
    })
}

/// Decodes a tunnel header from the bytes received so far.
///
/// # Errors
///
/// [`WireError::UnsupportedVersion`] (a version other than 1 and 2),
/// [`WireError::UnknownProtocol`] (a version 2 `protocol` byte other than `0x11`),
/// [`WireError::AddressType`], [`WireError::DomainName`] (length 0 or bytes not allowed),
/// [`WireError::Port`] (destination port 0).
pub fn decode_header(buf: &[u8]) -> Result<Parsed<TunnelHeader>, WireError> {
    let mut r = Reader::new(buf);
    let protocol = match r.u8() {
        None => return Ok(Parsed::Incomplete),
        Some(VERSION) => Protocol::Tcp,
        Some(HEADER_VERSION_2) => {
            let Some(code) = r.u8() else {
                return Ok(Parsed::Incomplete);
            };
            if code != PROTOCOL_UDP {
                return Err(WireError::UnknownProtocol(code));
            }
            Protocol::Udp
        }
        Some(v) => return Err(WireError::UnsupportedVersion(v)),
    };
    let Some(id) = r.array::<8>() else {
        return Ok(Parsed::Incomplete);
    };
    let Some(kind) = r.u8() else {
        return Ok(Parsed::Incomplete);
    };
    let host = if kind == TYPE_DOMAIN {
        let Some(len) = r.u8() else {
            return Ok(Parsed::Incomplete);
        };
        if len == 0 {
            return Err(WireError::DomainName);
        }
        let Some(name) = r.take(usize::from(len)) else {
            return Ok(Parsed::Incomplete);
        };
        if !valid_domain(name) {
            return Err(WireError::DomainName);
        }
        let name = std::str::from_utf8(name).map_err(|_not_ascii| WireError::DomainName)?;
        DestHost::Domain(name.into())
    } else {
        let Some(ip) = read_ip(&mut r, kind)? else {
            return Ok(Parsed::Incomplete);
        };
        DestHost::Ip(ip)
    };
    let Some(port) = r.u16() else {
        return Ok(Parsed::Incomplete);
    };
    let port = NonZeroU16::new(port).ok_or(WireError::Port)?;
    let Some(client_kind) = r.u8() else {
        return Ok(Parsed::Incomplete);
    };
    let Some(client_ip) = read_ip(&mut r, client_kind)? else {
        return Ok(Parsed::Incomplete);
    };
    let Some(client_port) = r.u16() else {
        return Ok(Parsed::Incomplete);
    };
    Ok(Parsed::Complete {
        value: TunnelHeader {
            protocol,
            request_id: u64::from_be_bytes(id),
            destination: Destination { host, port },
            client: SocketAddr::new(client_ip, client_port),
        },
        consumed: r.pos(),
    })
}

/// The agent's answer to a tunnel header. Everything but [`TunnelStatus::Ok`] ends the
/// stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TunnelStatus {
    /// Connected; raw bytes follow in both directions (code 0).
    Ok,
    /// The destination is not allowed by the agent's allowlist or is a special address (1).
    Denied,
    /// The name did not resolve (2).
    DnsFailure,
    /// The destination refused the connection (3).
    Refused,
    /// No route to the destination (host or network unreachable) (4).
    Unreachable,
    /// The connection attempt timed out (5).
    Timeout,
    /// The header could not be decoded (6).
    Malformed,
    /// The header has a version the agent does not speak (7).
    UnsupportedVersion,
    /// The agent is draining or over capacity (8).
    Unavailable,
    /// Another error while connecting (9).
    Failure,
}

impl TunnelStatus {
    /// Every status, in code order.
    pub const ALL: [Self; 10] = [
        Self::Ok,
        Self::Denied,
        Self::DnsFailure,
        Self::Refused,
        Self::Unreachable,
        Self::Timeout,
        Self::Malformed,
        Self::UnsupportedVersion,
        Self::Unavailable,
        Self::Failure,
    ];

    /// The code on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Denied => 1,
            Self::DnsFailure => 2,
            Self::Refused => 3,
            Self::Unreachable => 4,
            Self::Timeout => 5,
            Self::Malformed => 6,
            Self::UnsupportedVersion => 7,
            Self::Unavailable => 8,
            Self::Failure => 9,
        }
    }

    /// The status for a code, if defined.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// A short lowercase label for logs and metrics (`ok`, `denied`, `dns_failure`, ...).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::DnsFailure => "dns_failure",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Malformed => "malformed",
            Self::UnsupportedVersion => "unsupported_version",
            Self::Unavailable => "unavailable",
            Self::Failure => "failure",
        }
    }
}

impl fmt::Display for TunnelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Appends the two-byte status to `out`.
pub fn encode_status(status: TunnelStatus, out: &mut Vec<u8>) {
    out.extend_from_slice(&[VERSION, status.code()]);
}

/// Decodes a tunnel status.
///
/// # Errors
///
/// [`WireError::UnsupportedVersion`], [`WireError::UnknownCode`].
pub fn decode_status(buf: &[u8]) -> Result<Parsed<TunnelStatus>, WireError> {
    decode_reply(buf, TunnelStatus::from_code)
}
