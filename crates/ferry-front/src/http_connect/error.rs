//! HTTP CONNECT errors.

use crate::address::AddressError;

/// Why a client's CONNECT request (or a peer's response) is refused. [`HttpError::status`] is
/// the status code to answer a client with; write it with
/// [`write_response`](super::write_response) or [`Reply`](super::Reply), then close.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The bytes are not an HTTP/1.x message head.
    #[error("client sent a malformed request head: {what}")]
    Syntax {
        /// Which part is malformed.
        what: &'static str,
    },
    /// No end of head (empty line) within the configured limit.
    #[error("client sent a head longer than {max} bytes")]
    HeadTooLarge {
        /// The limit ([`HttpLimits::max_head`](super::HttpLimits::max_head)).
        max: usize,
    },
    /// More header fields than [`MAX_HEADERS`](super::MAX_HEADERS).
    #[error("client sent more than {max} header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// The method is not `CONNECT` (methods are case-sensitive); answer 405 with
    /// `Allow: CONNECT`.
    #[error("client sent method {method}, only CONNECT is served")]
    MethodNotAllowed {
        /// The method received (a valid token).
        method: String,
    },
    /// The request target is not an authority `host:port`.
    #[error("client sent an invalid CONNECT target")]
    Target(#[source] AddressError),
    /// `Transfer-Encoding`, or a `Content-Length` other than 0: a CONNECT request has no
    /// content (RFC 9110 section 9.3.6), and accepting one invites request smuggling.
    #[error("client sent a CONNECT request with content")]
    RequestContent,
    /// `Proxy-Authorization` is not of the `Basic` scheme; answer 407 asking for Basic.
    #[error("client used an authorization scheme other than Basic")]
    AuthScheme,
    /// The Basic credentials token is longer than the configured limit.
    #[error("client sent a {len}-byte credentials token, limit {max}")]
    AuthTooLong {
        /// The token's length.
        len: usize,
        /// The limit ([`HttpLimits::max_credentials`](super::HttpLimits::max_credentials)).
        max: usize,
    },
    /// The Basic credentials token is not base64.
    #[error("client sent credentials that are not base64")]
    AuthBase64,
    /// The decoded credentials are not UTF-8.
    #[error("client sent credentials that are not UTF-8")]
    AuthUtf8,
    /// The decoded credentials have no `:` between user id and password.
    #[error("client sent credentials without a colon")]
    AuthMissingColon,
    /// The decoded credentials hold a control character (RFC 7617 section 2).
    #[error("client sent credentials with a control character")]
    AuthControl,
    /// `Proxy-Authorization` appears more than once.
    #[error("client sent more than one Proxy-Authorization field")]
    AuthDuplicate,
}

impl HttpError {
    /// The status code to answer with: 405 for [`HttpError::MethodNotAllowed`], 407 for
    /// [`HttpError::AuthScheme`], 400 otherwise. (When the error comes from parsing a peer's
    /// *response*, the caller answers its own client 502 instead.)
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed { .. } => 405,
            Self::AuthScheme => 407,
            _ => 400,
        }
    }
}

/// Why a message cannot be written: a value would break the message framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpWriteError {
    /// The status code is outside 100..=999.
    #[error("status code {0} is outside 100-999")]
    Status(u16),
    /// The reason phrase holds CR, LF or another control character.
    #[error("reason phrase holds a control character")]
    Reason,
    /// A header name is not a token.
    #[error("header name is not a token")]
    HeaderName,
    /// A header value holds CR, LF or another control character.
    #[error("header value holds a control character")]
    HeaderValue,
    /// The realm holds a control character.
    #[error("realm holds a control character")]
    Realm,
    /// The user id holds a colon or a control character, or the password a control character.
    #[error("credentials hold a colon in the user id or a control character")]
    Credentials,
    /// The target does not display as a valid authority `host:port` (port 0, bad domain).
    #[error("target is not a valid authority")]
    Target,
}
