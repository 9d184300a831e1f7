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
//! - [`daemons`]: real third-party egress proxies (tinyproxy, danted, microsocks) on loopback,
//!   killed on drop, their log lines readable ([`daemons::Daemon::wait_logged`]);
//! - [`payload`]: deterministic pseudo-random bytes;
//! - [`corpus::replay`]: the checked-in fuzz corpus run through its harness functions.
//! - [`metric`]: one sample's value in Prometheus text (a `/metrics` scrape or a render).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod blocking;
pub mod corpus;
pub mod daemons;
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

/// The value of the first sample of `name` in Prometheus text whose labels include every
/// `labels` pair (`&[]` for a metric without labels); `None` when there is none.
#[must_use]
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[cfg(test)]
mod metric_tests {
    #[test]
    fn finds_samples_by_name_and_labels() {
        let text = "# HELP a_total x\na_total 3\na_total_more 9\nb{end=\"ok\",l=\"x\"} 2\n";
        assert_eq!(super::metric(text, "a_total", &[]), Some(3.0));
        assert_eq!(super::metric(text, "b", &[("end", "ok")]), Some(2.0));
        assert_eq!(super::metric(text, "b", &[("end", "no")]), None);
        assert_eq!(super::metric(text, "c", &[]), None);
    }
}
