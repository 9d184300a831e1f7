//! [`RateLimiter`]: keyed GCRA over a bounded concurrent table, and its [`LimiterConfig`].

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::decision::{Allowed, CheckError, Decision, Denied, DenyReason};
use crate::gcra::{Gcra, Step};
use crate::hash::SeededState;
use crate::key::ClientKey;
use crate::quota::Quota;

/// Table-size settings of a [`RateLimiter`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterConfig {
    /// Hard cap on tracked keys. Default: [`LimiterConfig::DEFAULT_MAX_KEYS`] (100 000, a few
    /// MiB). The table never holds more, even transiently under concurrent inserts.
    pub max_keys: NonZeroUsize,
    /// Minimum time between two sweeps started *inline* by a new key arriving at a full table.
    /// Default: 1 s. Each such sweep walks the whole table (O(`max_keys`)); this bounds that cost
    /// under a key-spraying attack. [`RateLimiter::evict_idle`] is not limited by it.
    pub sweep_interval: Duration,
}

impl LimiterConfig {
    /// Default for [`max_keys`](Self::max_keys).
    // Evaluated at compile time: a zero here would fail the build, not panic at run time.
    pub const DEFAULT_MAX_KEYS: NonZeroUsize = NonZeroUsize::new(100_000).unwrap();
    /// Default for [`sweep_interval`](Self::sweep_interval).
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

    /// Sets [`max_keys`](Self::max_keys).
    #[must_use]
    pub const fn with_max_keys(mut self, max_keys: NonZeroUsize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Sets [`sweep_interval`](Self::sweep_interval).
    #[must_use]
    pub const fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            max_keys: Self::DEFAULT_MAX_KEYS,
            sweep_interval: Self::DEFAULT_SWEEP_INTERVAL,
        }
    }
}

/// A keyed GCRA rate limiter with a bounded key table. Time is a parameter: every method takes
/// `now`, measured from the `epoch` given to [`RateLimiter::new`]; the limiter never reads a
/// clock. Share it with an `Arc`; all methods take `&self`.
///
/// See the crate docs for the algorithm, the eviction rule and the memory bound.
#[derive(Debug)]
pub struct RateLimiter {
    gcra: Gcra,
    quota: Quota,
    epoch: Instant,
    max_keys: usize,
    sweep_interval_ns: u64,
    /// Key → TAT in nanoseconds since `epoch`.
    map: scc::HashMap<u64, AtomicU64, SeededState>,
    /// Slots reserved for entries: incremented before an insert, decremented after a removal,
    /// so it is always ≥ the number of entries and ≤ `max_keys`.
    tracked: AtomicUsize,
    /// A lower bound on every TAT in the table (`u64::MAX` when empty): before this instant no
    /// key can be idle, so a sweep would free nothing.
    min_tat_hint: AtomicU64,
    /// No inline sweep before this instant (ns since `epoch`).
    next_sweep_ns: AtomicU64,
}

impl RateLimiter {
    /// A limiter for `quota` with time measured from `epoch` (pass `Instant::now()` at startup,
    /// or a fixed base in tests). `now` values before `epoch` count as `epoch`.
    #[must_use]
    pub fn new(quota: Quota, config: &LimiterConfig, epoch: Instant) -> Self {
        Self {
            gcra: Gcra::new(&quota),
            quota,
            epoch,
            max_keys: config.max_keys.get(),
            sweep_interval_ns: duration_ns(config.sweep_interval),
            map: scc::HashMap::with_hasher(SeededState::random()),
            tracked: AtomicUsize::new(0),
            min_tat_hint: AtomicU64::new(u64::MAX),
            next_sweep_ns: AtomicU64::new(0),
        }
    }

    /// Charges one cell to `key` at `now`.
    pub fn check(&self, key: ClientKey, now: Instant) -> Decision {
        self.charge(key.get(), self.gcra.interval_ns, now)
    }

    /// Charges `n` cells to `key` at `now`, all or nothing (e.g. `n` bytes with a
    /// [`Quota::bytes_per_second`] quota).
    ///
    /// # Errors
    ///
    /// [`CheckError::ExceedsBurst`] if `n` is larger than the burst: such a request can never be
    /// allowed, so it is not reported as an ordinary (retryable) denial. Nothing is charged.
    pub fn check_n(
        &self,
        key: ClientKey,
        n: NonZeroU32,
        now: Instant,
    ) -> Result<Decision, CheckError> {
        let burst = self.quota.burst().get();
        if n.get() > burst {
            return Err(CheckError::ExceedsBurst { n: n.get(), burst });
        }
        // n ≤ burst and burst · T ≤ 2^62, so this cannot overflow.
        let cost = u64::from(n.get()) * self.gcra.interval_ns;
        Ok(self.charge(key.get(), cost, now))
    }

    /// Drops every key whose TAT is ≤ `now` (such a key behaves exactly like an unknown one, so
    /// nothing observable is lost) and returns how many were dropped.
    ///
    /// O(number of keys); blocks concurrent checks on one table bucket at a time. Calling it
    /// every few seconds from a background task keeps inline sweeps (see
    /// [`LimiterConfig::sweep_interval`]) rare.
    pub fn evict_idle(&self, now: Instant) -> usize {
        self.sweep(self.nanos(now))
    }

    /// Number of tracked keys (an upper bound while inserts are in flight); never above
    /// [`max_keys`](Self::max_keys). O(1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.tracked.load(Relaxed)
    }

    /// `true` if no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cap on tracked keys.
    #[must_use]
    pub const fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// The quota every key is held to.
    #[must_use]
    pub const fn quota(&self) -> Quota {
        self.quota
    }

    /// The instant all TATs are measured from.
    #[must_use]
    pub const fn epoch(&self) -> Instant {
        self.epoch
    }

    fn nanos(&self, now: Instant) -> u64 {
        duration_ns(now.saturating_duration_since(self.epoch))
    }

    fn charge(&self, key: u64, cost_ns: u64, now: Instant) -> Decision {
        let now_ns = self.nanos(now);
        loop {
            if let Some(step) = self
                .map
                .read_sync(&key, |_, tat| self.update(tat, now_ns, cost_ns))
            {
                return self.decision(step, now, now_ns);
            }
            if let Some(decision) = self.insert_new(key, now_ns, cost_ns, now) {
                return decision;
            }
            // Another thread inserted the key between our read and insert: charge that entry.
        }
    }

    /// The CAS loop on one key's TAT.
    #[inline]
    fn update(&self, tat: &AtomicU64, now_ns: u64, cost_ns: u64) -> Step {
        let mut current = tat.load(Relaxed);
        loop {
            let step = self.gcra.step(current, now_ns, cost_ns);
            let Step::Allow { new_tat, .. } = step else {
                return step;
            };
            // Relaxed suffices: the TAT publishes no other memory, and every CAS on one atomic
            // sees a single total modification order.
            match tat.compare_exchange_weak(current, new_tat, Relaxed, Relaxed) {
                Ok(_) => return step,
                Err(seen) => current = seen,
            }
        }
    }

    fn decision(&self, step: Step, now: Instant, now_ns: u64) -> Decision {
        match step {
            Step::Allow { slack_ns, .. } => {
                Decision::Allowed(Allowed::new(slack_ns, self.gcra.interval_ns))
            }
            Step::Deny { earliest_ns } => Decision::Denied(Denied::new(
                DenyReason::RateLimited,
                now,
                earliest_ns.saturating_sub(now_ns),
            )),
        }
    }

    /// Inserts an unknown key (which, like an idle one, always conforms since `cost ≤ τ + T`).
    /// `None` if another thread inserted it first.
    fn insert_new(&self, key: u64, now_ns: u64, cost_ns: u64, now: Instant) -> Option<Decision> {
        if !self.reserve_slot(now_ns) {
            // Every TAT is ≤ now + τ + T, so clamp the (possibly stale) lower bound to that.
            let first_idle = self
                .min_tat_hint
                .load(Relaxed)
                .min(now_ns.saturating_add(self.gcra.span_ns));
            let hint = first_idle.max(self.next_sweep_ns.load(Relaxed));
            return Some(Decision::Denied(Denied::new(
                DenyReason::TableFull,
                now,
                hint.saturating_sub(now_ns),
            )));
        }
        let step = self.gcra.step(0, now_ns, cost_ns);
        let Step::Allow { new_tat, .. } = step else {
            // Unreachable for cost ≤ span; stay safe and charge nothing.
            self.tracked.fetch_sub(1, Relaxed);
            return Some(self.decision(step, now, now_ns));
        };
        match self.map.insert_sync(key, AtomicU64::new(new_tat)) {
            Ok(()) => {
                self.min_tat_hint.fetch_min(new_tat, Relaxed);
                Some(self.decision(step, now, now_ns))
            }
            Err(_) => {
                self.tracked.fetch_sub(1, Relaxed);
                None
            }
        }
    }

    fn try_reserve(&self) -> bool {
        self.tracked
            .fetch_update(Relaxed, Relaxed, |n| (n < self.max_keys).then_some(n + 1))
            .is_ok()
    }

    /// Reserves a slot for a new key, sweeping idle keys first if the table is full and a sweep
    /// can help and is due.
    fn reserve_slot(&self, now_ns: u64) -> bool {
        if self.try_reserve() {
            return true;
        }
        if now_ns < self.min_tat_hint.load(Relaxed) {
            return false; // no key can be idle yet
        }
        let due = self.next_sweep_ns.load(Relaxed);
        if now_ns < due
            || self
                .next_sweep_ns
                .compare_exchange(
                    due,
                    now_ns.saturating_add(self.sweep_interval_ns),
                    Relaxed,
                    Relaxed,
                )
                .is_err()
        {
            return false; // not due, or another thread is sweeping
        }
        self.sweep(now_ns) > 0 && self.try_reserve()
    }

    fn sweep(&self, now_ns: u64) -> usize {
        // Inserts during the sweep lower the hint with fetch_min; entries present now are all
        // visited by retain and lower it below.
        self.min_tat_hint.store(u64::MAX, Relaxed);
        let mut min_kept = u64::MAX;
        let mut removed = 0_usize;
        self.map.retain_sync(|_, tat| {
            let t = *tat.get_mut();
            if t > now_ns {
                min_kept = min_kept.min(t);
                true
            } else {
                removed += 1;
                false
            }
        });
        self.min_tat_hint.fetch_min(min_kept, Relaxed);
        // Decrement only after the entries are gone, so `tracked` never under-counts.
        self.tracked.fetch_sub(removed, Relaxed);
        removed
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.map.len()
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
