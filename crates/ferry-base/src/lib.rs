//! The small pieces every Ferry protocol crate shares, so that each exists once:
//!
//! - [`Parsed`]: what a sans-IO parser says about the bytes received so far ("need more" is not
//!   an error; a complete message says how many bytes it took, the rest is the caller's);
//! - [`ct_eq`]: a byte comparison whose time does not depend on where the inputs differ;
//! - with the `io` feature, `io::read_message` (read until a parser completes, within a byte
//!   bound, keeping the bytes after the message) and `io::Prefixed` (a stream that yields
//!   bytes already read before reading its inner stream), and `resolve` (the `Resolver` trait
//!   every dial path resolves names through, and the system resolver behind it).
//!
//! # What it does not do
//!
//! It parses no protocol itself, reads no clock and, without `io`, does no I/O and pulls in no
//! runtime (the pure crates `ferry-front`, `ferry-chain` and `ferry-auth` use it that way).
//!
//! # Example
//!
//! ```
//! use ferry_base::Parsed;
//!
//! /// A line parser: complete at the first `\n`.
//! fn line(input: &[u8]) -> Parsed<&[u8]> {
//!     match input.iter().position(|b| *b == b'\n') {
//!         Some(i) => Parsed::Complete { value: &input[..i], consumed: i + 1 },
//!         None => Parsed::Incomplete,
//!     }
//! }
//!
//! assert_eq!(line(b"hel"), Parsed::Incomplete);
//! assert_eq!(line(b"hello\nrest").complete(), Some((&b"hello"[..], 6)));
//! ```

mod ct;
#[cfg(feature = "io")]
pub mod io;
mod parsed;
#[cfg(feature = "io")]
pub mod resolve;

pub use self::ct::ct_eq;
pub use self::parsed::Parsed;

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
