//! Where an upstream is: [`Target`] (an address or a host name with a port) and [`Upstream`]
//! (a target with a weight).

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::str::FromStr;

/// Longest host name accepted, in bytes (the DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// Largest accepted [`Upstream::weight`]. It bounds the consistent-hash ring (virtual nodes grow
/// with the weight) and keeps weight arithmetic far from overflow.
pub const MAX_WEIGHT: u32 = 1000;

/// An upstream's address: a literal socket address or a host name resolved (and re-resolved)
/// by the pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A literal socket address.
    Addr(SocketAddr),
    /// A host name and port; every address the name resolves to becomes an endpoint.
    Host {
        /// Host name, lowercase, without a trailing dot.
        name: String,
        /// Port, never 0.
        port: u16,
    },
}

/// Why a target string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No `:PORT` at the end.
    #[error("upstream {0:?} has no port (expected HOST:PORT, IP:PORT or [IPV6]:PORT)")]
    MissingPort(String),
    /// The port is not a number in 1-65535.
    #[error("upstream {0:?} has an invalid port (expected 1-65535)")]
    BadPort(String),
    /// The host part is not an IP address nor a valid host name.
    #[error("upstream {0:?} has an invalid host (expected HOST:PORT, IP:PORT or [IPV6]:PORT)")]
    BadHost(String),
}

impl Target {
    /// Parses `IP:PORT`, `[V6]:PORT` or `HOST:PORT`. Host names are lowercased and one
    /// trailing dot is dropped; port 0 is rejected.
    ///
    /// # Errors
    ///
    /// [`TargetError`] says which part is wrong.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let owned = || text.chars().take(300).collect::<String>();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(TargetError::BadPort(owned()));
            }
            return Ok(Self::Addr(addr));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| TargetError::MissingPort(owned()))?;
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(TargetError::BadPort(owned())),
            Ok(p) => p,
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        if !valid_host_name(host) {
            return Err(TargetError::BadHost(owned()));
        }
        Ok(Self::Host {
            name: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Labels of 1-63 letters, digits, `-` or `_`, not starting or ending with `-`; at most 253
/// bytes; the last label not all digits (so `1.2.3` is not taken for a name).
fn valid_host_name(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let last_not_numeric = host
        .rsplit('.')
        .next()
        .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && last_not_numeric
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(a) => write!(f, "{a}"),
            Self::Host { name, port } => write!(f, "{name}:{port}"),
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

/// One configured upstream: a target and its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upstream {
    /// Where to connect.
    pub target: Target,
    /// Relative share of new connections for weighted policies (1..=[`MAX_WEIGHT`], checked by
    /// [`Pool::new`](crate::Pool::new)). Default 1. A host target's weight applies to each of
    /// its resolved addresses.
    pub weight: NonZeroU32,
}

impl Upstream {
    /// An upstream with weight 1.
    #[must_use]
    pub fn new(target: Target) -> Self {
        Self {
            target,
            weight: NonZeroU32::MIN,
        }
    }

    /// The same upstream with another weight.
    #[must_use]
    pub fn with_weight(mut self, weight: NonZeroU32) -> Self {
        self.weight = weight;
        self
    }
}

impl From<SocketAddr> for Upstream {
    fn from(addr: SocketAddr) -> Self {
        Self::new(Target::Addr(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            Target::parse("127.0.0.1:80").unwrap(),
            Target::Addr("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            Target::parse("[::1]:443").unwrap(),
            Target::Addr("[::1]:443".parse().unwrap())
        );
        assert_eq!(
            Target::parse("Example.COM.:8080").unwrap(),
            Target::Host {
                name: "example.com".into(),
                port: 8080
            }
        );
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "127.0.0.1:0",
            "[::1]:0",
            "host:0",
            "host:65536",
            "host:x",
            "host",
            ":80",
            "::1:80",
            "-a.com:80",
            "a..b:80",
            "1.2.3:80",
            "a b:80",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.com:80", "a".repeat(300));
        assert!(matches!(Target::parse(&long), Err(TargetError::BadHost(_))));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_display_round_trips(s in "\\PC{0,80}") {
            if let Ok(t) = Target::parse(&s) {
                prop_assert_eq!(Target::parse(&t.to_string()).unwrap(), t);
            }
        }

        #[test]
        fn host_port_round_trips(name in "[a-z][a-z0-9-]{0,20}[a-z](\\.[a-z]{1,10}){0,3}", port in 1u16..) {
            let t = Target::parse(&format!("{name}:{port}")).unwrap();
            prop_assert_eq!(t, Target::Host { name, port });
        }
    }
}
