//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929): a sans-IO server
//! state machine, the UDP ASSOCIATE datagram header, and client-side encoders.
//!
//! [`Socks5Server`] reads the client's bytes and writes its replies into a buffer the caller
//! sends; it stops at each decision the caller makes (check credentials, connect) and reports
//! how many bytes it consumed, so bytes the client sent ahead (optimistic clients send the
//! greeting, auth and request at once; the tunnel's first bytes may follow) are never lost.
//! Every message is at most a few hundred bytes, and a wrong version, command or address type
//! is refused at the byte where it appears.
//!
//! ```
//! use ferry_front::Address;
//! use ferry_front::socks5::{
//!     AuthMode, Command, ReplyCode, ServerEvent, Socks5Server, client, METHOD_USERNAME_PASSWORD,
//! };
//!
//! // What a client sends, all at once.
//! let mut wire = Vec::new();
//! client::greeting(&[METHOD_USERNAME_PASSWORD], &mut wire)?;
//! client::auth("alice", "secret", &mut wire)?;
//! client::request(Command::Connect, &"example.com:443".parse()?, &mut wire)?;
//!
//! let mut server = Socks5Server::new(AuthMode::UsernamePassword);
//! let mut out = Vec::new();
//! let step = server.receive(&wire, &mut out)?;
//! let Some(ServerEvent::Authenticate(creds)) = step.event else { unreachable!() };
//! assert_eq!(creds.username, "alice");
//! server.accept_credentials(creds.password == "secret", &mut out)?;
//!
//! let step2 = server.receive(&wire[step.consumed..], &mut out)?;
//! let Some(ServerEvent::Request(req)) = step2.event else { unreachable!() };
//! assert_eq!(req.target, Address::Domain("example.com".into(), 443));
//! // ... connect to the target, then:
//! server.reply(ReplyCode::SUCCEEDED, &"192.0.2.1:40000".parse::<Address>()?, &mut out)?;
//! assert!(server.is_established());
//! assert_eq!(&out[..4], [0x05, 0x02, 0x01, 0x00]); // method 2 chosen, auth succeeded
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
mod error;
mod server;
mod udp;
mod wire;

use std::fmt;

pub use error::Socks5Error;
pub use server::{AuthMode, Progress, ServerEvent, ServerState, Socks5Server};
pub use udp::{UdpHeader, decode_udp, encode_udp_header};
pub use wire::encode_reply;

use crate::Address;

/// The SOCKS protocol version byte.
pub const SOCKS_VERSION: u8 = 0x05;

/// Longest greeting: version, count, 255 methods.
pub const MAX_GREETING_LEN: usize = 2 + 255;

/// Longest username/password message: version, two lengths, 255 bytes each.
pub const MAX_AUTH_LEN: usize = 3 + 255 + 255;

/// Longest request: version, command, reserved, type, length, 255-byte name, port.
pub const MAX_REQUEST_LEN: usize = 4 + 1 + 255 + 2;

/// An authentication method number (RFC 1928 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Method(pub u8);

/// `0x00`: no authentication.
pub const METHOD_NO_AUTH: Method = Method(0x00);
/// `0x01`: GSSAPI (not served).
pub const METHOD_GSSAPI: Method = Method(0x01);
/// `0x02`: username/password (RFC 1929).
pub const METHOD_USERNAME_PASSWORD: Method = Method(0x02);
/// `0xFF`: no acceptable methods.
pub const METHOD_NO_ACCEPTABLE: Method = Method(0xFF);

/// A reply code (RFC 1928 section 6); any byte may be received, the constants name the
/// defined ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplyCode(pub u8);

impl ReplyCode {
    /// `0x00` succeeded.
    pub const SUCCEEDED: Self = Self(0x00);
    /// `0x01` general SOCKS server failure.
    pub const GENERAL_FAILURE: Self = Self(0x01);
    /// `0x02` connection not allowed by ruleset.
    pub const NOT_ALLOWED: Self = Self(0x02);
    /// `0x03` network unreachable.
    pub const NETWORK_UNREACHABLE: Self = Self(0x03);
    /// `0x04` host unreachable.
    pub const HOST_UNREACHABLE: Self = Self(0x04);
    /// `0x05` connection refused.
    pub const CONNECTION_REFUSED: Self = Self(0x05);
    /// `0x06` TTL expired (used for connect timeouts).
    pub const TTL_EXPIRED: Self = Self(0x06);
    /// `0x07` command not supported.
    pub const COMMAND_NOT_SUPPORTED: Self = Self(0x07);
    /// `0x08` address type not supported.
    pub const ADDRESS_TYPE_NOT_SUPPORTED: Self = Self(0x08);
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0x00 => "SUCCEEDED",
            0x01 => "GENERAL_FAILURE",
            0x02 => "NOT_ALLOWED",
            0x03 => "NETWORK_UNREACHABLE",
            0x04 => "HOST_UNREACHABLE",
            0x05 => "CONNECTION_REFUSED",
            0x06 => "TTL_EXPIRED",
            0x07 => "COMMAND_NOT_SUPPORTED",
            0x08 => "ADDRESS_TYPE_NOT_SUPPORTED",
            other => return write!(f, "ReplyCode({other:#04x})"),
        };
        f.write_str(name)
    }
}

/// A request command (RFC 1928 section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `0x01` CONNECT: open a TCP connection to the target.
    Connect,
    /// `0x02` BIND: refused by [`Socks5Server`] with 0x07; encodable for tests.
    Bind,
    /// `0x03` UDP ASSOCIATE: relay UDP datagrams; the target is the address the client
    /// will send from (often `0.0.0.0:0`).
    UdpAssociate,
}

impl Command {
    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Connect => 0x01,
            Self::Bind => 0x02,
            Self::UdpAssociate => 0x03,
        }
    }
}

/// A username and password (RFC 1929), each 1 to 255 bytes of UTF-8. `Debug` hides the
/// password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A client's request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// CONNECT or UDP ASSOCIATE (never BIND: the server refuses it).
    pub command: Command,
    /// The destination (CONNECT), or the address the client says it will send its datagrams
    /// from (UDP ASSOCIATE): only a hint, any well-formed one is accepted, and a domain that
    /// is not an address (clients send `0`) is given as `0.0.0.0` with the hinted port. Port 0
    /// means no hint.
    pub target: Address,
}
