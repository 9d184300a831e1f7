//! A global memory budget for connection buffers: above it, new connections are refused at
//! accept instead of memory growing without bound.
//!
//! Each connection reserves, when it is accepted, the most buffer memory it may hold (see
//! [`per_connection`]); the [`Reservation`] lives in the connection's task and gives the bytes
//! back when the connection ends. A reservation that would take the total above the budget is
//! refused: [`Server`](crate::serve::Server) then closes the new connection at once, before any
//! handshake or dial, and counts it. Live connections are never cut by the budget, and
//! lowering the budget ([`MemoryBudget::set_limit`], on reload) only refuses new connections
//! until enough live ones have ended.
//!
//! # What a connection reserves
//!
//! The reservation is what a connection may hold at its busiest, not what it holds idle
//! (an idle connection holds none of these buffers: they are borrowed while bytes are in
//! flight):
//!
//! - **the relay**: two copy buffers, one per direction, of `ferry-bridge`'s
//!   [`BridgeConfig::buffer_size`] (16 KiB by default, so 32 KiB); a direction never holds
//!   more than one, and a slow reader stops the other side instead of queueing;
//! - **each TLS side** (client side on a TLS listener, upstream or next-hop side when it is
//!   TLS): [`TLS_STREAM_BYTES`], 128 KiB: rustls's 64 KiB outgoing record queue, its 16 KiB
//!   received-plaintext limit plus the one record it may decrypt past it, and one 18 KiB
//!   incoming record being read;
//! - **the head** read before the relay (PROXY header, chain record, HTTP CONNECT head): its
//!   configured or fixed maximum.
//!
//! Not counted, because they are bounded elsewhere and not per connection: splice pipes (kernel
//! memory, at most [`BridgeConfig::max_pipes`] per bridge, each holding up to 64 KiB), idle
//! copy buffers kept for reuse ([`BridgeConfig::max_pooled_buffers`]), payload-dump queues, and
//! the gateway's QUIC receive windows (per agent connection: 16 MiB in all).
//!
//! # Metrics
//!
//! With the metric prefix given to [`MemoryBudget::new`] (for example `ferry_proxy`):
//! `<prefix>_memory_reserved_bytes` (gauge), `<prefix>_memory_budget_bytes` (gauge) and
//! `<prefix>_memory_refused_total` (counter of connections refused at accept).

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferry_bridge::BridgeConfig;

use crate::size::format_size;

/// Default memory budget of every program: 1 GiB. With the default 16 KiB buffers, that is
/// room for 32 768 plain connections (more than any program's default connection cap) or
/// about 6 500 connections with TLS on one side.
pub const DEFAULT_MEMORY_BUDGET: NonZeroU64 = match NonZeroU64::new(1 << 30) {
    Some(n) => n,
    None => unreachable!(),
};

/// What one TLS side of a connection may hold at most: 128 KiB (rustls's 64 KiB outgoing
/// queue, 16 KiB of received plaintext plus one decrypted record past that limit, one 18 KiB
/// incoming record, rounded up).
pub const TLS_STREAM_BYTES: u64 = 128 * 1024;

/// The reservation of one connection: the relay's two copy buffers of `bridge`, plus
/// [`TLS_STREAM_BYTES`] for each of its `tls_sides` TLS streams, plus `head` bytes read before
/// the relay (see the [module docs](self)).
#[must_use]
pub fn per_connection(bridge: &BridgeConfig, tls_sides: u8, head: usize) -> u64 {
    let buffer = u64::try_from(bridge.buffer_size.get()).unwrap_or(u64::MAX);
    buffer
        .saturating_mul(2)
        .saturating_add(TLS_STREAM_BYTES.saturating_mul(u64::from(tls_sides)))
        .saturating_add(u64::try_from(head).unwrap_or(u64::MAX))
}

/// Checks that a configured budget of `budget` bytes covers one connection's reservation of
/// `per_connection` bytes; returns the budget.
///
/// # Errors
///
/// A readable reason, naming both sizes, when the budget is smaller than one connection.
pub fn check_budget(budget: u64, per_connection: u64) -> Result<NonZeroU64, String> {
    match NonZeroU64::new(budget) {
        Some(b) if budget >= per_connection => Ok(b),
        _ => Err(format!(
            "{} is less than one connection's reservation ({}: relay buffers, TLS and head); \
             give at least that much",
            format_size(budget),
            format_size(per_connection)
        )),
    }
}

/// A memory budget shared by a program's connections (see the [module docs](self)). Cheap to
/// clone: clones share the count.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: AtomicU64,
    reserved: AtomicU64,
    refused: AtomicU64,
    /// Set by a refusal, cleared by the next reservation: the warning is logged once per
    /// episode, not once per refused connection.
    refusing: AtomicBool,
    reserved_name: String,
    budget_name: String,
    refused_name: String,
    /// The `reserved` gauge, resolved at its first change (after the program installed its
    /// recorder) rather than by name on every connection.
    reserved_gauge: std::sync::OnceLock<metrics::Gauge>,
}

impl Inner {
    fn reserved_gauge(&self) -> &metrics::Gauge {
        self.reserved_gauge
            .get_or_init(|| metrics::gauge!(self.reserved_name.clone()))
    }
}

impl MemoryBudget {
    /// A budget of `limit` bytes with nothing reserved, whose metrics are named
    /// `<prefix>_memory_*` (`prefix` is for example `ferry_proxy`).
    #[must_use]
    pub fn new(prefix: &str, limit: NonZeroU64) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit: AtomicU64::new(limit.get()),
                reserved: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                refusing: AtomicBool::new(false),
                reserved_name: format!("{prefix}_memory_reserved_bytes"),
                budget_name: format!("{prefix}_memory_budget_bytes"),
                refused_name: format!("{prefix}_memory_refused_total"),
                reserved_gauge: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Describes the metrics and sets both gauges to their current values: call it once the
    /// metrics recorder is installed ([`Server::memory_budget`](crate::serve::Server::memory_budget)
    /// does).
    pub fn publish(&self) {
        let i = &*self.inner;
        metrics::describe_gauge!(
            i.reserved_name.clone(),
            metrics::Unit::Bytes,
            "Buffer memory reserved by live connections (their most, not their current use)."
        );
        metrics::describe_gauge!(
            i.budget_name.clone(),
            metrics::Unit::Bytes,
            "The memory budget (memory_budget): new connections that would pass it are refused."
        );
        metrics::describe_counter!(
            i.refused_name.clone(),
            "Connections refused at accept because their reservation would pass the memory budget."
        );
        metrics::gauge!(i.budget_name.clone()).set(as_f64(self.limit()));
        metrics::gauge!(i.reserved_name.clone()).set(as_f64(self.reserved()));
        metrics::counter!(i.refused_name.clone()).absolute(self.refused());
    }

    /// Replaces the budget (on reload). Live reservations stay; when they already pass the new
    /// budget, new connections are refused until enough of them end.
    pub fn set_limit(&self, limit: NonZeroU64) {
        self.inner.limit.store(limit.get(), Ordering::Relaxed);
        metrics::gauge!(self.inner.budget_name.clone()).set(as_f64(limit.get()));
    }

    /// The budget, bytes.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// Bytes reserved by live reservations.
    #[must_use]
    pub fn reserved(&self) -> u64 {
        self.inner.reserved.load(Ordering::Acquire)
    }

    /// Reservations refused so far.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` if the total stays within the budget; the bytes are given back when
    /// the returned [`Reservation`] is dropped. `None` (counted in [`refused`](Self::refused)
    /// and `<prefix>_memory_refused_total`) when they would pass it. Concurrent reservations
    /// never take the total above the budget.
    #[must_use]
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// [`try_reserve`](Self::try_reserve) for the accept loop: the reservation shares `charge`
    /// (one allocation per distinct cost, not per connection) and is one pointer wide, so an
    /// idle connection's task does not grow.
    pub(crate) fn try_charge(charge: &Arc<Charge>) -> Option<Charged> {
        charge
            .budget
            .take(charge.bytes)
            .then(|| Charged(Arc::clone(charge)))
    }

    /// Adds `bytes` to the reserved total if it stays within the budget; counts a refusal.
    fn take(&self, bytes: u64) -> bool {
        let i = &*self.inner;
        let limit = i.limit.load(Ordering::Relaxed);
        let fits = i
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                now.checked_add(bytes).filter(|total| *total <= limit)
            });
        match fits {
            Ok(_) => {
                if i.refusing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        reserved = self.reserved(),
                        budget = limit,
                        "memory budget has room again: accepting new connections"
                    );
                }
                i.reserved_gauge().increment(as_f64(bytes));
                true
            }
            Err(now) => {
                i.refused.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(i.refused_name.clone()).increment(1);
                if !i.refusing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        reserved = now,
                        budget = limit,
                        wanted = bytes,
                        "memory budget full: refusing new connections (live ones go on)"
                    );
                }
                false
            }
        }
    }

    /// Gives back `bytes` taken by [`take`](Self::take).
    fn give(&self, bytes: u64) {
        let i = &*self.inner;
        i.reserved.fetch_sub(bytes, Ordering::AcqRel);
        i.reserved_gauge().decrement(as_f64(bytes));
    }
}

/// A cost shared by the reservations of one accept loop (see [`MemoryBudget::try_charge`]).
#[derive(Debug)]
pub(crate) struct Charge {
    pub(crate) budget: MemoryBudget,
    pub(crate) bytes: u64,
}

/// A reservation of a [`Charge`]'s bytes, given back on drop; one pointer wide.
#[derive(Debug)]
pub(crate) struct Charged(Arc<Charge>);

impl Drop for Charged {
    fn drop(&mut self) {
        self.0.budget.give(self.0.bytes);
    }
}

/// Bytes reserved from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: u64,
}

impl Reservation {
    /// The bytes this reservation holds.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// A byte count as a metric value (exact below 2^53 bytes, 8 PiB).
#[allow(clippy::cast_precision_loss)]
fn as_f64(bytes: u64) -> f64 {
    bytes as f64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::num::NonZeroUsize;

    use super::*;

    fn budget(limit: u64) -> MemoryBudget {
        MemoryBudget::new("ferry_test", NonZeroU64::new(limit).unwrap())
    }

    #[test]
    fn reserve_and_release() {
        let b = budget(100);
        let r = b.try_reserve(60).unwrap();
        assert_eq!((r.bytes(), b.reserved()), (60, 60));
        let s = b.try_reserve(40).unwrap();
        assert_eq!(b.reserved(), 100, "exactly the budget fits");
        drop(r);
        assert_eq!(b.reserved(), 40);
        drop(s);
        assert_eq!(b.reserved(), 0);
        assert_eq!(b.refused(), 0);
    }

    #[test]
    fn never_above_the_budget_and_refusals_are_counted() {
        let b = budget(100);
        let _r = b.try_reserve(70).unwrap();
        assert!(b.try_reserve(31).is_none());
        assert!(b.try_reserve(u64::MAX).is_none(), "no overflow");
        assert_eq!(b.reserved(), 70, "a refusal reserves nothing");
        assert_eq!(b.refused(), 2);
        assert!(b.try_reserve(30).is_some());
    }

    #[test]
    fn dropping_the_guard_makes_room_again() {
        let b = budget(10);
        let r = b.try_reserve(10).unwrap();
        assert!(b.try_reserve(1).is_none());
        drop(r);
        assert!(b.try_reserve(10).is_some());
    }

    #[test]
    fn a_lower_limit_refuses_new_ones_but_keeps_live_ones() {
        let b = budget(100);
        let live = b.try_reserve(80).unwrap();
        b.set_limit(NonZeroU64::new(50).unwrap());
        assert_eq!(b.limit(), 50);
        assert!(b.try_reserve(1).is_none());
        assert_eq!(live.bytes(), 80, "the live reservation stays");
        drop(live);
        assert!(b.try_reserve(50).is_some());
    }

    #[test]
    fn concurrent_reservations_never_overshoot() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 2_000;
        let b = budget(1_000);
        let peak = Arc::new(AtomicU64::new(0));
        let granted = Arc::new(AtomicU64::new(0));
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (b, peak, granted) = (b.clone(), Arc::clone(&peak), Arc::clone(&granted));
                s.spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..ROUNDS {
                        // Sizes 1..=300 and up to five held: one thread alone passes the
                        // budget now and then (so refusals do not depend on the threads
                        // overlapping), and several together often.
                        let size = u64::try_from((t * 31 + round * 17) % 300 + 1).unwrap();
                        if let Some(r) = b.try_reserve(size) {
                            granted.fetch_add(1, Ordering::Relaxed);
                            held.push(r);
                        }
                        peak.fetch_max(b.reserved(), Ordering::Relaxed);
                        if held.len() > 4 || round % 7 == 0 {
                            held.clear();
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 1_000, "overshot the budget");
        assert!(granted.load(Ordering::Relaxed) > 0);
        assert!(b.refused() > 0, "the test never hit the budget");
        assert_eq!(b.reserved(), 0, "every reservation was given back");
    }

    #[test]
    fn per_connection_counts_buffers_tls_and_head() {
        let bridge = BridgeConfig::default();
        assert_eq!(per_connection(&bridge, 0, 0), 32 * 1024);
        assert_eq!(
            per_connection(&bridge, 2, 8192),
            32 * 1024 + 256 * 1024 + 8192
        );
        let small = BridgeConfig::default().buffer_size(NonZeroUsize::new(1000).unwrap());
        assert_eq!(per_connection(&small, 1, 0), 2000 + TLS_STREAM_BYTES);
    }

    #[test]
    fn check_budget_names_both_sizes() {
        assert_eq!(check_budget(1 << 20, 32 * 1024).unwrap().get(), 1 << 20);
        let e = check_budget(16 * 1024, 32 * 1024).unwrap_err();
        assert!(e.contains("16KiB") && e.contains("32KiB"), "{e}");
        assert!(check_budget(0, 0).is_err());
    }
}
