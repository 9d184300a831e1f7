//! SOCKS5 errors.

use super::{METHOD_NO_ACCEPTABLE, ReplyCode, SOCKS_VERSION, wire};
use crate::AddressError;

/// Why a SOCKS5 exchange failed. Server side: append [`Socks5Error::write_reply`] to the
/// outgoing bytes, send them, and close. UDP relay: drop the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Socks5Error {
    /// The greeting's version byte is not 5 (not SOCKS5; nothing is sent back).
    #[error("client sent SOCKS version {0}")]
    Version(u8),
    /// The greeting lists no methods.
    #[error("client offered no authentication methods")]
    NoMethods,
    /// None of the offered methods is the one the server requires.
    #[error("client offered no acceptable authentication method")]
    NoAcceptableMethod,
    /// The username/password sub-negotiation version is not 1 (RFC 1929).
    #[error("client sent auth sub-negotiation version {0}")]
    AuthVersion(u8),
    /// A username or password is empty or not UTF-8.
    #[error("client sent an empty or non-UTF-8 username or password")]
    AuthCredentials,
    /// The request's version byte is not 5.
    #[error("client sent request version {0}")]
    RequestVersion(u8),
    /// The command is not CONNECT or UDP ASSOCIATE (BIND is not served).
    #[error("client sent unsupported command {0}")]
    Command(u8),
    /// The address type is not IPv4 (1), domain (3) or IPv6 (4).
    #[error("peer sent unsupported address type {0}")]
    AddressType(u8),
    /// A domain name is not valid (see [`Address`](crate::Address)).
    #[error("peer sent an invalid domain name")]
    Domain(#[source] AddressError),
    /// A method of [`Socks5Server`](super::Socks5Server) was called in the wrong state.
    #[error("server state machine used out of order")]
    State,
    /// A UDP datagram's reserved field is not zero.
    #[error("client sent a UDP datagram with non-zero reserved bytes")]
    UdpReserved,
    /// A UDP datagram is a fragment (FRAG not 0); fragments are not supported and dropped.
    #[error("client sent UDP fragment {0}")]
    UdpFragment(u8),
    /// A UDP datagram ends inside its header.
    #[error("peer sent a truncated UDP datagram header")]
    UdpTruncated,
    /// Client side: the server's reply has a version byte other than the expected one.
    #[error("server sent version {0}")]
    ServerVersion(u8),
    /// Client side: an argument cannot be encoded (no methods or more than 255, an empty or
    /// over-long username or password).
    #[error("value cannot be encoded in a SOCKS5 message")]
    Encode,
}

/// Which reply, if any, an error calls for.
enum ErrorReply {
    None,
    Method,
    Auth,
    Request(ReplyCode),
}

impl Socks5Error {
    fn reply(&self) -> ErrorReply {
        match self {
            Self::NoMethods | Self::NoAcceptableMethod => ErrorReply::Method,
            Self::AuthVersion(_) | Self::AuthCredentials => ErrorReply::Auth,
            Self::RequestVersion(_) => ErrorReply::Request(ReplyCode::GENERAL_FAILURE),
            Self::Command(_) => ErrorReply::Request(ReplyCode::COMMAND_NOT_SUPPORTED),
            Self::AddressType(_) => ErrorReply::Request(ReplyCode::ADDRESS_TYPE_NOT_SUPPORTED),
            Self::Domain(_) => ErrorReply::Request(ReplyCode::HOST_UNREACHABLE),
            _ => ErrorReply::None,
        }
    }

    /// The reply code to send for an error in the request phase: 0x07 for a command other
    /// than CONNECT and UDP ASSOCIATE, 0x08 for an unknown address type, 0x04 for an invalid
    /// domain name, 0x01 for a bad request version; `None` for other errors.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self.reply() {
            ErrorReply::Request(code) => Some(code),
            _ => None,
        }
    }

    /// Appends the reply the server sends before closing: `05 FF` (no acceptable methods)
    /// in the method phase, `01 01` (failure) in the auth phase, a reply with
    /// [`Socks5Error::reply_code`] and bound address `0.0.0.0:0` in the request phase, and
    /// nothing otherwise (wrong version: not a SOCKS5 client).
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        match self.reply() {
            ErrorReply::None => {}
            ErrorReply::Method => out.extend_from_slice(&[SOCKS_VERSION, METHOD_NO_ACCEPTABLE.0]),
            ErrorReply::Auth => out.extend_from_slice(&[wire::AUTH_VERSION, 0x01]),
            ErrorReply::Request(code) => wire::write_unspecified_reply(code, out),
        }
    }
}
