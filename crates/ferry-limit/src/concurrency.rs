//! [`ConcurrencyLimiter`]: global and per-key in-flight counts with RAII [`Permit`]s.

use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scc::hash_map::Entry;

use crate::hash::SeededState;
use crate::key::ClientKey;

/// Which in-flight limit refused a [`ConcurrencyLimiter::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// All `limit` global permits are taken (checked first).
    #[error("global limit of {limit} in-flight permits reached")]
    Global {
        /// The global limit.
        limit: usize,
    },
    /// The key already holds `limit` permits.
    #[error("per-key limit of {limit} in-flight permits reached")]
    PerKey {
        /// The per-key limit.
        limit: u32,
    },
}

struct Shared {
    global_limit: usize,
    per_key_limit: u32,
    global: AtomicUsize,
    /// Key → permits held; an entry exists only while its count is ≥ 1, so the map never holds
    /// more than `global_limit` entries.
    per_key: scc::HashMap<u64, u32, SeededState>,
}

/// Counts in-flight work (e.g. open connections) globally and per key, handing out [`Permit`]s
/// that give their slot back when dropped: on normal completion, on an early return, when a task
/// holding one is cancelled, and during a panic unwind.
///
/// Cloning is cheap and shares the counts.
#[derive(Clone)]
pub struct ConcurrencyLimiter {
    shared: Arc<Shared>,
}

impl fmt::Debug for ConcurrencyLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimiter")
            .field("global_limit", &self.shared.global_limit)
            .field("per_key_limit", &self.shared.per_key_limit)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl ConcurrencyLimiter {
    /// At most `global_limit` permits in total and `per_key_limit` per key.
    #[must_use]
    pub fn new(global_limit: NonZeroUsize, per_key_limit: NonZeroU32) -> Self {
        Self {
            shared: Arc::new(Shared {
                global_limit: global_limit.get(),
                per_key_limit: per_key_limit.get(),
                global: AtomicUsize::new(0),
                per_key: scc::HashMap::with_hasher(SeededState::random()),
            }),
        }
    }

    /// Takes one permit for `key`, without waiting.
    ///
    /// # Errors
    ///
    /// [`LimitExceeded::Global`] if all global permits are taken (checked first), else
    /// [`LimitExceeded::PerKey`] if `key` holds its maximum. Nothing is taken on error.
    pub fn try_acquire(&self, key: ClientKey) -> Result<Permit, LimitExceeded> {
        let s = &*self.shared;
        s.global
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < s.global_limit).then_some(n + 1)
            })
            .map_err(|_in_flight| LimitExceeded::Global {
                limit: s.global_limit,
            })?;
        let took = match s.per_key.entry_sync(key.get()) {
            Entry::Occupied(mut held) => {
                let count = held.get_mut();
                if *count < s.per_key_limit {
                    *count += 1;
                    true
                } else {
                    false
                }
            }
            Entry::Vacant(slot) => {
                slot.insert_entry(1);
                true
            }
        };
        if !took {
            s.global.fetch_sub(1, Ordering::AcqRel);
            return Err(LimitExceeded::PerKey {
                limit: s.per_key_limit,
            });
        }
        Ok(Permit {
            shared: Arc::clone(&self.shared),
            key: key.get(),
        })
    }

    /// Permits currently held, over all keys.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.shared.global.load(Ordering::Acquire)
    }

    /// Permits currently held by `key`.
    #[must_use]
    pub fn in_flight_for(&self, key: ClientKey) -> u32 {
        self.shared
            .per_key
            .read_sync(&key.get(), |_, n| *n)
            .unwrap_or(0)
    }

    /// Number of keys holding at least one permit (≤ the global limit). O(table size): for tests
    /// and diagnostics, not for a hot path.
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.shared.per_key.len()
    }

    /// The global limit.
    #[must_use]
    pub fn global_limit(&self) -> usize {
        self.shared.global_limit
    }

    /// The per-key limit.
    #[must_use]
    pub fn per_key_limit(&self) -> u32 {
        self.shared.per_key_limit
    }
}

/// One unit of in-flight work for one key; dropping it releases the slot. `Send + 'static`: it
/// owns a reference to the limiter's shared state, so it can move into a spawned task.
#[must_use = "dropping a permit releases it immediately"]
pub struct Permit {
    shared: Arc<Shared>,
    key: u64,
}

impl Permit {
    /// The key this permit is counted against.
    #[must_use]
    pub fn key(&self) -> ClientKey {
        ClientKey::from_raw(self.key)
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("key", &self.key).finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Decrement and remove-at-zero happen under the bucket lock, atomically with respect to
        // `try_acquire` on the same key. The entry always exists while a permit is alive.
        let _removed = self.shared.per_key.remove_if_sync(&self.key, |n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        self.shared.global.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(global: usize, per_key: u32) -> ConcurrencyLimiter {
        ConcurrencyLimiter::new(
            NonZeroUsize::new(global).unwrap(),
            NonZeroU32::new(per_key).unwrap(),
        )
    }

    const fn assert_send_static<T: Send + Sync + 'static>() {}
    const _: () = assert_send_static::<Permit>();
    const _: () = assert_send_static::<ConcurrencyLimiter>();

    #[test]
    fn per_key_limit_then_global_limit() {
        let l = limiter(3, 2);
        let (a, b) = (ClientKey::from_raw(1), ClientKey::from_raw(2));
        let a1 = l.try_acquire(a).unwrap();
        let _a2 = l.try_acquire(a).unwrap();
        assert_eq!(
            l.try_acquire(a).unwrap_err(),
            LimitExceeded::PerKey { limit: 2 }
        );
        assert_eq!(
            l.in_flight(),
            2,
            "a refused acquire must not leak a global slot"
        );
        let _b1 = l.try_acquire(b).unwrap();
        // Global is full; it is reported even though b is under its own limit.
        assert_eq!(
            l.try_acquire(b).unwrap_err(),
            LimitExceeded::Global { limit: 3 }
        );
        assert_eq!(l.in_flight_for(a), 2);
        drop(a1);
        assert_eq!(l.in_flight_for(a), 1);
        assert_eq!(a, _a2.key());
        let _b2 = l.try_acquire(b).unwrap();
        assert_eq!(l.in_flight(), 3);
    }

    #[test]
    fn entries_are_removed_at_zero() {
        let l = limiter(10, 10);
        let permits: Vec<_> = (0..5)
            .map(|k| l.try_acquire(ClientKey::from_raw(k)).unwrap())
            .collect();
        assert_eq!(l.tracked_keys(), 5);
        drop(permits);
        assert_eq!(l.tracked_keys(), 0);
        assert_eq!(l.in_flight(), 0);
        assert_eq!(l.in_flight_for(ClientKey::from_raw(1)), 0);
    }
}
