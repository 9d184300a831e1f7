//! Writing replies and CONNECT requests; parsing a reply head.

use std::io::Write as _;

use super::request::is_tchar;
use super::{
    BasicCredentials, Header, HttpError, HttpLimits, HttpVersion, HttpWriteError, MAX_HEADERS,
    copy_headers, find, syntax, version,
};
use crate::{Address, Parsed};

/// The replies a CONNECT proxy sends, with the fields each needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply<'a> {
    /// `200 Connection established`: the tunnel is open.
    Established,
    /// `400 Bad Request`.
    BadRequest,
    /// `403 Forbidden`: the destination is not allowed, or the credentials were refused.
    Forbidden,
    /// `405 Method Not Allowed`, with `Allow: CONNECT`.
    MethodNotAllowed,
    /// `407 Proxy Authentication Required`, with `Proxy-Authenticate: Basic realm="..."`.
    ProxyAuthRequired {
        /// The realm (quoted and escaped when written; no control characters).
        realm: &'a str,
    },
    /// `429 Too Many Requests`, with `Retry-After`.
    TooManyRequests {
        /// Seconds the client should wait.
        retry_after_secs: u32,
    },
    /// `502 Bad Gateway`: the destination refused or failed.
    BadGateway,
    /// `503 Service Unavailable`: overloaded, or no route (agent not connected).
    ServiceUnavailable,
    /// `504 Gateway Timeout`: connecting to the destination timed out.
    GatewayTimeout,
}

impl Reply<'_> {
    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Established => 200,
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::MethodNotAllowed => 405,
            Self::ProxyAuthRequired { .. } => 407,
            Self::TooManyRequests { .. } => 429,
            Self::BadGateway => 502,
            Self::ServiceUnavailable => 503,
            Self::GatewayTimeout => 504,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Established => "Connection established",
            Self::BadRequest => "Bad Request",
            Self::Forbidden => "Forbidden",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::ProxyAuthRequired { .. } => "Proxy Authentication Required",
            Self::TooManyRequests { .. } => "Too Many Requests",
            Self::BadGateway => "Bad Gateway",
            Self::ServiceUnavailable => "Service Unavailable",
            Self::GatewayTimeout => "Gateway Timeout",
        }
    }

    /// Appends the reply to `out` (see [`write_response`] for the framing fields).
    ///
    /// # Errors
    ///
    /// [`HttpWriteError::Realm`] when the realm holds a control character. Nothing is written
    /// on error.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), HttpWriteError> {
        let mut value = String::new();
        let field: Option<(&str, &str)> = match self {
            Self::MethodNotAllowed => Some(("Allow", "CONNECT")),
            Self::ProxyAuthRequired { realm } => {
                if realm.chars().any(char::is_control) {
                    return Err(HttpWriteError::Realm);
                }
                value.push_str("Basic realm=\"");
                for c in realm.chars() {
                    if c == '"' || c == '\\' {
                        value.push('\\');
                    }
                    value.push(c);
                }
                value.push('"');
                Some(("Proxy-Authenticate", &value))
            }
            Self::TooManyRequests { retry_after_secs } => {
                value = retry_after_secs.to_string();
                Some(("Retry-After", &value))
            }
            _ => None,
        };
        write_response(out, self.status(), self.reason(), field.as_slice())
    }
}

/// Appends a status reply: `HTTP/1.1 <status> <reason>`, the `extra` fields, and for any status
/// outside 200-299 `Content-Length: 0` and `Connection: close` (a 2xx reply to CONNECT has no
/// framing fields, RFC 9110 section 9.3.6).
///
/// # Errors
///
/// [`HttpWriteError`] when the status is outside 100-999, the reason or a value holds a
/// control character (other than tab), or a name is not a token. Nothing is written on error.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    extra: &[(&str, &str)],
) -> Result<(), HttpWriteError> {
    if !(100..=999).contains(&status) {
        return Err(HttpWriteError::Status(status));
    }
    if !is_field_text(reason) {
        return Err(HttpWriteError::Reason);
    }
    check_fields(extra)?;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\n");
    write_fields(out, extra);
    if !(200..300).contains(&status) {
        out.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends a client's request `CONNECT <target> HTTP/1.1` with `Host: <target>`, then
/// `Proxy-Authorization: Basic ...` when `credentials` are given, then the `extra` fields.
///
/// # Errors
///
/// [`HttpWriteError::Target`] when `target` is not a valid authority (port 0, an invalid
/// domain); as [`write_response`] for the fields. Nothing is written on error.
pub fn write_connect_request(
    out: &mut Vec<u8>,
    target: &Address,
    credentials: Option<&BasicCredentials>,
    extra: &[(&str, &str)],
) -> Result<(), HttpWriteError> {
    let authority = target.to_string();
    if Address::parse_authority(&authority).as_ref() != Ok(target) {
        return Err(HttpWriteError::Target);
    }
    check_fields(extra)?;
    let auth = credentials.map(BasicCredentials::header_value);
    if auth.as_deref().is_some_and(|v| !is_field_text(v)) {
        return Err(HttpWriteError::Credentials);
    }
    let _ = write!(out, "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = auth {
        let _ = write!(out, "Proxy-Authorization: {auth}\r\n");
    }
    write_fields(out, extra);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn check_fields(fields: &[(&str, &str)]) -> Result<(), HttpWriteError> {
    for (name, value) in fields {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(HttpWriteError::HeaderName);
        }
        if !is_field_text(value) {
            return Err(HttpWriteError::HeaderValue);
        }
    }
    Ok(())
}

fn write_fields(out: &mut Vec<u8>, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let _ = write!(out, "{name}: {value}\r\n");
    }
}

/// No control characters except horizontal tab.
fn is_field_text(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t')
}

/// A reply head received from a proxy (client side, or a gateway forwarding to another).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectResponse {
    /// The HTTP version.
    pub version: HttpVersion,
    /// The status code; 2xx means the tunnel is open.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// All header fields, in order.
    pub headers: Vec<Header>,
}

impl ConnectResponse {
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find(&self.headers, name)
    }
}

/// Parses a reply head from the start of `input`; `consumed` covers the head through its
/// empty line (for a 2xx reply the rest is tunnel data; any body of another reply is not
/// read).
///
/// # Errors
///
/// [`HttpError::Syntax`] (also for a status below 100), [`HttpError::HeadTooLarge`] or
/// [`HttpError::TooManyHeaders`], as soon as `input` cannot start a valid head within the
/// limits. The caller that forwards for
/// a client answers it 502.
pub fn parse_response(
    input: &[u8],
    limits: &HttpLimits,
) -> Result<Parsed<ConnectResponse>, HttpError> {
    let window = input
        .get(..input.len().min(limits.max_head))
        .unwrap_or(input);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(window).map_err(syntax)? {
        httparse::Status::Partial if input.len() >= limits.max_head => {
            Err(HttpError::HeadTooLarge {
                max: limits.max_head,
            })
        }
        httparse::Status::Partial => Ok(Parsed::Incomplete),
        // httparse takes any three digits; 000-099 are not status codes (RFC 9110 15).
        httparse::Status::Complete(_) if resp.code.unwrap_or_default() < 100 => {
            Err(HttpError::Syntax {
                what: "invalid status code",
            })
        }
        httparse::Status::Complete(consumed) => Ok(Parsed::Complete {
            value: ConnectResponse {
                version: version(resp.version),
                status: resp.code.unwrap_or_default(),
                reason: resp.reason.unwrap_or_default().to_owned(),
                headers: copy_headers(resp.headers),
            },
            consumed,
        }),
    }
}
