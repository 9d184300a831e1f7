//! The proxy URL: `http://`, `socks5://` or `socks5h://`, optional credentials, host, port.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use ferry_front::http_connect::BasicCredentials;
use ferry_front::{Address, AddressError};

/// Default port of an `http://` proxy without one: 80 (as most HTTP clients; curl uses 1080).
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// Default port of a `socks5://` or `socks5h://` proxy without one: 1080.
pub const DEFAULT_SOCKS_PORT: u16 = 1080;

/// Longest proxy URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// The protocol an egress proxy speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `http://`: HTTP CONNECT (RFC 9110 section 9.3.6), Basic credentials (RFC 7617). The
    /// proxy resolves the destination's name.
    Http,
    /// `socks5://`: SOCKS5 (RFC 1928), username/password (RFC 1929) when credentials are
    /// given. The destination's name is resolved here and its first address is sent.
    Socks5,
    /// `socks5h://`: SOCKS5 with the destination's name sent to the proxy, which resolves it.
    Socks5h,
}

impl ProxyKind {
    /// The URL scheme: `http`, `socks5` or `socks5h`.
    #[must_use]
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }

    /// The port used when the URL names none: [`DEFAULT_HTTP_PORT`] or
    /// [`DEFAULT_SOCKS_PORT`].
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => DEFAULT_HTTP_PORT,
            Self::Socks5 | Self::Socks5h => DEFAULT_SOCKS_PORT,
        }
    }

    /// Whether this is a SOCKS5 kind.
    #[must_use]
    pub fn is_socks(self) -> bool {
        matches!(self, Self::Socks5 | Self::Socks5h)
    }
}

/// A user name and password for the proxy. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyCredentials {
    username: String,
    password: String,
}

impl ProxyCredentials {
    /// The user name.
    #[must_use]
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    #[must_use]
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An egress proxy: its protocol, address and optional credentials.
///
/// Parsed from `scheme://[user[:password]@]host[:port][/]` ([`EgressProxy::parse`]) or built
/// with [`EgressProxy::new`] and [`EgressProxy::with_credentials`]. `Display` writes the URL
/// with the password replaced by `***`; `Debug` hides it too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EgressProxy {
    kind: ProxyKind,
    address: Address,
    credentials: Option<ProxyCredentials>,
}

/// Why a proxy URL or proxy credentials are not accepted. Messages never repeat a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyUrlError {
    /// The URL is empty (or only whitespace).
    #[error("proxy URL is empty")]
    Empty,
    /// The URL is longer than [`MAX_URL_LEN`].
    #[error("proxy URL is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The scheme is not `http`, `socks5` or `socks5h` (`https://`, TLS to the proxy, and
    /// SOCKS4 are not supported).
    #[error("proxy scheme {scheme:?} is not supported (use http://, socks5:// or socks5h://)")]
    Scheme {
        /// The scheme, lowercased (`"?"` when it is not a plausible scheme name).
        scheme: String,
    },
    /// Something follows the authority other than a single `/`.
    #[error(
        "proxy URL has a path, query or fragment (expected scheme://[user:password@]host[:port]; \
         percent-encode / ? # @ : in credentials)"
    )]
    Path,
    /// The host is not a domain name, an IPv4 address or a bracketed IPv6 address.
    #[error("proxy URL has an invalid host")]
    Host(#[source] AddressError),
    /// The port is not a decimal number in 1..=65535.
    #[error("proxy URL has an invalid port (expected 1-65535)")]
    Port,
    /// A `%` in the credentials is not followed by two hex digits.
    #[error("proxy URL has an invalid percent-escape in its credentials")]
    Percent,
    /// The credentials are not UTF-8 once percent-decoded.
    #[error("proxy credentials are not UTF-8 once percent-decoded")]
    Utf8,
    /// `@` with neither a user name nor a password before it.
    #[error("proxy URL has an empty user name and password before @")]
    EmptyCredentials,
    /// HTTP Basic credentials with a colon in the user name or a control character.
    #[error("HTTP proxy user name holds a colon, or the credentials a control character")]
    BasicCredentials,
    /// SOCKS5 credentials (RFC 1929) must each be 1 to 255 bytes.
    #[error("SOCKS5 proxy user name and password must each be 1-255 bytes")]
    Socks5Credentials,
}

impl EgressProxy {
    /// A proxy of `kind` at `address`, without credentials.
    #[must_use]
    pub fn new(kind: ProxyKind, address: Address) -> Self {
        Self {
            kind,
            address,
            credentials: None,
        }
    }

    /// The same proxy with credentials: Basic credentials for [`ProxyKind::Http`], RFC 1929
    /// username/password for the SOCKS5 kinds.
    ///
    /// # Errors
    ///
    /// [`ProxyUrlError::BasicCredentials`] for an HTTP user name with a colon or a control
    /// character in either; [`ProxyUrlError::Socks5Credentials`] for a SOCKS5 user name or
    /// password that is empty or longer than 255 bytes.
    pub fn with_credentials(
        mut self,
        username: &str,
        password: &str,
    ) -> Result<Self, ProxyUrlError> {
        match self.kind {
            ProxyKind::Http => {
                BasicCredentials::new(username, password)
                    .ok()
                    .ok_or(ProxyUrlError::BasicCredentials)?;
            }
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                let ok = |s: &str| (1..=255).contains(&s.len());
                if !ok(username) || !ok(password) {
                    return Err(ProxyUrlError::Socks5Credentials);
                }
            }
        }
        self.credentials = Some(ProxyCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        });
        Ok(self)
    }

    /// Parses `scheme://[user[:password]@]host[:port][/]`.
    ///
    /// - scheme: `http`, `socks5` or `socks5h`, any case; none at all (`host:port`) means
    ///   `http`, as curl reads it;
    /// - user and password: percent-decoded (`%40` for `@`, `%3A` for `:`, `%2F` for `/`),
    ///   then UTF-8; a missing password is empty (HTTP only: SOCKS5 needs 1-255 bytes each);
    ///   the last `@` ends them;
    /// - host: a domain name (checked as [`Address::from_domain`] does), an IPv4 address or
    ///   an IPv6 address in brackets;
    /// - port: 1-65535; default [`ProxyKind::default_port`] (80 for `http`, 1080 for SOCKS);
    /// - nothing after the authority but an optional `/`; surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`ProxyUrlError`] naming the first problem found.
    pub fn parse(url: &str) -> Result<Self, ProxyUrlError> {
        let url = url.trim_ascii();
        if url.is_empty() {
            return Err(ProxyUrlError::Empty);
        }
        if url.len() > MAX_URL_LEN {
            return Err(ProxyUrlError::TooLong { max: MAX_URL_LEN });
        }
        let (kind, rest) = match url.split_once("://") {
            None => (ProxyKind::Http, url),
            Some((scheme, rest)) => (parse_scheme(scheme)?, rest),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !tail.is_empty() && tail != "/" {
            return Err(ProxyUrlError::Path);
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let address = parse_host_port(hostport, kind.default_port())?;
        let proxy = Self::new(kind, address);
        let Some(userinfo) = userinfo else {
            return Ok(proxy);
        };
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        if user.is_empty() && pass.is_empty() {
            return Err(ProxyUrlError::EmptyCredentials);
        }
        proxy.with_credentials(&percent_decode(user)?, &percent_decode(pass)?)
    }

    /// The protocol.
    #[must_use]
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host and port.
    #[must_use]
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The credentials, if any.
    #[must_use]
    pub fn credentials(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_ref()
    }

    /// The URL without credentials (`socks5h://proxy.example:1080`), for messages.
    #[must_use]
    pub fn url_without_credentials(&self) -> String {
        format!("{}://{}", self.kind.scheme(), self.address)
    }

    /// The URL with the password in clear, percent-encoded so that it parses back to this
    /// proxy. For the fuzz harness's round trip only: never log it.
    pub(crate) fn url_with_password(&self) -> String {
        match &self.credentials {
            None => self.url_without_credentials(),
            Some(c) => format!(
                "{}://{}:{}@{}",
                self.kind.scheme(),
                percent_encode(&c.username),
                percent_encode(&c.password),
                self.address
            ),
        }
    }
}

impl FromStr for EgressProxy {
    type Err = ProxyUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.credentials {
            None => write!(f, "{}://{}", self.kind.scheme(), self.address),
            Some(c) => write!(
                f,
                "{}://{}:***@{}",
                self.kind.scheme(),
                percent_encode(&c.username),
                self.address
            ),
        }
    }
}

impl fmt::Debug for EgressProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressProxy")
            .field("kind", &self.kind)
            .field("address", &self.address)
            .field("credentials", &self.credentials)
            .finish()
    }
}

fn parse_scheme(scheme: &str) -> Result<ProxyKind, ProxyUrlError> {
    let lower = scheme.to_ascii_lowercase();
    match lower.as_str() {
        "http" => Ok(ProxyKind::Http),
        "socks5" => Ok(ProxyKind::Socks5),
        "socks5h" => Ok(ProxyKind::Socks5h),
        _ => {
            // Only echo something that looks like a scheme (a mistyped URL could carry a
            // password before its "://").
            let plausible = !lower.is_empty()
                && lower.len() <= 16
                && lower
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            Err(ProxyUrlError::Scheme {
                scheme: if plausible { lower } else { "?".to_owned() },
            })
        }
    }
}

/// `host[:port]`, `[v6][:port]`.
fn parse_host_port(s: &str, default_port: u16) -> Result<Address, ProxyUrlError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or(ProxyUrlError::Host(AddressError::InvalidIpv6))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(ProxyUrlError::Port)?),
        };
        let ip: std::net::Ipv6Addr = ip
            .parse()
            .ok()
            .ok_or(ProxyUrlError::Host(AddressError::InvalidIpv6))?;
        let port = port.map_or(Ok(default_port), parse_port)?;
        return Ok(Address::Ip(SocketAddr::new(ip.into(), port)));
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.contains(':') {
        return Err(ProxyUrlError::Host(AddressError::InvalidIpv6));
    }
    let port = port.map_or(Ok(default_port), parse_port)?;
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !host.is_empty() {
        // Digits and dots: an IPv4 address or nothing (`127.1` is refused, not guessed).
        return host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| Address::Ip(SocketAddr::new(ip.into(), port)))
            .ok()
            .ok_or(ProxyUrlError::Host(AddressError::NumericDomain));
    }
    Address::from_domain(host, port).map_err(ProxyUrlError::Host)
}

fn parse_port(s: &str) -> Result<u16, ProxyUrlError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyUrlError::Port);
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(ProxyUrlError::Port),
        Ok(port) => Ok(port),
    }
}

fn percent_decode(s: &str) -> Result<String, ProxyUrlError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex).ok_or(ProxyUrlError::Percent)?;
            let lo = bytes.next().and_then(hex).ok_or(ProxyUrlError::Percent)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok().ok_or(ProxyUrlError::Utf8)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Everything but RFC 3986 unreserved characters, percent-encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn forms() {
        let p = EgressProxy::parse("http://alice:s%40cr%3At@proxy.example:3128/").unwrap();
        assert_eq!(p.kind(), ProxyKind::Http);
        assert_eq!(p.address(), &Address::Domain("proxy.example".into(), 3128));
        let c = p.credentials().unwrap();
        assert_eq!((c.username(), c.password()), ("alice", "s@cr:t"));
        assert_eq!(p.to_string(), "http://alice:***@proxy.example:3128");
        assert!(!format!("{p:?}").contains("s@cr"));

        let p = EgressProxy::parse("SOCKS5H://[::1]").unwrap();
        assert_eq!(p.kind(), ProxyKind::Socks5h);
        assert_eq!(p.address().to_string(), "[::1]:1080");
        let p = EgressProxy::parse("10.1.2.3:8080").unwrap();
        assert_eq!(p.to_string(), "http://10.1.2.3:8080");
        let p = EgressProxy::parse("http://bob@proxy").unwrap();
        assert_eq!(p.credentials().unwrap().password(), "");
        assert_eq!(p.address().port(), 80);
    }

    #[test]
    fn refusals() {
        for (bad, err) in [
            ("", ProxyUrlError::Empty),
            (
                "https://p:1",
                ProxyUrlError::Scheme {
                    scheme: "https".into(),
                },
            ),
            (
                "socks4://p:1",
                ProxyUrlError::Scheme {
                    scheme: "socks4".into(),
                },
            ),
            (
                "u:pa ss@x://p",
                ProxyUrlError::Scheme { scheme: "?".into() },
            ),
            ("http://p:1/path", ProxyUrlError::Path),
            ("http://p:1?q", ProxyUrlError::Path),
            ("http://p:0", ProxyUrlError::Port),
            ("http://p:65536", ProxyUrlError::Port),
            ("http://p:", ProxyUrlError::Port),
            ("http://[::1]x", ProxyUrlError::Port),
            (
                "http://::1:80",
                ProxyUrlError::Host(AddressError::InvalidIpv6),
            ),
            (
                "http://127.1:80",
                ProxyUrlError::Host(AddressError::NumericDomain),
            ),
            (
                "http://a b:80",
                ProxyUrlError::Host(AddressError::DomainCharacter),
            ),
            ("http://u:%4@p", ProxyUrlError::Percent),
            ("http://u:%ff@p", ProxyUrlError::Utf8),
            ("http://@p", ProxyUrlError::EmptyCredentials),
            ("http://a%3Ab:c@p", ProxyUrlError::BasicCredentials),
            ("socks5://bob@p", ProxyUrlError::Socks5Credentials),
        ] {
            assert_eq!(EgressProxy::parse(bad), Err(err), "{bad}");
        }
        // A password never shows in an error's text.
        let err = EgressProxy::parse("http://u:hunter2@p/x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
