//! Outcomes of a rate-limit check: [`Decision`], [`Allowed`], [`Denied`], and [`CheckError`] for
//! requests that can never conform.

use std::time::{Duration, Instant};

/// The outcome of [`RateLimiter::check`](crate::RateLimiter::check) or
/// [`check_n`](crate::RateLimiter::check_n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a rate-limit decision that is not looked at limits nothing"]
pub enum Decision {
    /// The cells conform; the key's state was updated.
    Allowed(Allowed),
    /// The cells do not conform (or the key could not be tracked); nothing was charged.
    Denied(Denied),
}

impl Decision {
    /// `true` for [`Decision::Allowed`].
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }

    /// The allowance, if allowed.
    #[must_use]
    pub const fn allowed(self) -> Option<Allowed> {
        match self {
            Self::Allowed(a) => Some(a),
            Self::Denied(_) => None,
        }
    }

    /// The denial, if denied.
    #[must_use]
    pub const fn denied(self) -> Option<Denied> {
        match self {
            Self::Allowed(_) => None,
            Self::Denied(d) => Some(d),
        }
    }
}

/// A positive decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// `now + τ + T − new TAT`, in nanoseconds: how far the key still is from its limit.
    slack_ns: u64,
    interval_ns: u64,
}

impl Allowed {
    pub(crate) const fn new(slack_ns: u64, interval_ns: u64) -> Self {
        Self {
            slack_ns,
            interval_ns,
        }
    }

    /// How many more single cells the key could be allowed at the same instant (0 when this
    /// decision used up the burst). Same value as governor's `remaining_burst_capacity`.
    #[must_use]
    pub fn remaining(&self) -> u32 {
        // slack ≤ τ + T = burst · T, so the quotient is at most `burst`, a u32.
        u32::try_from(self.slack_ns / self.interval_ns).unwrap_or(u32::MAX)
    }
}

/// Why a check was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The key is over its quota: ordinary rate limiting.
    RateLimited,
    /// The key is not tracked yet and the key table is at `max_keys` with no idle key to reclaim.
    /// Existing keys keep their state; new keys are refused until idle keys can be dropped (see
    /// the crate docs, "Bounded memory").
    TableFull,
}

/// A negative decision: when to try again and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    reason: DenyReason,
    now: Instant,
    /// `earliest − now` in nanoseconds; the instant is only built on request, which keeps the
    /// denial path (the one a flood exercises) free of `Instant` arithmetic.
    wait_ns: u64,
}

impl Denied {
    pub(crate) const fn new(reason: DenyReason, now: Instant, wait_ns: u64) -> Self {
        Self {
            reason,
            now,
            wait_ns,
        }
    }

    /// Why the check was denied.
    #[must_use]
    pub const fn reason(&self) -> DenyReason {
        self.reason
    }

    /// The earliest instant at which the same check could be allowed (for
    /// [`DenyReason::RateLimited`], exact if no other cells are charged to the key meanwhile; for
    /// [`DenyReason::TableFull`], a hint: the next time an idle key may be reclaimed).
    #[must_use]
    pub fn earliest(&self) -> Instant {
        // Overflow would need an Instant near the end of the platform's range; fall back to now.
        self.now.checked_add(self.retry_after()).unwrap_or(self.now)
    }

    /// `earliest − now` (the `now` passed to the check); never zero for
    /// [`DenyReason::RateLimited`].
    #[must_use]
    pub const fn retry_after(&self) -> Duration {
        Duration::from_nanos(self.wait_ns)
    }

    /// [`retry_after`](Self::retry_after) rounded **up** to whole seconds and at least 1, for an
    /// HTTP `Retry-After` header (rounding down would invite a retry that is denied again).
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after();
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Why [`check_n`](crate::RateLimiter::check_n) can never succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// More cells were asked for at once than the burst size: no amount of waiting makes this
    /// conform. Split the work into chunks of at most `burst` cells.
    #[error("{n} cells requested at once but the burst is {burst}")]
    ExceedsBurst {
        /// Cells requested.
        n: u32,
        /// The quota's burst size, the largest `n` that can ever be allowed.
        burst: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // tests need some Instant to offset from
    fn base() -> Instant {
        Instant::now()
    }

    fn denied_after(d: Duration) -> Denied {
        Denied::new(
            DenyReason::RateLimited,
            base(),
            u64::try_from(d.as_nanos()).unwrap(),
        )
    }

    #[test]
    fn retry_after_secs_rounds_up_and_is_at_least_one() {
        assert_eq!(denied_after(Duration::from_nanos(1)).retry_after_secs(), 1);
        assert_eq!(
            denied_after(Duration::from_millis(999)).retry_after_secs(),
            1
        );
        assert_eq!(denied_after(Duration::from_secs(1)).retry_after_secs(), 1);
        assert_eq!(
            denied_after(Duration::from_millis(1001)).retry_after_secs(),
            2
        );
        assert_eq!(denied_after(Duration::from_secs(7)).retry_after_secs(), 7);
        assert_eq!(denied_after(Duration::ZERO).retry_after_secs(), 1);
        let d = denied_after(Duration::from_millis(1500));
        assert_eq!(d.retry_after(), Duration::from_millis(1500));
        assert_eq!(d.earliest(), d.now + Duration::from_millis(1500));
    }

    #[test]
    fn remaining_is_slack_over_interval() {
        assert_eq!(Allowed::new(0, 10).remaining(), 0);
        assert_eq!(Allowed::new(9, 10).remaining(), 0);
        assert_eq!(Allowed::new(30, 10).remaining(), 3);
    }

    #[test]
    fn decision_accessors() {
        let a = Decision::Allowed(Allowed::new(10, 10));
        assert!(a.is_allowed());
        assert_eq!(a.allowed().map(|a| a.remaining()), Some(1));
        assert!(a.denied().is_none());
        let d = Decision::Denied(denied_after(Duration::from_secs(1)));
        assert!(!d.is_allowed());
        assert_eq!(
            d.denied().map(|d| d.reason()),
            Some(DenyReason::RateLimited)
        );
    }
}
