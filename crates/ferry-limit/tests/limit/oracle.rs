//! Differential tests: ferry-limit against governor 0.10 (fake clock) and against an independent
//! token-bucket model in exact integer arithmetic.
//!
//! Exact agreement with governor is expected and asserted: both use the same integer GCRA with
//! the emission interval rounded down to whole nanoseconds. The token-bucket model is the dual
//! formulation (credit in nanoseconds, capped at `burst · T`), so it checks the algorithm itself
//! rather than a second copy of the same formula.

use std::num::NonZeroU32;
use std::time::Duration;

use ferry_limit::{CheckError, ClientKey, Decision, LimiterConfig, Quota, RateLimiter};
use governor::clock::FakeRelativeClock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::HashMapStateStore;
use proptest::prelude::*;

use crate::{base, nz};

type Governor = governor::RateLimiter<
    u64,
    HashMapStateStore<u64>,
    FakeRelativeClock,
    StateInformationMiddleware,
>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed { remaining: u32 },
    Denied { retry_after: Duration },
    ExceedsBurst,
}

/// Token bucket: `credit` nanoseconds of earned time per key, capped at `burst · T`.
struct TokenBucket {
    interval: u128,
    cap: u128,
    keys: std::collections::HashMap<u64, (u128, u128)>, // key -> (credit, last update)
}

impl TokenBucket {
    fn new(burst: u32, interval_ns: u64) -> Self {
        let interval = u128::from(interval_ns);
        Self {
            interval,
            cap: interval * u128::from(burst),
            keys: Default::default(),
        }
    }

    fn check(&mut self, key: u64, n: u32, now: u128) -> Outcome {
        let cost = self.interval * u128::from(n);
        if cost > self.cap {
            return Outcome::ExceedsBurst;
        }
        let (credit, last) = self.keys.get(&key).copied().unwrap_or((self.cap, now));
        let credit = (credit + (now - last)).min(self.cap);
        if credit >= cost {
            self.keys.insert(key, (credit - cost, now));
            Outcome::Allowed {
                remaining: u32::try_from((credit - cost) / self.interval).unwrap(),
            }
        } else {
            self.keys.insert(key, (credit, now));
            Outcome::Denied {
                retry_after: Duration::from_nanos(u64::try_from(cost - credit).unwrap()),
            }
        }
    }
}

fn ours(d: Result<Decision, CheckError>) -> Outcome {
    match d {
        Ok(Decision::Allowed(a)) => Outcome::Allowed {
            remaining: a.remaining(),
        },
        Ok(Decision::Denied(d)) => Outcome::Denied {
            retry_after: d.retry_after(),
        },
        Err(CheckError::ExceedsBurst { .. }) => Outcome::ExceedsBurst,
        Err(e) => panic!("unexpected {e}"),
    }
}

fn theirs(gov: &Governor, clock: &FakeRelativeClock, key: u64, n: u32) -> Outcome {
    use governor::clock::Clock;
    match gov.check_key_n(&key, NonZeroU32::new(n).unwrap()) {
        Ok(Ok(snapshot)) => Outcome::Allowed {
            remaining: snapshot.remaining_burst_capacity(),
        },
        Ok(Err(not_until)) => Outcome::Denied {
            retry_after: not_until.wait_time_from(clock.now()),
        },
        Err(_) => Outcome::ExceedsBurst,
    }
}

#[derive(Debug, Clone)]
struct Op {
    advance_ns: u64,
    key: u64,
    n: u32,
}

/// A quota (either rate-based, with rounding, or an explicit interval) and ops scaled to it.
fn scenario() -> impl Strategy<Value = (Quota, Vec<Op>)> {
    let quota = prop_oneof![
        (1_u32..=2_000, 1_u32..=20).prop_map(|(rate, burst)| {
            Quota::per_second(nz(rate))
                .unwrap()
                .with_burst(nz(burst))
                .unwrap()
        }),
        (1_u64..=5_000_000, 1_u32..=20).prop_map(|(t, burst)| Quota::new(
            nz(burst),
            Duration::from_nanos(t)
        )
        .unwrap()),
    ];
    quota.prop_flat_map(|q| {
        let t = u64::try_from(q.emission_interval().as_nanos()).unwrap();
        let burst = q.burst().get();
        let advance = prop_oneof![
            3 => Just(0_u64),
            4 => 0..=t,
            2 => 0..=t * u64::from(burst) * 2,
            1 => Just(t - 1),
            1 => Just(t),
        ];
        let n = prop_oneof![8 => Just(1_u32), 3 => 1..=burst, 1 => 1..=burst + 2];
        let op = (advance, 0_u64..4, n).prop_map(|(advance_ns, key, n)| Op { advance_ns, key, n });
        (Just(q), prop::collection::vec(op, 1..300))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_decisions_as_governor_and_token_bucket((quota, ops) in scenario()) {
        let t0 = base();
        let ours_lim = RateLimiter::new(quota, &LimiterConfig::default(), t0);
        let clock = FakeRelativeClock::default();
        let gq = governor::Quota::with_period(quota.emission_interval())
            .unwrap()
            .allow_burst(quota.burst());
        let gov: Governor = governor::RateLimiter::new(gq, HashMapStateStore::default(), clock.clone());
        let t = u64::try_from(quota.emission_interval().as_nanos()).unwrap();
        let mut model = TokenBucket::new(quota.burst().get(), t);

        let mut elapsed = 0_u64;
        for (i, op) in ops.iter().enumerate() {
            elapsed += op.advance_ns;
            clock.advance(Duration::from_nanos(op.advance_ns));
            let now = t0 + Duration::from_nanos(elapsed);
            let a = ours(ours_lim.check_n(ClientKey::from_raw(op.key), nz(op.n), now));
            let b = theirs(&gov, &clock, op.key, op.n);
            let c = model.check(op.key, op.n, u128::from(elapsed));
            prop_assert_eq!(a, b, "op {} {:?}: ours vs governor", i, op);
            prop_assert_eq!(a, c, "op {} {:?}: ours vs token bucket", i, op);
        }
    }

    #[test]
    fn check_is_check_n_of_one((quota, ops) in scenario()) {
        let t0 = base();
        let a = RateLimiter::new(quota, &LimiterConfig::default(), t0);
        let b = RateLimiter::new(quota, &LimiterConfig::default(), t0);
        let mut now = t0;
        for op in ops {
            now += Duration::from_nanos(op.advance_ns);
            let key = ClientKey::from_raw(op.key);
            prop_assert_eq!(ours(Ok(a.check(key, now))), ours(b.check_n(key, nz(1), now)));
        }
    }
}
