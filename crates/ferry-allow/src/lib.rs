//! Allowlist patterns for proxy destinations: parse, compile and match `(host or IP, port)`, and
//! explain which rule decided.
//!
//! # What it does
//!
//! - Parses entries in the grammar below (a superset of grepplabs/reverse-http's whitelist
//!   patterns) into [`Rule`]s; an invalid entry is a [`ParseError`] that names the entry and the
//!   reason, never silently dropped.
//! - Compiles them into an [`Allowlist`] whose checks do not scan the rules: exact names in a
//!   hash map, `*.zone` entries in a trie of reversed labels (cost grows with the number of
//!   labels of the target), networks in one hash map per distinct prefix length (at most 33 for
//!   IPv4 and 129 for IPv6 lookups). Each key holds its port ranges, so all matching entries
//!   count, not only the first.
//! - Returns a [`Decision`] that says which entries allowed the target, or why it was denied;
//!   its `Display` is one readable line.
//! - Classifies special-purpose addresses ([`special_address`]) and checks resolved addresses
//!   ([`Allowlist::check_resolved`]) so a caller connects only to an address that was checked.
//!
//! # What it does not do
//!
//! No I/O and no clock: it never resolves names (the caller resolves once and passes the
//! addresses), never connects, never logs. It does not parse `host:port` authorities from
//! requests, and it does not convert internationalised names (give them in punycode).
//!
//! # Grammar
//!
//! Entries are separated by commas ([`Allowlist::parse`]) or given one per item
//! ([`Allowlist::from_entries`]); whitespace around an entry is ignored.
//!
//! | entry | matches |
//! |---|---|
//! | `localhost`, `localhost:80`, `localhost:1000-2000` | that name |
//! | `*.zone`, `*.zone:80`, `*.zone:1000-2000` | `zone` and every name under it |
//! | `127.0.0.1`, `127.0.0.1:80`, `127.0.0.1:1000-2000` | that IPv4 address |
//! | `10.0.0.1/8`, `10.0.0.1/8:80`, `10.0.0.1/8:1000-2000` | that IPv4 network (host bits ignored) |
//! | `1000::/16`, `1000::/16:80`, `1000::/16:1000-2000` | that IPv6 network |
//! | `[2001:db8::1]/64`, `[2001:db8::1]/64:80`, `[2001:db8::1]/64:1000-2000` | that IPv6 network |
//! | `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`, `[2001:db8::1]:1000-2000` | that IPv6 address |
//!
//! - No port means every port. Ports are 1-65535; a range `min-max` needs `min <= max`.
//! - An unbracketed IPv6 address never has a port: `2001:db8::1:80` is an address. Write
//!   `[2001:db8::1]:80` for a port.
//! - Host names: labels of 1-63 letters, digits, `-` or `_`, not starting or ending with `-`;
//!   at most 253 bytes; the last label not all digits. Compared ASCII case-insensitively, with
//!   one trailing dot ignored. `*` is allowed only as a leading `*.`.
//! - IPv4-mapped IPv6 (`::ffff:a.b.c.d`) rules and targets are treated as the IPv4 address.
//!
//! # Matching
//!
//! - A target is `(host, port)`. A host that parses as an IP address is an address and matches
//!   address rules only; any other host is a name and matches name and zone rules only.
//! - A target is allowed when at least one entry matches both host and port; every such entry
//!   is reported. The empty list denies everything.
//! - [`Allowlist::matches`] applies the rules only. [`Allowlist::check_ip`] and
//!   [`Allowlist::check_resolved`] also apply the built-in special-address set (loopback,
//!   private, link-local, cloud metadata, unspecified, multicast, ...; see [`SpecialClass`]),
//!   denied by default ([`SpecialAddresses::Deny`]): a special address passes only when an
//!   address rule *inside its special range* allows it (`127.0.0.0/8` allows `127.0.0.1`,
//!   `0.0.0.0/0` does not). IPv4-compatible, NAT64 and 6to4 addresses are special when the IPv4
//!   address they embed is.
//!
//! # Examples
//!
//! ```
//! use std::net::IpAddr;
//! use ferry_allow::{Allowlist, DenyReason};
//!
//! let list = Allowlist::parse("*.example.com:443, 10.0.0.0/8:80, 10.0.0.0/8:443")?;
//!
//! assert!(list.matches("api.example.com", 443).is_allowed());
//! assert!(list.matches("EXAMPLE.com.", 443).is_allowed());
//! assert!(list.matches("10.1.2.3", 443).is_allowed()); // the second CIDR entry counts too
//!
//! let denied = list.matches("example.com", 22);
//! assert_eq!(denied.deny_reason(), Some(&DenyReason::PortNotAllowed));
//! assert_eq!(
//!     denied.to_string(),
//!     "deny: port 22 is not allowed by rule #0 `*.example.com:443`"
//! );
//!
//! // After resolving the name yourself, connect only to an address that passed.
//! let resolved: [IpAddr; 2] = ["127.0.0.1".parse()?, "93.184.216.34".parse()?];
//! let checked = list.check_resolved("www.example.com", 443, &resolved);
//! assert_eq!(checked.allowed_addrs().collect::<Vec<_>>(), [resolved[1]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! None.

#![doc(test(attr(deny(warnings))))]
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod allowlist;
mod compiled;
mod decision;
mod error;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
mod ipv6;
mod name;
mod ports;
mod portset;
mod resolved;
mod rule;
mod special;

pub use allowlist::{Allowlist, MAX_ENTRIES, SpecialAddresses};
pub use decision::{Decision, DenyReason, Explanation, RuleRef, TargetKind};
pub use error::{ParseError, ParseErrorKind};
pub use name::{HostName, NameError};
pub use ports::{PortError, PortRange};
pub use resolved::{CheckedAddr, ResolvedDecision, ResolvedExplanation};
pub use rule::{HostPattern, Rule};
pub use special::{Embedding, SpecialAddr, SpecialClass, special_address};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
