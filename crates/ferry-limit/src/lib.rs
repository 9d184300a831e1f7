//! Per-client limits for Ferry: a keyed GCRA rate limiter with a bounded key table, and
//! concurrency (in-flight) limits with RAII permits.
//!
//! **What it does:** decides, for a client key and an instant, whether a request (or `n` cells,
//! e.g. bytes) conforms to a [`Quota`]; keeps memory bounded under key-spraying; maps client
//! addresses to keys with IPv6 prefix keying ([`ClientKeyer`]); counts in-flight work globally
//! and per key ([`ConcurrencyLimiter`]).
//!
//! **What it does not do:** it never reads a clock (every call takes `now`, measured from an
//! epoch given at construction; this is what makes it testable with a fake clock), never sleeps
//! or waits (no tokio; callers wait `retry_after` themselves or refuse), does no IO, and has no
//! per-key quotas (use one [`RateLimiter`] per tier). It does not shape streams; a byte-rate
//! quota is provided for coarse per-client data throttles (see "Byte rates").
//!
//! # Example
//!
//! ```
//! use std::num::{NonZeroU32, NonZeroUsize};
//! use std::time::{Duration, Instant};
//! use ferry_limit::{ClientKeyer, Decision, LimiterConfig, Quota, RateLimiter, V6Prefix};
//!
//! let quota = Quota::per_second(NonZeroU32::new(2).unwrap())?; // 2/s, burst 2
//! let epoch = Instant::now();
//! let limiter = RateLimiter::new(quota, &LimiterConfig::default(), epoch);
//! let keyer = ClientKeyer::new(V6Prefix::DEFAULT); // IPv6 clients keyed by /64
//! let client = keyer.key_for_ip("2001:db8::1".parse()?);
//!
//! assert!(limiter.check(client, epoch).is_allowed());
//! assert!(limiter.check(client, epoch).is_allowed());
//! match limiter.check(client, epoch) {
//!     Decision::Allowed(_) => unreachable!("burst is 2"),
//!     Decision::Denied(denied) => {
//!         assert_eq!(denied.retry_after(), Duration::from_millis(500));
//!         assert_eq!(denied.retry_after_secs(), 1); // for an HTTP Retry-After header
//!     }
//! }
//! // Same /64, same key, same state:
//! let neighbour = keyer.key_for_ip("2001:db8::ffff".parse()?);
//! assert!(!limiter.check(neighbour, epoch).is_allowed());
//! assert!(limiter.check(client, epoch + Duration::from_millis(500)).is_allowed());
//!
//! // In-flight limits: 1000 in total, 2 per client; the permit frees its slot on drop.
//! let conns = ferry_limit::ConcurrencyLimiter::new(
//!     NonZeroUsize::new(1000).unwrap(),
//!     NonZeroU32::new(2).unwrap(),
//! );
//! let permit = conns.try_acquire(client)?;
//! assert_eq!(conns.in_flight_for(client), 1);
//! drop(permit);
//! assert_eq!(conns.in_flight(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # GCRA
//!
//! The generic cell rate algorithm is a leaky bucket that stores one number per key, the
//! *theoretical arrival time* (TAT): the instant at which the key would be back to "no debt".
//! A [`Quota`] has an *emission interval* `T` (one cell is earned back every `T`) and a burst
//! `b`; the *tolerance* `τ = (b − 1)·T` is how far ahead of the steady schedule a key may run.
//! Charging `n` cells at `now`:
//!
//! - conforming iff `max(TAT, now) + (n − 1)·T − τ ≤ now`; then `TAT ← max(TAT, now) + n·T`;
//! - otherwise denied, with `earliest = max(TAT, now) + (n − 1)·T − τ` and
//!   `retry_after = earliest − now` ([`Denied`]); nothing is charged;
//! - `n > b` can never conform and is an error ([`CheckError::ExceedsBurst`]), not a denial.
//!
//! So a fresh key gets `b` cells at once, then exactly one per `T`; over any window `W` at most
//! `b + ⌊W/T⌋` cells. After being idle for `b·T` ([`Quota::refill_time`]) a key has a full burst
//! again and never more: idleness does not accumulate credit. The decisions are identical to
//! `governor` 0.10's (checked by a differential property test with its fake clock), including
//! its rounding of rate-based intervals down to whole nanoseconds ([`Quota`]).
//!
//! TATs are `u64` nanoseconds since the limiter's epoch (good for 584 years); one check is a
//! table lookup plus a compare-and-swap loop on the key's `AtomicU64`, with no lock held by the
//! limiter itself (the table's bucket lock is shared for reads).
//!
//! # Bounded memory and eviction
//!
//! A key whose TAT is ≤ now behaves exactly like a key that was never seen (`max(TAT, now) =
//! now`), so such *idle* keys can be dropped at any time without changing any decision.
//! [`RateLimiter::evict_idle`] drops them all (call it periodically, e.g. every few seconds).
//!
//! The table holds at most [`LimiterConfig::max_keys`] keys (default 100 000), a hard cap that
//! holds even under concurrent inserts. When a *new* key arrives at a full table, the limiter
//! first sweeps idle keys inline, but only if one can exist (it tracks a lower bound on the
//! smallest TAT) and no inline sweep ran within [`LimiterConfig::sweep_interval`] (default 1 s),
//! which bounds the O(`max_keys`) sweep cost an attacker can trigger. If the table is still full
//! the new key is **denied** with [`DenyReason::TableFull`].
//!
//! Why deny new keys rather than evict a tracked one: an attacker spraying source addresses
//! controls which keys are new, not which are tracked. Evicting a tracked key would let the spray
//! reset the state of a real client that is currently limited (an evicted key returns fresh,
//! with a full burst), turning the limiter off for exactly the clients it is limiting. Denying
//! new keys fails closed for newcomers during the spray, leaves every existing client's state
//! intact, and recovers by itself as idle keys age out. Size `max_keys` above the expected number
//! of concurrently active clients per `refill_time`.
//!
//! **Memory per key:** the table is an `scc::HashMap<u64, AtomicU64>`: 16 bytes of key and TAT
//! plus about 2 bytes of map metadata per slot and the spare slots of a power-of-two table.
//! Measured in `benches/limit_check.rs` (counting global allocator, live heap bytes ÷ keys):
//! 24–38 bytes per tracked key between 10 000 and 1 000 000 keys; the resident set grows by
//! 25–50 bytes per key (the allocator keeps memory freed by table resizes). So the default cap of
//! 100 000 keys costs about 2.5–5 MiB. The map's hasher uses a per-instance random key, so clients
//! cannot choose addresses that pile into one bucket.
//!
//! # Keys and IPv6 prefixes
//!
//! Keys are `u64` ([`ClientKey`]), which halves the table compared to `IpAddr` keys. A single
//! IPv6 host usually controls a whole /64 and could rotate through 2^64 addresses, so
//! [`ClientKeyer`] keys IPv6 clients by prefix ([`V6Prefix`], default /64, configurable
//! 1..=128): all addresses in one prefix share one key and one budget. IPv4 keys (including
//! IPv4-mapped IPv6 addresses) are tagged so they never collide with IPv6 keys. Prefixes up to
//! /64 are exact; longer prefixes are hashed with a per-process random key (collision probability
//! 2^-64 per pair). Any hashable identity can be keyed with [`ClientKeyer::key_for`].
//!
//! # Byte rates
//!
//! For a coarse per-client data throttle, use a separate limiter with
//! [`Quota::bytes_per_second`] (one cell = one byte) and charge each chunk with
//! [`RateLimiter::check_n`], `n` = chunk length, in chunks no larger than the burst (e.g. burst =
//! read buffer size). On [`Decision::Denied`], wait [`Denied::retry_after`] and charge the same
//! chunk again before sending it. Throughput then converges to the rate with bursts of at most
//! `burst` bytes. Rates above 10^9 bytes/s are not representable (1 byte per nanosecond).
//!
//! # Concurrency limits
//!
//! [`ConcurrencyLimiter::try_acquire`] takes a global slot, then a per-key slot, and reports
//! which limit refused ([`LimitExceeded`]). The returned [`Permit`] is `Send + 'static` and gives
//! both slots back in `Drop` (normal end, early return, task cancellation, panic unwind). A
//! per-key entry is removed when its count returns to zero, so that table never holds more than
//! the global limit entries.
#![doc(test(attr(deny(warnings))))]
#![warn(clippy::cast_possible_truncation)]

mod concurrency;
mod decision;
mod gcra;
mod hash;
mod key;
mod limiter;
mod quota;

pub use concurrency::{ConcurrencyLimiter, LimitExceeded, Permit};
pub use decision::{Allowed, CheckError, Decision, Denied, DenyReason};
pub use key::{ClientKey, ClientKeyer, PrefixError, V6Prefix};
pub use limiter::{LimiterConfig, RateLimiter};
pub use quota::{Quota, QuotaError};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
