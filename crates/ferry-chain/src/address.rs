//! Next-hop and destination addresses: IPv4, IPv6 or a domain name, and a port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;
use std::str::FromStr;

/// Longest domain name on the wire.
pub const MAX_DOMAIN_LEN: usize = 255;

/// An address could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Port 0, or not a number in 1..=65535.
    #[error("port is not a number in 1..=65535")]
    Port,
    /// No `:port` part.
    #[error("missing `:port`")]
    MissingPort,
    /// The name is empty, longer than 255 bytes, or has characters other than ASCII letters,
    /// digits, `-`, `_` and `.`.
    #[error("invalid domain name")]
    Domain,
}

/// A domain name as carried on the wire: 1..=255 bytes of ASCII letters, digits, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Validates a name.
    ///
    /// # Errors
    ///
    /// [`AddressError::Domain`] when the name is empty, too long or has other characters.
    pub fn new(name: &str) -> Result<Self, AddressError> {
        if valid_domain(name.as_bytes()) {
            Ok(Self(name.to_owned()))
        } else {
            Err(AddressError::Domain)
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn valid_domain(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DOMAIN_LEN
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The host part of an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address.
    V6(Ipv6Addr),
    /// A domain name, resolved by the hop that dials it.
    Domain(DomainName),
}

/// Where a hop connects next: a host and a non-zero port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    host: Host,
    port: NonZeroU16,
}

impl Address {
    /// An address from a host and a port.
    #[must_use]
    pub fn new(host: Host, port: NonZeroU16) -> Self {
        Self { host, port }
    }

    /// The host.
    #[must_use]
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port (never 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port.get()
    }

    /// The socket address when the host is an IP address.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.host {
            Host::V4(ip) => Some(SocketAddr::new(IpAddr::V4(*ip), self.port())),
            Host::V6(ip) => Some(SocketAddr::new(IpAddr::V6(*ip), self.port())),
            Host::Domain(_) => None,
        }
    }

    /// Bytes this address takes in a request plaintext (type, address, port).
    pub(crate) fn wire_len(&self) -> usize {
        1 + 2
            + match &self.host {
                Host::V4(_) => 4,
                Host::V6(_) => 16,
                Host::Domain(d) => 1 + d.0.len(),
            }
    }
}

impl TryFrom<SocketAddr> for Address {
    type Error = AddressError;

    fn try_from(addr: SocketAddr) -> Result<Self, AddressError> {
        let port = NonZeroU16::new(addr.port()).ok_or(AddressError::Port)?;
        let host = match addr.ip() {
            IpAddr::V4(ip) => Host::V4(ip),
            IpAddr::V6(ip) => Host::V6(ip),
        };
        Ok(Self { host, port })
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Parses `host:port`, `a.b.c.d:port` or `[v6]:port`.
    fn from_str(s: &str) -> Result<Self, AddressError> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Self::try_from(sa);
        }
        let (host, port) = s.rsplit_once(':').ok_or(AddressError::MissingPort)?;
        let port = port
            .parse::<NonZeroU16>()
            .map_err(|_not_a_port| AddressError::Port)?;
        let host = match host.parse::<Ipv4Addr>() {
            Ok(ip) => Host::V4(ip),
            Err(_) => Host::Domain(DomainName::new(host)?),
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::V4(ip) => write!(f, "{ip}:{}", self.port),
            Host::V6(ip) => write!(f, "[{ip}]:{}", self.port),
            Host::Domain(d) => write!(f, "{}:{}", d.0, self.port),
        }
    }
}
