//! Parsing a client's CONNECT request head.

use super::{
    BasicCredentials, Header, HttpError, HttpLimits, HttpVersion, MAX_HEADERS, copy_headers, find,
    syntax, version,
};
use crate::{Address, Parsed};

/// A CONNECT request head.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The destination from the request target.
    pub target: Address,
    /// The HTTP version.
    pub version: HttpVersion,
    /// All header fields, in order.
    pub headers: Vec<Header>,
}

impl ConnectRequest {
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find(&self.headers, name)
    }

    /// The values of every field named `name` (ASCII case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The `Proxy-Authorization: Basic` credentials, or `None` when the field is absent
    /// (answer 407 when credentials are required).
    ///
    /// # Errors
    ///
    /// [`HttpError::AuthDuplicate`] when the field appears twice; otherwise as
    /// [`BasicCredentials::parse`] with [`HttpLimits::max_credentials`].
    pub fn proxy_authorization(
        &self,
        limits: &HttpLimits,
    ) -> Result<Option<BasicCredentials>, HttpError> {
        let mut values = self.headers_named("proxy-authorization");
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(HttpError::AuthDuplicate);
        }
        BasicCredentials::parse(value, limits.max_credentials).map(Some)
    }
}

/// Parses a CONNECT request head from the start of `input` (the bytes received so far).
/// `consumed` covers the head through its empty line; later bytes are tunnel data.
///
/// # Errors
///
/// [`HttpError`] as soon as `input` cannot start a valid CONNECT head within the limits:
/// a method other than `CONNECT` once the space after it arrived
/// ([`HttpError::MethodNotAllowed`], 405), a malformed head, no end of head within
/// [`HttpLimits::max_head`] bytes, more than [`MAX_HEADERS`] fields, a target that is not
/// `host:port`, or a `Transfer-Encoding` / non-zero `Content-Length` field (all 400).
pub fn parse_request(
    input: &[u8],
    limits: &HttpLimits,
) -> Result<Parsed<ConnectRequest>, HttpError> {
    let window = input
        .get(..input.len().min(limits.max_head))
        .unwrap_or(input);
    check_method(window)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(window).map_err(syntax)? {
        httparse::Status::Partial if input.len() >= limits.max_head => {
            return Err(HttpError::HeadTooLarge {
                max: limits.max_head,
            });
        }
        httparse::Status::Partial => return Ok(Parsed::Incomplete),
        httparse::Status::Complete(n) => n,
    };
    if req.method != Some("CONNECT") {
        // check_method saw the whole method already; this is only defence in depth.
        return Err(HttpError::MethodNotAllowed {
            method: req.method.unwrap_or_default().to_owned(),
        });
    }
    let target =
        Address::parse_authority(req.path.unwrap_or_default()).map_err(HttpError::Target)?;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
        {
            return Err(HttpError::RequestContent);
        }
    }
    Ok(Parsed::Complete {
        value: ConnectRequest {
            target,
            version: version(req.version),
            headers: copy_headers(req.headers),
        },
        consumed,
    })
}

/// Refuses a method other than CONNECT as soon as the space after it is in `input`. A method
/// that is not a token, and a head starting with empty lines (which httparse skips), are left
/// to httparse, so that every prefix of an input fails the same way as the whole input.
fn check_method(input: &[u8]) -> Result<(), HttpError> {
    let Some(sp) = input.iter().position(|&b| b == b' ') else {
        return Ok(());
    };
    let method = input.get(..sp).unwrap_or_default();
    if method == b"CONNECT" || method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Ok(());
    }
    Err(HttpError::MethodNotAllowed {
        method: String::from_utf8_lossy(method).into_owned(),
    })
}

/// RFC 9110 `tchar`.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
