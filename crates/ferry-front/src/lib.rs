//! Client-facing proxy protocol "fronts", sans-IO: PROXY protocol v1/v2, HTTP CONNECT with
//! Basic proxy authentication, and a SOCKS5 server state machine with UDP ASSOCIATE.
//!
//! # What it does
//!
//! - [`proxy_protocol`]: encodes PROXY protocol v1 and v2 headers (LOCAL/PROXY, IPv4/IPv6/
//!   UNSPEC, stream/datagram, TLVs) and decodes both, detecting the version by its signature.
//! - [`http_connect`]: parses a `CONNECT host:port` request head and its
//!   `Proxy-Authorization: Basic` credentials, writes the replies a proxy sends (200, 400, 403,
//!   405, 407, 429, 502, 503, 504), and on the client side writes a CONNECT request and parses
//!   the reply head.
//! - [`socks5`]: a SOCKS5 server state machine (no auth or username/password; CONNECT and UDP
//!   ASSOCIATE), the UDP datagram header, and client-side encoders.
//! - [`Address`]: the destination all three produce, an IP socket address or a checked domain
//!   name with a port, ready for `ferry-allow`.
//!
//! Every parser takes the bytes received so far and returns [`Parsed::Incomplete`] ("read
//! more"), a typed error, or the message with the number of bytes it took, so bytes after a
//! header are never lost. Sizes are checked before the caller has to buffer more: a v1 PROXY
//! line is at most 107 bytes, a v2 header 16 bytes plus a configured cap (default 512), an HTTP
//! head a configured cap (default 8 KiB, at most 64 fields), a SOCKS5 message at most 513
//! bytes. Bytes that cannot start a valid message are refused at once. The exact bytes are in
//! [`spec`].
//!
//! # What it does not do
//!
//! No I/O, no clock, no DNS: the caller reads and writes the sockets, applies the handshake
//! deadline, resolves names and checks destinations against its allowlist. It does not
//! verify credentials (it hands them to the caller), does not verify the v2 CRC32C TLV, does
//! not serve SOCKS BIND, GSSAPI or UDP fragments, and parses no HTTP other than CONNECT heads.
//!
//! # Examples
//!
//! ```
//! use ferry_front::{Host, Parsed};
//! use ferry_front::http_connect::{self, HttpLimits};
//!
//! let Parsed::Complete { value, .. } =
//!     http_connect::parse_request(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n", &HttpLimits::default())?
//! else {
//!     unreachable!()
//! };
//! assert_eq!(value.target.to_string(), "[2001:db8::1]:443");
//! // The host in the form ferry_allow::Allowlist::matches takes.
//! assert_eq!(value.target.host(), Host::Ip("2001:db8::1".parse()?));
//! assert_eq!(value.target.port(), 443);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each module has its own example.
//!
//! # Feature flags
//!
//! None.

#![doc(test(attr(deny(warnings))))]
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod address;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod http_connect;
pub mod proxy_protocol;
pub mod socks5;

pub use address::{Address, AddressError, Host, MAX_DOMAIN_LEN, MAX_LABEL_LEN, validate_domain};
/// The parse result every Ferry parser returns (defined once, in `ferry-base`).
pub use ferry_base::Parsed;

// The normative wire specification, kept inside the crate so that it is packaged and rendered
// on docs.rs; `docs/wire/fronts.md` at the repository root points here.
#[doc = include_str!("../docs/fronts.md")]
pub mod spec {}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
