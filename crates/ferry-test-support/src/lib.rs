//! Dev-only test support shared by Ferry's crates (never a normal dependency): the
//! destinations tests proxy to, the clients that drive them, and deterministic payloads.
//!
//! Everything binds `127.0.0.1` port 0, runs until the test's runtime (or process) ends, and
//! honours half-close: an echo shuts its write side after the client's EOF, so a test can tell
//! a propagated half-close from a cut. Helpers panic on setup failures (they are test code).
//!
//! - [`tokio`-based](net): [`net::echo`], [`net::echo_counting`], [`net::tagged_echo`],
//!   [`net::http_ok`], [`net::udp_echo`], [`net::dead_port`], [`net::round_trip`],
//!   [`net::same_port_listeners`] (one port on several loopback addresses),
//!   [`net::nothing_accepted`] (a listener saw no connection, checked without waiting),
//!   [`net::trickle`] (a slow sender, one byte at a time until the peer closes);
//! - [thread-based](blocking), for tests of real processes without a runtime:
//!   [`blocking::echo`], [`blocking::tagged_echo`], [`blocking::http_get`];
//! - [`process::Program`]: a program under test as a child process, its stderr read line by
//!   line, waited for with bounds, terminated with SIGTERM and killed on drop;
//! - [`resolve::Scripted`]: a resolver answering what the test scripts, one answer per lookup,
//!   counting lookups;
//! - [`payload`]: deterministic pseudo-random bytes;
//! - [`corpus::replay`]: the checked-in fuzz corpus run through its harness functions.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod blocking;
pub mod corpus;
pub mod net;
pub mod process;
pub mod resolve;

/// `len` deterministic pseudo-random bytes (xorshift from `seed`): the same for the same
/// arguments, and unlike any neighbouring slice, so a misplaced or dropped chunk shows.
#[must_use]
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}
