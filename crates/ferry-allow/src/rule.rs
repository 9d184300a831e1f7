//! One allowlist entry: grammar, canonical form and the reference (linear) match.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{ParseError, ParseErrorKind};
use crate::ipv6::parse_ipv6;
use crate::name::{HostName, MAX_NAME_LEN, NameError, normalize_into};
use crate::ports::PortRange;
use crate::special::canonical;

/// What a rule matches on the host side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostPattern {
    /// Exactly this name (`localhost`).
    Name(HostName),
    /// This zone and every name under it (`*.zone` matches `zone`, `a.zone`, `a.b.zone`).
    Zone(HostName),
    /// Every address in this network; a single address is a `/32` or `/128` network. Host bits
    /// are cleared (`10.0.0.1/8` is `10.0.0.0/8`) and IPv4-mapped IPv6 networks of length 96 or
    /// more are stored as the IPv4 network they map (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
    Net(IpNet),
}

/// One parsed allowlist entry: a host pattern and the ports it allows.
///
/// Parse one entry with [`str::parse`]; the grammar is in the [crate docs](crate). `Display`
/// writes the canonical form, which parses back to an equal rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    host: HostPattern,
    ports: PortRange,
}

impl Rule {
    /// A rule from its parts; a [`HostPattern::Net`] is brought to canonical form.
    pub fn new(host: HostPattern, ports: PortRange) -> Self {
        let host = match host {
            HostPattern::Net(net) => HostPattern::Net(canonical_net(net)),
            other => other,
        };
        Self { host, ports }
    }

    /// The host side of the rule.
    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    /// The ports the rule allows ([`PortRange::ANY`] when the entry has no `:port`).
    pub fn ports(&self) -> PortRange {
        self.ports
    }

    /// Whether the rule matches `host` (a name or an IP literal, IPv6 with or without brackets),
    /// ignoring ports. Names match name rules only and addresses match address rules only.
    ///
    /// This is the reference semantics, one rule at a time; [`crate::Allowlist`] answers the
    /// same question for all rules at once without scanning them.
    pub fn matches_host(&self, host: &str) -> bool {
        let mut buf = [0u8; MAX_NAME_LEN];
        match (TargetHost::parse(host, &mut buf), &self.host) {
            (TargetHost::Ip(ip), HostPattern::Net(net)) => net.contains(&ip),
            (TargetHost::Name(len), HostPattern::Name(name)) => {
                buf.get(..len) == Some(name.as_str().as_bytes())
            }
            (TargetHost::Name(len), HostPattern::Zone(zone)) => buf
                .get(..len)
                .and_then(|n| std::str::from_utf8(n).ok())
                .is_some_and(|n| zone.is_suffix_of(n)),
            _ => false,
        }
    }

    /// Whether the rule matches `host` and allows `port`.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.ports.contains(port) && self.matches_host(host)
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let IpAddr::V4(v4) = canonical(IpAddr::V6(v6.network()))
        && let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

/// A target host: an IP address (IPv4-mapped given as IPv4), a valid name whose canonical form
/// was written to the caller's buffer (its length), or an invalid name.
pub(crate) enum TargetHost {
    Ip(IpAddr),
    Name(usize),
    Invalid(NameError),
}

impl TargetHost {
    pub(crate) fn parse(host: &str, buf: &mut [u8; MAX_NAME_LEN]) -> Self {
        if let Some(ip) = parse_ip_literal(host) {
            return Self::Ip(canonical(ip));
        }
        match normalize_into(host.as_bytes(), buf) {
            Ok(len) => Self::Name(len),
            Err(e) => Self::Invalid(e),
        }
    }
}

/// `a.b.c.d`, `v6` or `[v6]`.
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let first = *host.as_bytes().first()?;
    if first == b'[' {
        let inner = host.strip_prefix('[')?.strip_suffix(']')?;
        return parse_ipv6(inner).map(IpAddr::V6);
    }
    // Only IPv6 addresses contain ':', and IPv4 addresses start with a digit: most names are
    // rejected without running a parser.
    if host.contains(':') {
        parse_ipv6(host).map(IpAddr::V6)
    } else if first.is_ascii_digit() {
        host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        None
    }
}

impl FromStr for Rule {
    type Err = ParseError;

    /// Parses one entry (surrounding whitespace ignored). The error has no entry index.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entry = s.trim();
        parse_entry(entry).map_err(|kind| ParseError::new(None, entry, kind))
    }
}

/// Parses one trimmed entry.
pub(crate) fn parse_entry(s: &str) -> Result<Rule, ParseErrorKind> {
    if s.is_empty() {
        return Err(ParseErrorKind::Empty);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or(ParseErrorKind::UnclosedBracket)?;
        let addr: Ipv6Addr = inside
            .parse()
            .ok()
            .ok_or(ParseErrorKind::InvalidBracketedAddress)?;
        return net_with_suffix(IpAddr::V6(addr), after);
    }
    if let Some(zone) = s.strip_prefix("*.") {
        let (zone, ports) = split_ports(zone)?;
        let zone = HostName::parse(zone).map_err(ParseErrorKind::InvalidZone)?;
        return Ok(Rule::new(HostPattern::Zone(zone), ports));
    }
    if s.contains('*') {
        return Err(ParseErrorKind::InvalidWildcard);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return net_with_suffix(ip, "");
    }
    if let Some((addr, _)) = s.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .ok()
            .ok_or(ParseErrorKind::InvalidNetworkAddress)?;
        return net_with_suffix(ip, &s[addr.len()..]);
    }
    match s.bytes().filter(|&b| b == b':').count() {
        0 | 1 => {
            let (host, ports) = split_ports(s)?;
            if let Ok(v4) = host.parse::<Ipv4Addr>() {
                return Ok(Rule::new(HostPattern::Net(single(IpAddr::V4(v4))), ports));
            }
            let name = HostName::parse(host).map_err(ParseErrorKind::InvalidName)?;
            Ok(Rule::new(HostPattern::Name(name), ports))
        }
        // Looks like an IPv6 attempt when the first group is hex (`fe80::1%eth0`, `2001:db8::zz`).
        _ if s
            .split(':')
            .next()
            .is_some_and(|g| g.bytes().all(|b| b.is_ascii_hexdigit())) =>
        {
            Err(ParseErrorKind::InvalidIpv6)
        }
        _ => Err(ParseErrorKind::TooManyColons),
    }
}

/// `host` or `host:ports`.
fn split_ports(s: &str) -> Result<(&str, PortRange), ParseErrorKind> {
    match s.split_once(':') {
        None => Ok((s, PortRange::ANY)),
        Some((host, ports)) => Ok((
            host,
            PortRange::parse(ports).map_err(ParseErrorKind::InvalidPort)?,
        )),
    }
}

fn max_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn single(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Builds a network rule from `ip` and what follows the address: ``, `/len`, `/len:ports` or
/// `:ports`.
fn net_with_suffix(ip: IpAddr, after: &str) -> Result<Rule, ParseErrorKind> {
    let max = max_len(ip);
    let (prefix, ports) = if after.is_empty() {
        (max, None)
    } else if let Some(rest) = after.strip_prefix('/') {
        let (len, ports) = rest
            .split_once(':')
            .map_or((rest, None), |(l, p)| (l, Some(p)));
        (parse_prefix_len(len, max)?, ports)
    } else if let Some(ports) = after.strip_prefix(':') {
        (max, Some(ports))
    } else {
        return Err(ParseErrorKind::UnexpectedAfterAddress);
    };
    let ports = match ports {
        None => PortRange::ANY,
        Some(p) => PortRange::parse(p).map_err(ParseErrorKind::InvalidPort)?,
    };
    let net = IpNet::new(ip, prefix)
        .ok()
        .ok_or(ParseErrorKind::InvalidPrefixLen { max })?;
    Ok(Rule::new(HostPattern::Net(net), ports))
}

fn parse_prefix_len(text: &str, max: u8) -> Result<u8, ParseErrorKind> {
    let err = ParseErrorKind::InvalidPrefixLen { max };
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    match text.parse::<u8>() {
        Ok(len) if len <= max => Ok(len),
        _ => Err(err),
    }
}

impl fmt::Display for HostPattern {
    /// `name`, `*.zone`, `a.b.c.d`, `a.b.c.d/n`, `v6` or `v6/n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => write!(f, "{name}"),
            Self::Zone(zone) => write!(f, "*.{zone}"),
            Self::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            Self::Net(net) => write!(f, "{net}"),
        }
    }
}

impl fmt::Display for Rule {
    /// The canonical entry: the host pattern, then `:port` or `:min-max` unless every port is
    /// allowed; IPv6 networks are bracketed when a port follows (`[2001:db8::]/64:443`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ports.is_any() {
            return write!(f, "{}", self.host);
        }
        match &self.host {
            HostPattern::Net(IpNet::V6(net)) => write_bracketed(f, net)?,
            host => write!(f, "{host}")?,
        }
        write!(f, ":{}", self.ports)
    }
}

fn write_bracketed(f: &mut fmt::Formatter<'_>, net: &Ipv6Net) -> fmt::Result {
    if net.prefix_len() == 128 {
        write!(f, "[{}]", net.addr())
    } else {
        write!(f, "[{}]/{}", net.addr(), net.prefix_len())
    }
}
