//! Why reaching a destination through a proxy failed.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ferry_front::http_connect::HttpError;
use ferry_front::socks5::{ReplyCode, Socks5Error};

/// Why [`connect_via`](crate::connect_via) or [`handshake`](crate::handshake) failed. Each
/// message names the proxy (its URL without credentials) and, once the proxy was reached, the
/// destination, and says which side failed: this host (resolving, connecting), the proxy
/// (refusing, misbehaving) or the destination as seen by the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The proxy's host name could not be resolved.
    #[error("could not resolve the egress proxy {proxy}")]
    ResolveProxy {
        /// The proxy, without credentials.
        proxy: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The proxy's host name resolved to no address.
    #[error("the egress proxy {proxy} resolved to no address")]
    ProxyNoAddress {
        /// The proxy, without credentials.
        proxy: String,
    },
    /// No address of the proxy accepted the TCP connection.
    #[error("could not connect to the egress proxy {proxy} at {addr}")]
    Connect {
        /// The proxy, without credentials.
        proxy: String,
        /// The last address tried.
        addr: SocketAddr,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// Resolving and connecting to the proxy took longer than the connect timeout.
    #[error("connecting to the egress proxy {proxy} timed out after {after:?}")]
    ConnectTimeout {
        /// The proxy, without credentials.
        proxy: String,
        /// The timeout.
        after: Duration,
    },
    /// The proxy did not complete the handshake within the handshake timeout.
    #[error("the egress proxy {proxy} did not open a tunnel to {target} within {after:?}")]
    HandshakeTimeout {
        /// The proxy, without credentials.
        proxy: String,
        /// The destination.
        target: String,
        /// The timeout.
        after: Duration,
    },
    /// Reading from or writing to the proxy failed during the handshake.
    #[error("the connection to the egress proxy {proxy} failed during the handshake")]
    Io {
        /// The proxy, without credentials.
        proxy: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The proxy closed the connection before its reply was complete.
    #[error(
        "the egress proxy {proxy} closed the connection during the handshake, after {read} bytes of its reply"
    )]
    Closed {
        /// The proxy, without credentials.
        proxy: String,
        /// Bytes of the reply received.
        read: usize,
    },
    /// The HTTP proxy's reply is not an HTTP response head.
    #[error("the egress proxy {proxy} did not answer CONNECT with an HTTP response")]
    NotHttp {
        /// The proxy, without credentials.
        proxy: String,
        /// The parser's error.
        #[source]
        source: HttpError,
    },
    /// The HTTP proxy's reply head is larger than the limit.
    #[error("the egress proxy {proxy} sent a response head larger than {max} bytes")]
    HeadTooLarge {
        /// The proxy, without credentials.
        proxy: String,
        /// The limit ([`ConnectConfig::max_head`](crate::ConnectConfig::max_head)).
        max: usize,
    },
    /// The HTTP proxy answered CONNECT with a status outside 200-299 (other than 407).
    #[error("the egress proxy {proxy} refused CONNECT to {target} with {status}{}{reason}", if reason.is_empty() { "" } else { " " })]
    Refused {
        /// The proxy, without credentials.
        proxy: String,
        /// The destination.
        target: String,
        /// The status code.
        status: u16,
        /// The reason phrase (printable ASCII, at most 64 bytes; empty when the proxy sent
        /// none, or one that is not plain text).
        reason: String,
    },
    /// The HTTP proxy answered 407 (or 401) and no credentials were configured.
    #[error(
        "the egress proxy {proxy} requires authentication ({status}{offered}) and no credentials are configured: put user:password@ in the proxy URL"
    )]
    AuthRequired {
        /// The proxy, without credentials.
        proxy: String,
        /// 407, or 401 (some proxies, tinyproxy among them, answer 401).
        status: u16,
        /// `, offers SCHEME` from `Proxy-Authenticate`, or empty.
        offered: Offered,
    },
    /// The HTTP proxy answered 407 (or 401) to the configured credentials.
    #[error(
        "the egress proxy {proxy} rejected the credentials of user {username:?} ({status}{offered}): check the user name and password in the proxy URL"
    )]
    AuthRejected {
        /// The proxy, without credentials.
        proxy: String,
        /// 407, or 401 (some proxies, tinyproxy among them, answer 401).
        status: u16,
        /// The user name sent.
        username: String,
        /// `, offers SCHEME` from `Proxy-Authenticate`, or empty.
        offered: Offered,
    },
    /// The SOCKS5 proxy's reply is not SOCKS5 (wrong version byte: often an HTTP proxy
    /// named with `socks5://`) or is malformed.
    #[error("the egress proxy {proxy} did not answer as a SOCKS5 server")]
    NotSocks5 {
        /// The proxy, without credentials.
        proxy: String,
        /// The parser's error.
        #[source]
        source: Socks5Error,
    },
    /// The SOCKS5 proxy accepts none of the offered authentication methods.
    #[error("the egress proxy {proxy} accepts none of the offered authentication methods ({hint})")]
    NoAcceptableMethod {
        /// The proxy, without credentials.
        proxy: String,
        /// What was offered and what to do.
        hint: &'static str,
    },
    /// The SOCKS5 proxy chose a method that was not offered.
    #[error(
        "the egress proxy {proxy} chose authentication method {method:#04x}, which was not offered"
    )]
    UnexpectedMethod {
        /// The proxy, without credentials.
        proxy: String,
        /// The method byte.
        method: u8,
    },
    /// The SOCKS5 proxy rejected the username and password (RFC 1929 status not 0).
    #[error(
        "the egress proxy {proxy} rejected the user name {username:?} and its password: check the credentials in the proxy URL"
    )]
    Socks5AuthRejected {
        /// The proxy, without credentials.
        proxy: String,
        /// The user name sent.
        username: String,
    },
    /// The SOCKS5 proxy's reply to CONNECT is not "succeeded".
    #[error("the egress proxy {proxy} could not open a tunnel to {target}: {} (SOCKS5 reply {:#04x})", describe(*code), code.0)]
    Socks5Refused {
        /// The proxy, without credentials.
        proxy: String,
        /// The destination.
        target: String,
        /// The reply code.
        code: ReplyCode,
    },
    /// `socks5://` resolves the destination here, and that failed.
    #[error(
        "could not resolve {target} for the egress proxy {proxy} (socks5:// resolves names locally; socks5h:// lets the proxy resolve them)"
    )]
    ResolveTarget {
        /// The proxy, without credentials.
        proxy: String,
        /// The destination.
        target: String,
        /// The resolver's error, or none for an empty answer.
        #[source]
        source: Option<io::Error>,
    },
    /// The destination cannot be written in the proxy's protocol (port 0, for instance).
    #[error("{target} cannot be sent to the egress proxy {proxy}")]
    InvalidTarget {
        /// The proxy, without credentials.
        proxy: String,
        /// The destination.
        target: String,
    },
}

impl EgressError {
    /// The HTTP status the proxy answered, for [`EgressError::Refused`],
    /// [`EgressError::AuthRequired`] and [`EgressError::AuthRejected`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. }
            | Self::AuthRequired { status, .. }
            | Self::AuthRejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a timeout ended the attempt.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout { .. } | Self::HandshakeTimeout { .. }
        )
    }
}

/// The authentication scheme a 407 reply offers, shown as `, offers SCHEME` (empty when the
/// reply has no `Proxy-Authenticate` field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offered(pub Option<String>);

impl fmt::Display for Offered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(scheme) if scheme.eq_ignore_ascii_case("basic") => {
                write!(f, ", offers {scheme}")
            }
            Some(scheme) => write!(f, ", offers {scheme}, only Basic is supported"),
            None => Ok(()),
        }
    }
}

fn describe(code: ReplyCode) -> &'static str {
    match code.0 {
        0x01 => "general failure of the proxy",
        0x02 => "the proxy's rules do not allow it",
        0x03 => "network unreachable from the proxy",
        0x04 => "host unreachable from the proxy",
        0x05 => "connection refused by the destination",
        0x06 => "the proxy's connection attempt timed out",
        0x07 => "the proxy does not support CONNECT",
        0x08 => "the proxy does not support this address type",
        _ => "unknown reply code",
    }
}
