//! The destination a client asks for: an IP socket address or a domain name and a port.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Longest domain name accepted, in bytes (the SOCKS5 length byte; RFC 1928 section 5).
pub const MAX_DOMAIN_LEN: usize = 255;

/// Longest label of a domain name, in bytes (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A destination: an IP socket address, or a domain name with a port.
///
/// Built from the wire by all three fronts. A domain name is checked by
/// [`Address::from_domain`]: 1 to 255 bytes, labels of 1-63 letters, digits, `-` or `_` not
/// starting or ending with `-`, at most one trailing dot, and a last label that is not numeric
/// (all digits, or `0x` and hex digits), so that no resolver reads it as an IPv4 address
/// (`127.1`, `0x7f000001`). A domain that is an IP literal becomes [`Address::Ip`].
///
/// To check it with `ferry-allow`: for [`Address::Ip`] call `Allowlist::check_ip(ip, port)`; for
/// [`Address::Domain`] call `Allowlist::matches(name, port)` and then `check_resolved` with the
/// addresses you resolved. [`Address::host`] gives the host in the form `Allowlist::matches`
/// takes (an IPv6 address without brackets).
///
/// `Display` writes `1.2.3.4:80`, `[2001:db8::1]:443` or `example.com:443`; `FromStr` parses
/// the same forms (see [`Address::parse_authority`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A domain name (as received, not lowercased) and port.
    Domain(String, u16),
}

/// The host part of an [`Address`], borrowed. `Display` writes an IPv6 address without
/// brackets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host<'a> {
    /// An IP address.
    Ip(IpAddr),
    /// A domain name.
    Domain(&'a str),
}

/// Why a string is not a valid [`Address`] or domain name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// No `:port` after the host.
    #[error("missing port")]
    MissingPort,
    /// The port is not a decimal number in 1..=65535.
    #[error("invalid port (expected 1-65535)")]
    InvalidPort,
    /// A bracketed host that is not an IPv6 address, or an unbracketed IPv6 address.
    #[error("invalid IPv6 address (write it as [addr]:port)")]
    InvalidIpv6,
    /// The domain name is empty or longer than [`MAX_DOMAIN_LEN`].
    #[error("domain name length {len} is outside 1-255")]
    DomainLength {
        /// Its length in bytes.
        len: usize,
    },
    /// The domain name holds a byte other than letters, digits, `-`, `_` and `.`.
    #[error("domain name holds an invalid character")]
    DomainCharacter,
    /// A label is empty, longer than 63 bytes, or starts or ends with `-`.
    #[error("domain name has an invalid label")]
    DomainLabel,
    /// The last label is numeric, so resolvers could read the name as an IPv4 address.
    #[error("domain name looks like a numeric address")]
    NumericDomain,
}

impl Address {
    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            Self::Ip(sa) => sa.port(),
            Self::Domain(_, port) => *port,
        }
    }

    /// The host, in the form `ferry_allow::Allowlist::matches` takes.
    pub fn host(&self) -> Host<'_> {
        match self {
            Self::Ip(sa) => Host::Ip(sa.ip()),
            Self::Domain(name, _) => Host::Domain(name),
        }
    }

    /// The IP socket address, if this is one.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Ip(sa) => Some(*sa),
            Self::Domain(..) => None,
        }
    }

    /// The domain name, if this is one.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Self::Ip(_) => None,
            Self::Domain(name, _) => Some(name),
        }
    }

    /// A domain name and port, checked as described on [`Address`]; an IP literal (IPv4, or
    /// IPv6 with or without brackets) gives [`Address::Ip`]. Port 0 is accepted here.
    ///
    /// # Errors
    ///
    /// [`AddressError`] when `name` is neither an IP literal nor a valid domain name.
    pub fn from_domain(name: &str, port: u16) -> Result<Self, AddressError> {
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Self::Ip(SocketAddr::new(ip, port)));
        }
        validate_domain(name)?;
        Ok(Self::Domain(name.to_owned(), port))
    }

    /// Parses an authority `host:port`, `a.b.c.d:port` or `[v6]:port` (RFC 9110 section
    /// 9.3.6 `authority-form`); the port is 1 to 5 decimal digits with a value in 1..=65535.
    ///
    /// # Errors
    ///
    /// [`AddressError`] naming the first problem found.
    pub fn parse_authority(s: &str) -> Result<Self, AddressError> {
        if let Some(rest) = s.strip_prefix('[') {
            let (ip, port) = rest.split_once("]:").ok_or(if rest.ends_with(']') {
                AddressError::MissingPort
            } else {
                AddressError::InvalidIpv6
            })?;
            let ip: Ipv6Addr = ip.parse().ok().ok_or(AddressError::InvalidIpv6)?;
            let port = parse_port(port)?;
            return Ok(Self::Ip(SocketAddr::new(IpAddr::V6(ip), port)));
        }
        let (host, port) = s.rsplit_once(':').ok_or(AddressError::MissingPort)?;
        if host.contains(':') {
            return Err(AddressError::InvalidIpv6);
        }
        let port = parse_port(port)?;
        if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !host.is_empty() {
            // All digits and dots: an IPv4 address or nothing (a numeric "domain" is refused).
            return host
                .parse()
                .map(|ip| Self::Ip(SocketAddr::new(IpAddr::V4(ip), port)))
                .ok()
                .ok_or(AddressError::NumericDomain);
        }
        validate_domain(host)?;
        Ok(Self::Domain(host.to_owned(), port))
    }
}

impl From<SocketAddr> for Address {
    fn from(sa: SocketAddr) -> Self {
        Self::Ip(sa)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_authority(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(SocketAddr::V4(sa)) => write!(f, "{}:{}", sa.ip(), sa.port()),
            Self::Ip(SocketAddr::V6(sa)) => write!(f, "[{}]:{}", sa.ip(), sa.port()),
            Self::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Domain(name) => f.write_str(name),
        }
    }
}

/// Parses a port: 1 to 5 ASCII digits, value 1..=65535.
fn parse_port(s: &str) -> Result<u16, AddressError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::InvalidPort);
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(AddressError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// Checks a domain name as described on [`Address`].
///
/// # Errors
///
/// [`AddressError`] naming the first problem found.
pub fn validate_domain(name: &str) -> Result<(), AddressError> {
    let len = name.len();
    if len == 0 || len > MAX_DOMAIN_LEN {
        return Err(AddressError::DomainLength { len });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(AddressError::DomainCharacter);
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut last = "";
    for label in trimmed.split('.') {
        if label.is_empty()
            || label.len() > MAX_LABEL_LEN
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(AddressError::DomainLabel);
        }
        last = label;
    }
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex || last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::NumericDomain);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_forms() {
        let a: Address = "example.com:443".parse().unwrap();
        assert_eq!(a, Address::Domain("example.com".into(), 443));
        let a: Address = "10.0.0.1:80".parse().unwrap();
        assert_eq!(a, Address::Ip("10.0.0.1:80".parse().unwrap()));
        let a: Address = "[2001:db8::1]:8443".parse().unwrap();
        assert_eq!(a.to_string(), "[2001:db8::1]:8443");
        assert_eq!(a.host().to_string(), "2001:db8::1");
        for (bad, err) in [
            ("example.com", AddressError::MissingPort),
            ("example.com:0", AddressError::InvalidPort),
            ("example.com:65536", AddressError::InvalidPort),
            ("example.com:+80", AddressError::InvalidPort),
            ("example.com:", AddressError::InvalidPort),
            ("2001:db8::1:80", AddressError::InvalidIpv6),
            ("[2001:db8::1]", AddressError::MissingPort),
            ("[fe80::1%25eth0]:80", AddressError::InvalidIpv6),
            ("[1.2.3.4]:80", AddressError::InvalidIpv6),
            ("127.1:80", AddressError::NumericDomain),
            ("1.2.3.4.5:80", AddressError::NumericDomain),
            ("0x7f000001:80", AddressError::NumericDomain),
            ("a..b:80", AddressError::DomainLabel),
            ("-a.b:80", AddressError::DomainLabel),
            ("a b:80", AddressError::DomainCharacter),
            (":80", AddressError::DomainLength { len: 0 }),
            ("user@host:80", AddressError::DomainCharacter),
        ] {
            assert_eq!(Address::parse_authority(bad), Err(err), "{bad}");
        }
    }

    #[test]
    fn domain_limits() {
        let label = "a".repeat(63);
        let name = [label.as_str(); 4].join(".");
        assert_eq!(name.len(), 255);
        assert!(validate_domain(&name).is_ok());
        assert_eq!(
            validate_domain(&format!("{name}x")),
            Err(AddressError::DomainLength { len: 256 })
        );
        assert_eq!(
            validate_domain(&"a".repeat(64)),
            Err(AddressError::DomainLabel)
        );
        assert!(validate_domain("example.com.").is_ok());
        assert!(validate_domain("_srv.example").is_ok());
        assert!(validate_domain("1.2.3.com").is_ok());
    }

    #[test]
    fn from_domain_turns_literals_into_ips() {
        assert_eq!(
            Address::from_domain("127.0.0.1", 0),
            Ok(Address::Ip("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            Address::from_domain("::1", 53),
            Ok(Address::Ip("[::1]:53".parse().unwrap()))
        );
        assert_eq!(
            Address::from_domain("[::1]", 53),
            Ok(Address::Ip("[::1]:53".parse().unwrap()))
        );
        assert_eq!(
            Address::from_domain("127.1", 80),
            Err(AddressError::NumericDomain)
        );
    }
}
