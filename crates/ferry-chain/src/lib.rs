//! The chain header for multi-hop proxy chains, sans-IO: per-hop sealed requests and
//! responses, hop keyrings with rotation, a replay guard, and UDP framing
//! (wire format: [`spec`]).
//!
//! # What it does
//!
//! - A client holding a [`Chain`] (hops `1..=N`, each an [`Address`] and a [`HopKey`]) seals one
//!   request record per hop ([`Chain::seal`], [`seal_request`]): ChaCha20-Poly1305 from `ring`,
//!   a random 96-bit nonce, version, kind, hop index, key id and length bound as associated data.
//!   Hop *i* learns only its own next address; later hops' records stay opaque.
//! - A hop decodes its record ([`decode_request`]) with its [`Keyring`] (several keys for
//!   rotation; the key id picks one, no trial decryption), the current time and its
//!   [`ReplayGuard`]. Version, kind, hop index, key id and length are checked from the first 7
//!   bytes, before buffering; fewer bytes is [`Decoded::NeedMore`], not an error; the guard is
//!   touched only after the tag verifies. [`RequestError::reply`] says whether to answer.
//! - Hops answer with sealed response records ([`seal_response`]) bound to the request's nonce;
//!   the client reads all `N` statuses before payload ([`Chain::read_statuses`]) and learns which
//!   hop failed with which [`Status`].
//! - [`udp`]: stacked records plus payload per datagram, stacked responses on replies.
//! - Key files and key variables ([`Keyring::parse`]): `KEY_ID HEX` entries.
//!
//! # What it does not do
//!
//! No I/O, no clock and no randomness of its own by default: time is a parameter and nonces
//! come from the caller's `ring::rand::SecureRandom`. It does not dial, resolve names, apply
//! allowlists, or read key files (the caller reads the file or variable and passes the text).
//! Keys are not zeroed on drop. The `client` feature adds thin tokio glue; the hop program
//! (`ferry-hop`) lives elsewhere.
//!
//! # Example
//!
//! ```
//! use ferry_chain::{
//!     Chain, ChainHop, Decoded, HopKey, KeyId, Keyring, ReplayGuard, SealOptions, Status,
//!     decode_request, random_nonce, seal_response,
//! };
//! use ring::rand::SystemRandom;
//!
//! let rng = SystemRandom::new();
//! let key1 = HopKey::new(KeyId(1), [1; 32]);
//! let key2 = HopKey::new(KeyId(9), [2; 32]);
//! let chain = Chain::new(vec![
//!     ChainHop { address: "127.0.0.1:7001".parse()?, key: key1.clone() },
//!     ChainHop { address: "hop2.example:7002".parse()?, key: key2.clone() },
//! ])?;
//! let now = 1_700_000_000_000;
//! let sealed = chain.seal(&"example.com:443".parse()?, &SealOptions { now_unix_ms: now, ..Default::default() }, &rng)?;
//!
//! // Hop 1 opens its record and learns only hop 2's address.
//! let ring1 = Keyring::new([key1.clone()])?;
//! let mut guard = ReplayGuard::default();
//! let Decoded::Done { value, consumed } = decode_request(&sealed.bytes, &ring1, now, &mut guard)? else {
//!     unreachable!("the whole record is there");
//! };
//! assert_eq!(value.request.next.to_string(), "hop2.example:7002");
//! let forwarded = &sealed.bytes[consumed..]; // hop 2's record, unchanged
//!
//! // The same bytes again are a replay.
//! assert!(decode_request(&sealed.bytes, &ring1, now, &mut guard).is_err());
//!
//! // Hop 2 opens its record: the destination.
//! let mut guard2 = ReplayGuard::default();
//! let ring2 = Keyring::new([key2.clone()])?;
//! let Decoded::Done { value: req2, .. } = decode_request(forwarded, &ring2, now, &mut guard2)? else {
//!     unreachable!();
//! };
//! assert_eq!(req2.request.next.to_string(), "example.com:443");
//!
//! // Both answer; the client reads the statuses, then payload.
//! let mut back = Vec::new();
//! seal_response(&key1, &value.info, Status::Ok, random_nonce(&rng)?, &mut back)?;
//! seal_response(&key2, &req2.info, Status::Ok, random_nonce(&rng)?, &mut back)?;
//! back.extend_from_slice(b"payload");
//! let Decoded::Done { consumed, .. } = chain.read_statuses(&sealed.nonces, &back)? else {
//!     unreachable!();
//! };
//! assert_eq!(&back[consumed..], b"payload");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! - `client`: `client::connect` (TCP through every hop) and `client::UdpChain` (tokio).
//!
//! Default: none (pure, no tokio). With `client`, `client::ChainStream` is
//! `ferry_base::io::Prefixed<TcpStream>` (before 0.1 a struct of its own; `into_parts` now
//! returns the unread bytes as `Bytes`). (The `codec` feature and its unused `HopCodec` were removed
//! in 0.1: the hop reads its record with `decode_request` directly.)

#![doc(test(attr(deny(warnings))))]
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod address;
mod chain;
#[cfg(feature = "client")]
pub mod client;
mod error;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod record;
mod replay;
mod request;
mod response;
pub mod udp;
mod wire;

pub use address::{Address, AddressError, DomainName, Host, MAX_DOMAIN_LEN};
pub use chain::{Chain, ChainError, ChainHop, SealOptions, SealedChain, StatusError, random_nonce};
pub use error::{FrameError, Malformed, RecordInfo, RequestError, ResponseError, SealError};
pub use key::{HopKey, KEY_LEN, KeyError, KeyId, Keyring, MAX_KEYS};
pub use replay::{ReplayConfig, ReplayGuard};
pub use request::{Flags, OpenedRequest, Request, decode_request, seal_request};
pub use response::{Response, Status, decode_response, seal_response};
pub use wire::{
    HEADER_LEN, KIND_REQUEST, KIND_RESPONSE, MAX_HOPS, MAX_REQUEST_PLAINTEXT, MAX_REQUEST_RECORD,
    MIN_REQUEST_PLAINTEXT, NONCE_LEN, Nonce, PREFIX_LEN, RESPONSE_PLAINTEXT, RESPONSE_RECORD_LEN,
    TAG_LEN, VERSION,
};

/// Result of a decoder that may need more bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The buffer is a prefix of a valid record; at least `at_least` bytes (counted from the
    /// start of the buffer) are needed. Not an error.
    NeedMore {
        /// Total bytes needed before decoding can progress.
        at_least: usize,
    },
    /// A complete value from the first `consumed` bytes.
    Done {
        /// The value.
        value: T,
        /// Bytes it took.
        consumed: usize,
    },
}

// The normative wire specification, kept inside the crate so that it is packaged and rendered
// on docs.rs; `docs/wire/chain-header.md` at the repository root points here.
#[doc = include_str!("../docs/chain-header.md")]
pub mod spec {}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
