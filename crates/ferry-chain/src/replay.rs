//! Replay protection: a timestamp window plus a bounded set of recently seen nonces.

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::wire::Nonce;

/// Replay guard settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Accepted clock skew either way: a record is fresh when
    /// `|timestamp - now| <= window`. Default 60 s.
    pub window: Duration,
    /// Most nonces remembered. Default 65 536 (about 5 MiB at most).
    pub capacity: NonZeroUsize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            capacity: NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// Why the guard refused a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardReject {
    Window { skew_ms: i128 },
    Replayed,
    Full,
}

/// Remembers the nonces of accepted records while their timestamps are in the window.
///
/// Only records whose tag verified reach it ([`decode_request`](crate::decode_request) calls
/// it last), so forged records cannot fill it. A nonce is remembered until its timestamp falls
/// out of the window (after which the window check alone rejects it; the window's lower edge
/// never moves back, even when `now` does). When `capacity` fresh
/// nonces are remembered, new records are **denied** until older ones expire: deny when unsure.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    window_ms: u64,
    capacity: usize,
    /// Latest `now` seen: expiry is relative to it, so a clock stepping back cannot revive
    /// forgotten nonces.
    high_water_ms: u64,
    by_time: BTreeSet<(u64, Nonce)>,
    seen: HashSet<Nonce>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(ReplayConfig::default())
    }
}

impl ReplayGuard {
    /// An empty guard.
    #[must_use]
    pub fn new(config: ReplayConfig) -> Self {
        Self {
            window_ms: u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX),
            capacity: config.capacity.get(),
            high_water_ms: 0,
            by_time: BTreeSet::new(),
            seen: HashSet::new(),
        }
    }

    /// Number of nonces remembered (at most the capacity).
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Checks the window, then the nonce; remembers it when both pass.
    pub(crate) fn check_and_insert(
        &mut self,
        nonce: &Nonce,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), GuardReject> {
        let skew = i128::from(timestamp_ms) - i128::from(now_ms);
        let forgotten = timestamp_ms < self.high_water_ms.saturating_sub(self.window_ms);
        if skew.unsigned_abs() > u128::from(self.window_ms) || forgotten {
            return Err(GuardReject::Window { skew_ms: skew });
        }
        if self.seen.contains(nonce) {
            return Err(GuardReject::Replayed);
        }
        self.expire(now_ms);
        if self.seen.len() >= self.capacity {
            return Err(GuardReject::Full);
        }
        self.seen.insert(*nonce);
        self.by_time.insert((timestamp_ms, *nonce));
        Ok(())
    }

    /// Forgets nonces whose timestamp is older than `now - window`.
    fn expire(&mut self, now_ms: u64) {
        self.high_water_ms = self.high_water_ms.max(now_ms);
        let oldest_fresh = self.high_water_ms.saturating_sub(self.window_ms);
        while let Some(&(ts, nonce)) = self.by_time.first() {
            if ts >= oldest_fresh {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&nonce);
        }
    }
}
