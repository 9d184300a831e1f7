//! The GCRA step on plain integers, shared by the atomic CAS loop in [`crate::RateLimiter`].
//!
//! All times are nanoseconds since the limiter's epoch. A key's whole state is its theoretical
//! arrival time (TAT); a missing key behaves exactly like a key whose TAT is ≤ now.

use crate::quota::Quota;

/// Emission interval and burst span of a quota, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// `T`.
    pub(crate) interval_ns: u64,
    /// `τ + T = burst · T` (≤ 2^62, validated by [`Quota`]).
    pub(crate) span_ns: u64,
}

/// Result of one GCRA step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Conforming: store `new_tat`; `slack_ns = now + τ + T − new_tat`.
    Allow { new_tat: u64, slack_ns: u64 },
    /// Not conforming: the same charge conforms from `earliest_ns` on (> now).
    Deny { earliest_ns: u64 },
}

impl Gcra {
    pub(crate) const fn new(quota: &Quota) -> Self {
        Self {
            interval_ns: quota.interval_ns(),
            span_ns: quota.tolerance_ns() + quota.interval_ns(),
        }
    }

    /// Charges `cost_ns = n · T` (with `1 ≤ n ≤ burst`, so `cost_ns ≤ span_ns`) at `now_ns` to a
    /// key whose TAT is `tat`.
    ///
    /// Conforming iff `max(tat, now) + (n − 1)·T − τ ≤ now`, i.e. `max(tat, now) + n·T ≤
    /// now + τ + T`; then the new TAT is `max(tat, now) + n·T`. Arithmetic saturates at
    /// `u64::MAX` (584 years after the epoch), where every check conforms.
    #[inline]
    pub(crate) const fn step(&self, tat: u64, now_ns: u64, cost_ns: u64) -> Step {
        let base = if tat > now_ns { tat } else { now_ns };
        let new_tat = base.saturating_add(cost_ns);
        let limit = now_ns.saturating_add(self.span_ns);
        if new_tat <= limit {
            Step::Allow {
                new_tat,
                slack_ns: limit - new_tat,
            }
        } else {
            Step::Deny {
                earliest_ns: new_tat - self.span_ns,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use std::time::Duration;

    fn gcra(burst: u32, t_ns: u64) -> Gcra {
        let q = Quota::new(NonZeroU32::new(burst).unwrap(), Duration::from_nanos(t_ns)).unwrap();
        Gcra::new(&q)
    }

    #[test]
    fn fresh_key_allows_a_full_burst_then_denies() {
        let g = gcra(3, 10);
        let mut tat = 0;
        for remaining in [2, 1, 0] {
            match g.step(tat, 100, 10) {
                Step::Allow { new_tat, slack_ns } => {
                    tat = new_tat;
                    assert_eq!(slack_ns / 10, remaining);
                }
                Step::Deny { .. } => panic!("denied inside the burst"),
            }
        }
        assert_eq!(tat, 130);
        assert_eq!(g.step(tat, 100, 10), Step::Deny { earliest_ns: 110 });
        assert!(matches!(
            g.step(tat, 110, 10),
            Step::Allow { new_tat: 140, .. }
        ));
    }

    #[test]
    fn n_cells_need_n_minus_one_intervals_of_headroom() {
        let g = gcra(4, 10);
        // Fresh: 4 cells at once conform, 5 would not (checked by the caller as ExceedsBurst).
        assert!(matches!(
            g.step(0, 50, 40),
            Step::Allow {
                new_tat: 90,
                slack_ns: 0
            }
        ));
        // After using 2 of 4, 3 more are denied until one interval passes.
        assert_eq!(g.step(70, 50, 30), Step::Deny { earliest_ns: 60 });
        assert!(matches!(
            g.step(70, 60, 30),
            Step::Allow { new_tat: 100, .. }
        ));
    }

    #[test]
    fn idle_key_is_like_fresh() {
        let g = gcra(2, 10);
        assert_eq!(g.step(5, 1_000, 10), g.step(0, 1_000, 10));
        assert_eq!(g.step(1_000, 1_000, 10), g.step(0, 1_000, 10));
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let g = gcra(2, 10);
        assert!(matches!(
            g.step(u64::MAX - 5, u64::MAX - 5, 20),
            Step::Allow {
                new_tat: u64::MAX,
                ..
            }
        ));
    }
}
