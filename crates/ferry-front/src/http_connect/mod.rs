//! HTTP CONNECT (RFC 9110 section 9.3.6) for proxies: parse a client's request head and
//! `Proxy-Authorization: Basic` credentials (RFC 7617), write the status reply; and for the
//! client side, write a CONNECT request and parse the reply head.
//!
//! Parsing uses `httparse` with a fixed array of [`MAX_HEADERS`] fields and never looks past
//! [`HttpLimits::max_head`] bytes, so a caller can read into a buffer of that size and stop:
//! once the buffer is full without an end of head, the parser says [`HttpError::HeadTooLarge`].
//! A method other than `CONNECT` is refused as soon as the space after it arrives.
//!
//! ```
//! use ferry_front::{Address, Parsed};
//! use ferry_front::http_connect::{self, HttpLimits, Reply};
//!
//! let limits = HttpLimits::default();
//! let wire = b"CONNECT example.com:443 HTTP/1.1\r\n\
//!              Host: example.com:443\r\n\
//!              Proxy-Authorization: Basic YWdlbnQtMTpzZWNyZXQ=\r\n\r\n\x16\x03\x01";
//! let Parsed::Complete { value: req, consumed } = http_connect::parse_request(wire, &limits)?
//! else {
//!     unreachable!()
//! };
//! assert_eq!(req.target, Address::Domain("example.com".into(), 443));
//! assert_eq!(&wire[consumed..], b"\x16\x03\x01"); // the tunnel's first bytes
//! let creds = req.proxy_authorization(&limits)?.expect("credentials sent");
//! assert_eq!((creds.username.as_str(), creds.password.as_str()), ("agent-1", "secret"));
//!
//! let mut out = Vec::new();
//! Reply::Established.write(&mut out)?;
//! assert_eq!(out, b"HTTP/1.1 200 Connection established\r\n\r\n");
//!
//! // A GET is refused with the method known, before the rest of the head arrives.
//! let err = http_connect::parse_request(b"GET /", &limits).unwrap_err();
//! assert_eq!(err.status(), 405);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod basic;
mod error;
mod request;
mod response;

pub use basic::BasicCredentials;
pub use error::{HttpError, HttpWriteError};
pub use request::{ConnectRequest, parse_request};
pub use response::{ConnectResponse, Reply, parse_response, write_connect_request, write_response};

/// Most header fields in one head (a fixed array; more is [`HttpError::TooManyHeaders`]).
pub const MAX_HEADERS: usize = 64;

/// Default [`HttpLimits::max_head`]: 8 KiB.
pub const DEFAULT_MAX_HEAD: usize = 8 * 1024;

/// Default [`HttpLimits::max_credentials`]: 1 KiB of base64.
pub const DEFAULT_MAX_CREDENTIALS: usize = 1024;

/// Limits applied when parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Longest head accepted, request or status line through the empty line, in bytes.
    /// Default [`DEFAULT_MAX_HEAD`] (8192).
    pub max_head: usize,
    /// Longest `Basic` token accepted (base64 bytes). Default [`DEFAULT_MAX_CREDENTIALS`]
    /// (1024).
    pub max_credentials: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head: DEFAULT_MAX_HEAD,
            max_credentials: DEFAULT_MAX_CREDENTIALS,
        }
    }
}

impl HttpLimits {
    /// Sets [`HttpLimits::max_head`] (default 8192 bytes).
    #[must_use]
    pub fn with_max_head(mut self, max: usize) -> Self {
        self.max_head = max;
        self
    }

    /// Sets [`HttpLimits::max_credentials`] (default 1024 bytes).
    #[must_use]
    pub fn with_max_credentials(mut self, max: usize) -> Self {
        self.max_credentials = max;
        self
    }
}

/// The HTTP version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// One header field, as received (name case kept, value bytes as sent).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The field name.
    pub name: String,
    /// The field value, without surrounding whitespace.
    pub value: Vec<u8>,
}

/// The value of the first field named `name` (ASCII case-insensitive).
fn find<'h>(headers: &'h [Header], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

fn copy_headers(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers
        .iter()
        .map(|h| Header {
            name: h.name.to_owned(),
            value: h.value.to_vec(),
        })
        .collect()
}

fn version(v: Option<u8>) -> HttpVersion {
    if v == Some(0) {
        HttpVersion::Http10
    } else {
        HttpVersion::Http11
    }
}

fn syntax(e: httparse::Error) -> HttpError {
    let what = match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::TooManyHeaders => {
            return HttpError::TooManyHeaders { max: MAX_HEADERS };
        }
    };
    HttpError::Syntax { what }
}
