//! A small async [memcached] client speaking the [meta protocol] (`mg`, `ms`, `md`, `mn`), made
//! for shared state that needs compare-and-swap and TTLs (Ferry's agent-ownership registry).
//!
//! # What it does
//!
//! - [`Client`]: get with the item's CAS token and remaining TTL, set, add, compare-and-swap,
//!   delete (optionally only if the token still matches), touch, no-op. Every operation is
//!   bounded by one timeout ([`ClientConfig::op_timeout`], 500 ms) so a slow or dead server
//!   makes callers fail fast, not hang; connections that saw an error are closed, never reused.
//! - The server is an address or a host name ([`Client::resolving`]) resolved through an
//!   injectable [`resolve::Resolver`] when connecting, and again when connecting fails (a
//!   memcached replaced at a new address is found).
//! - [`Key`]: keys are validated when made (1–250 printable ASCII bytes without spaces), so no
//!   request can carry a second command.
//! - [`codec`]: the protocol without I/O: request encoders and a response decoder that reports
//!   "need more bytes" separately from errors and bounds line length and value size.
//!
//! # What it does not do
//!
//! No hashing over several servers (one client is one server; `ferry-registry` spreads its
//! keys over several clients), no binary protocol, no TLS or SASL, no
//! pipelining of several requests on one connection, no retries (an operation that fails is
//! reported; the caller decides, since a retried store may not be idempotent).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use ferry_memcache::{Client, ClientConfig, Key, Stored, Ttl};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("127.0.0.1:11211".parse()?, ClientConfig::default());
//! let key = Key::new("agent:edge-1")?;
//! let ttl = Ttl::after(Duration::from_secs(30)).ok_or("ttl out of range")?;
//! if client.add(&key, b"10.0.0.5:7443", ttl).await? == Stored::NotStored {
//!     let item = client.get(&key).await?.ok_or("gone meanwhile")?;
//!     // Take over only if nobody changed it since we read it.
//!     let _ = client.compare_and_swap(&key, b"10.0.0.5:7443", ttl, item.cas).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! [memcached]: https://memcached.org
//! [meta protocol]: https://github.com/memcached/memcached/wiki/MetaCommands
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod client;
pub mod codec;
mod error;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
mod key;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Client, ClientConfig, Deleted, Item, Stored};
pub use codec::{MAX_TTL, Ttl};
pub use error::{Error, KeyError, ProtocolError};
pub use key::{Key, MAX_KEY_LEN};

/// Name resolution for [`Client::resolving`]: `ferry-base`'s resolver trait, re-exported.
pub mod resolve {
    pub use ferry_base::resolve::{
        ResolveFuture, Resolver, SharedResolver, SystemResolver, system,
    };
}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
