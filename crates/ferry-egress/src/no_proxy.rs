//! `NO_PROXY`: the destinations reached directly even though a proxy is set.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ferry_front::{Address, AddressError, Host, validate_domain};
use ipnet::IpNet;

/// Longest entry echoed in an error message (longer ones are cut, with `...`).
const MAX_ECHO: usize = 64;

/// A `NO_PROXY` list, with curl's rules plus optional ports:
///
/// - entries are separated by commas and/or blanks; empty entries are skipped;
/// - `*` (an entry of its own) matches every destination;
/// - a domain name matches itself and every name under it (`example.com` and `.example.com`
///   both match `example.com` and `www.example.com`, not `notexample.com`); `*.example.com`
///   is read as `.example.com`; case and one trailing dot are ignored on both sides;
/// - an IP address matches that address; a CIDR (`10.0.0.0/8`, `fd00::/8`) every address in
///   it; IPv6 addresses are written without brackets (`::1`), or in brackets when followed by
///   a port (`[::1]:8443`);
/// - `:port` after a name, an IPv4 address or CIDR, or a bracketed IPv6 address limits the
///   entry to that port;
/// - names are compared as written, never resolved: `localhost` does not match `127.0.0.1`,
///   and an IP entry does not match a destination given by name.
///
/// `Display` writes the entries in a canonical form that parses back to the same list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

/// One entry of a [`NoProxy`] list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoProxyEntry {
    /// A domain and everything under it: lowercase, without leading or trailing dot.
    Domain {
        /// The domain.
        name: String,
        /// Only this port, if set.
        port: Option<u16>,
    },
    /// An address or network (an address is a /32 or /128), host bits cleared.
    Network {
        /// The network.
        net: IpNet,
        /// Only this port, if set.
        port: Option<u16>,
    },
}

/// Why a `NO_PROXY` entry is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index} {entry:?} is not a host name, IP address or CIDR")]
#[non_exhaustive]
pub struct NoProxyError {
    /// The entry's position in the list (0-based, empty entries not counted).
    pub index: usize,
    /// The entry as written (cut to 64 bytes).
    pub entry: String,
    /// What is wrong with it.
    #[source]
    pub reason: NoProxyReason,
}

/// What is wrong with a `NO_PROXY` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoProxyReason {
    /// `*` anywhere but alone or as `*.` before a domain.
    #[error("'*' only stands alone or as '*.' before a domain")]
    Wildcard,
    /// The port is not a decimal number in 1..=65535.
    #[error("invalid port (expected 1-65535)")]
    Port,
    /// An address or CIDR that does not parse, or a prefix length beyond 32 / 128.
    #[error("invalid IP address or CIDR")]
    Ip,
    /// Not a valid domain name; a numeric one (`192.168.`) hints at a partial address,
    /// which is not supported: write a CIDR (`192.168.0.0/16`).
    #[error("invalid domain name (write address ranges as CIDRs, e.g. 192.168.0.0/16)")]
    Domain(#[source] AddressError),
}

impl NoProxy {
    /// An empty list: nothing bypasses the proxy.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A list that matches everything (`*`).
    #[must_use]
    pub fn all() -> Self {
        Self {
            all: true,
            entries: Vec::new(),
        }
    }

    /// Parses a list as described on [`NoProxy`].
    ///
    /// # Errors
    ///
    /// [`NoProxyError`] for the first entry that is not a name, address or CIDR (with an
    /// optional port) or `*`; nothing is skipped silently.
    pub fn parse(list: &str) -> Result<Self, NoProxyError> {
        let mut out = Self::default();
        let tokens = list
            .split([',', ' ', '\t'])
            .filter(|t| !t.is_empty())
            .enumerate();
        for (index, token) in tokens {
            if token == "*" {
                out.all = true;
                continue;
            }
            let entry = parse_entry(token).map_err(|reason| NoProxyError {
                index,
                entry: echo(token),
                reason,
            })?;
            if !out.entries.contains(&entry) {
                out.entries.push(entry);
            }
        }
        Ok(out)
    }

    /// Whether the list matches everything (`*`).
    #[must_use]
    pub fn matches_all(&self) -> bool {
        self.all
    }

    /// Whether the list is empty (matches nothing).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }

    /// The entries other than `*`, in order, without duplicates.
    #[must_use]
    pub fn entries(&self) -> &[NoProxyEntry] {
        &self.entries
    }

    /// Whether `target` is to be reached directly.
    #[must_use]
    pub fn matches(&self, target: &Address) -> bool {
        self.matches_host(target.host(), target.port())
    }

    /// Whether `host` on `port` is to be reached directly.
    #[must_use]
    pub fn matches_host(&self, host: Host<'_>, port: u16) -> bool {
        if self.all {
            return true;
        }
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        match host {
            Host::Ip(ip) => {
                let mapped = canonical_ip(ip);
                self.entries.iter().any(|e| match e {
                    NoProxyEntry::Network { net, port } => {
                        port_ok(port) && (net.contains(&ip) || net.contains(&mapped))
                    }
                    NoProxyEntry::Domain { .. } => false,
                })
            }
            Host::Domain(name) => {
                // A name written as an address is the address.
                let bare = name
                    .strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .unwrap_or(name);
                if let Ok(ip) = bare.parse::<IpAddr>() {
                    return self.matches_host(Host::Ip(ip), port);
                }
                let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
                self.entries.iter().any(|e| match e {
                    NoProxyEntry::Domain { name: d, port } => {
                        port_ok(port)
                            && (name == *d
                                || name
                                    .strip_suffix(d.as_str())
                                    .is_some_and(|head| head.ends_with('.')))
                    }
                    NoProxyEntry::Network { .. } => false,
                })
            }
            // `Host` is non-exhaustive; every kind it has today is above.
            _ => false,
        }
    }
}

impl FromStr for NoProxy {
    type Err = NoProxyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if self.all {
            f.write_str("*")?;
            first = false;
        }
        for e in &self.entries {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl fmt::Display for NoProxyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain { name, port: None } => f.write_str(name),
            Self::Domain {
                name,
                port: Some(p),
            } => write!(f, "{name}:{p}"),
            Self::Network { net, port } => {
                let single = net.prefix_len() == net.max_prefix_len();
                match (net, port) {
                    (IpNet::V6(n), Some(p)) if single => write!(f, "[{}]:{p}", n.addr()),
                    (IpNet::V6(n), None) if single => write!(f, "{}", n.addr()),
                    (IpNet::V4(n), Some(p)) if single => write!(f, "{}:{p}", n.addr()),
                    (IpNet::V4(n), None) if single => write!(f, "{}", n.addr()),
                    (IpNet::V4(n), Some(p)) => write!(f, "{n}:{p}"),
                    (net, _) => write!(f, "{net}"),
                }
            }
        }
    }
}

fn parse_entry(token: &str) -> Result<NoProxyEntry, NoProxyReason> {
    // Bracketed IPv6, with an optional port.
    if let Some(rest) = token.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or(NoProxyReason::Ip)?;
        let ip: Ipv6Addr = ip.parse().ok().ok_or(NoProxyReason::Ip)?;
        let port = match after {
            "" => None,
            _ => Some(port(after.strip_prefix(':').ok_or(NoProxyReason::Port)?)?),
        };
        return Ok(network(IpAddr::V6(ip), 128, port));
    }
    // Two colons or more: an unbracketed IPv6 address or network, no port.
    if token.bytes().filter(|&b| b == b':').count() >= 2 {
        return ip_or_net(token, None);
    }
    let (host, port) = match token.rsplit_once(':') {
        Some((host, p)) => (host, Some(port(p)?)),
        None => (token, None),
    };
    if host.contains('/') || host.parse::<IpAddr>().is_ok() {
        if host.contains(':') {
            // `::1` after removing a "port": IPv6 needs brackets for a port.
            return Err(NoProxyReason::Ip);
        }
        return ip_or_net(host, port);
    }
    let name = host.strip_prefix("*.").map_or(host, |rest| rest);
    if name.contains('*') {
        return Err(NoProxyReason::Wildcard);
    }
    let name = name.strip_prefix('.').unwrap_or(name);
    // Checked with its trailing dot, if any (one is allowed, `a..` is refused), then kept
    // without it.
    validate_domain(name).map_err(NoProxyReason::Domain)?;
    let name = name.strip_suffix('.').unwrap_or(name);
    Ok(NoProxyEntry::Domain {
        name: name.to_ascii_lowercase(),
        port,
    })
}

fn ip_or_net(s: &str, port: Option<u16>) -> Result<NoProxyEntry, NoProxyReason> {
    if let Some((ip, len)) = s.split_once('/') {
        let ip: IpAddr = ip.parse().ok().ok_or(NoProxyReason::Ip)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoProxyReason::Ip);
        }
        let len: u8 = len.parse().ok().ok_or(NoProxyReason::Ip)?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(NoProxyReason::Ip);
        }
        return Ok(network(ip, len, port));
    }
    let ip: IpAddr = s.parse().ok().ok_or(NoProxyReason::Ip)?;
    let len = if ip.is_ipv4() { 32 } else { 128 };
    Ok(network(ip, len, port))
}

fn network(ip: IpAddr, len: u8, port: Option<u16>) -> NoProxyEntry {
    // An IPv4-mapped IPv6 network inside ::ffff:0:0/96 is the IPv4 network it covers.
    let (ip, len) = match ip {
        IpAddr::V6(v6) if len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), len - 96),
            None => (ip, len),
        },
        _ => (ip, len),
    };
    // `len` was checked against the family's maximum; fall back to a single address.
    let net = IpNet::new(ip, len)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(ip));
    NoProxyEntry::Network { net, port }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as the IPv4 address it is.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn port(s: &str) -> Result<u16, NoProxyReason> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NoProxyReason::Port);
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(NoProxyReason::Port),
        Ok(p) => Ok(p),
    }
}

fn echo(token: &str) -> String {
    if token.len() <= MAX_ECHO {
        return token.to_owned();
    }
    let mut end = MAX_ECHO;
    while !token.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", token.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn m(list: &str, target: &str) -> bool {
        NoProxy::parse(list)
            .unwrap()
            .matches(&target.parse().unwrap())
    }

    #[test]
    fn curl_rules() {
        // curl's documented example: "ample.com" matches ample.com and www.ample.com, not
        // www.example.com or ample.com.org.
        assert!(m("ample.com", "ample.com:443"));
        assert!(m("ample.com", "www.ample.com:80"));
        assert!(!m("ample.com", "www.example.com:443"));
        assert!(!m("ample.com", "ample.com.org:443"));
        assert!(m(".example.com", "example.com:1"));
        assert!(m("*.example.com", "a.b.example.com:1"));
        assert!(m("EXAMPLE.com.", "www.Example.COM.:1"));
        assert!(m("*", "anything.example:1"));
        assert!(m("a.example, *", "other.example:1"));
        assert!(m("192.168.0.0/16", "192.168.4.5:1"));
        assert!(!m("192.168.0.0/16", "192.169.0.1:1"));
        assert!(m("10.1.2.3/8", "10.200.0.1:1"));
        assert!(m("::1", "[::1]:8443"));
        assert!(m("fd00::/8", "[fd12::1]:1"));
        assert!(m("10.0.0.0/8", "[::ffff:10.0.0.1]:1"));
        assert!(!m("localhost", "127.0.0.1:1"));
        assert!(!m("127.0.0.1", "localhost:1"));
        assert!(!m("", "example.com:1"));
        // Ports.
        assert!(m("example.com:8443", "example.com:8443"));
        assert!(!m("example.com:8443", "example.com:443"));
        assert!(m("[::1]:443", "[::1]:443"));
        assert!(!m("[::1]:443", "[::1]:80"));
        assert!(m("10.0.0.0/8:443", "10.1.1.1:443"));
        assert!(!m("10.0.0.0/8:443", "10.1.1.1:80"));
        // Blanks separate like commas.
        assert!(m(" a.example\tb.example ,, c.example", "b.example:1"));
    }

    #[test]
    fn refusals_name_the_entry() {
        for (bad, index, reason) in [
            ("a.example,b*c", 1, NoProxyReason::Wildcard),
            ("x:0", 0, NoProxyReason::Port),
            ("x:99999", 0, NoProxyReason::Port),
            ("10.0.0.0/33", 0, NoProxyReason::Ip),
            ("::1/129", 0, NoProxyReason::Ip),
            ("[::1", 0, NoProxyReason::Ip),
            ("[::1]443", 0, NoProxyReason::Port),
            (
                "192.168.",
                0,
                NoProxyReason::Domain(AddressError::NumericDomain),
            ),
            ("a..b", 0, NoProxyReason::Domain(AddressError::DomainLabel)),
            // Found by the fuzzer: two trailing dots used to leave one in the entry, which
            // printed as a list that parsed to another one.
            ("a..", 0, NoProxyReason::Domain(AddressError::DomainLabel)),
        ] {
            let err = NoProxy::parse(bad).unwrap_err();
            assert_eq!((err.index, err.reason), (index, reason), "{bad}");
        }
    }

    #[test]
    fn display_is_canonical() {
        let list =
            NoProxy::parse("*, .Example.COM., 10.1.2.3/8:443, ::1, [::2]:80, 1.2.3.4").unwrap();
        assert_eq!(
            list.to_string(),
            "*,example.com,10.0.0.0/8:443,::1,[::2]:80,1.2.3.4"
        );
        assert_eq!(NoProxy::parse(&list.to_string()).unwrap(), list);
    }
}
