//! GCRA behaviour over time: bursts, exact long-run rate, idle refill, retry hints, check_n.

use std::time::{Duration, Instant};

use ferry_limit::{
    CheckError, ClientKey, Decision, DenyReason, LimiterConfig, Quota, QuotaError, RateLimiter,
};

use crate::{base, nz};

const KEY: ClientKey = ClientKey::from_raw(42);

fn limiter(quota: Quota) -> (RateLimiter, Instant) {
    let t0 = base();
    (RateLimiter::new(quota, &LimiterConfig::default(), t0), t0)
}

/// Checks until denied; returns how many were allowed.
fn drain(l: &RateLimiter, now: Instant) -> u64 {
    let mut n = 0;
    while l.check(KEY, now).is_allowed() {
        n += 1;
    }
    n
}

/// A greedy client that drains the key every millisecond for `secs` seconds (inclusive of both
/// ends) must get exactly `burst + secs · rate` cells: no more, no fewer.
#[test]
fn burst_then_exactly_the_rate_over_a_long_run() {
    let cases: [(u32, u32, u64); 7] = [
        // (rate per second, burst, seconds)
        (1, 1, 600),
        (3, 3, 600),  // interval 333_333_333 ns, rounded down
        (7, 20, 300), // interval 142_857_142 ns, burst above the rate
        (10, 1, 300),
        (50, 100, 120),
        (1000, 1000, 30),
        (999, 5, 30), // interval 1_001_001 ns: cells land between the client's 1 ms ticks
    ];
    for (rate, burst, secs) in cases {
        let quota = Quota::per_second(nz(rate))
            .unwrap()
            .with_burst(nz(burst))
            .unwrap();
        let (l, t0) = limiter(quota);
        let first = drain(&l, t0);
        assert_eq!(first, u64::from(burst), "rate {rate}: initial burst");
        let mut total = first;
        for ms in 1..=secs * 1000 {
            total += drain(&l, t0 + Duration::from_millis(ms));
        }
        assert_eq!(
            total,
            u64::from(burst) + secs * u64::from(rate),
            "rate {rate}/s burst {burst} over {secs} s"
        );
    }
}

#[test]
fn full_burst_after_idle_of_burst_times_interval_and_never_more() {
    let quota = Quota::new(nz(5), Duration::from_millis(100)).unwrap();
    assert_eq!(quota.refill_time(), Duration::from_millis(500));
    let (l, t0) = limiter(quota);
    assert_eq!(drain(&l, t0), 5);
    // One nanosecond short of a full refill: one cell fewer.
    let almost = t0 + quota.refill_time() - Duration::from_nanos(1);
    assert_eq!(drain(&l, almost), 4);
    // Exhausted again at `almost`; a full refill later, exactly the burst again.
    let refilled = almost + quota.refill_time();
    assert_eq!(drain(&l, refilled), 5);
    // Very long idle (a day, then a year) still gives exactly the burst: no accumulated credit.
    let day = refilled + Duration::from_secs(86_400);
    assert_eq!(drain(&l, day), 5);
    let year = day + Duration::from_secs(365 * 86_400);
    assert_eq!(drain(&l, year), 5);
    // And after it, the steady rate again.
    assert_eq!(drain(&l, year + Duration::from_millis(100)), 1);
}

#[test]
fn remaining_counts_down_through_the_burst() {
    let (l, t0) = limiter(Quota::per_second(nz(4)).unwrap());
    let remaining: Vec<u32> = (0..4)
        .map(|_| l.check(KEY, t0).allowed().unwrap().remaining())
        .collect();
    assert_eq!(remaining, [3, 2, 1, 0]);
}

#[test]
fn retry_after_is_exact() {
    let quota = Quota::new(nz(2), Duration::from_millis(250)).unwrap();
    let (l, t0) = limiter(quota);
    assert_eq!(drain(&l, t0), 2);
    let now = t0 + Duration::from_millis(100);
    let Decision::Denied(d) = l.check(KEY, now) else {
        panic!("should be limited");
    };
    assert_eq!(d.reason(), DenyReason::RateLimited);
    assert_eq!(d.retry_after(), Duration::from_millis(150));
    assert_eq!(d.earliest(), t0 + Duration::from_millis(250));
    assert_eq!(d.retry_after_secs(), 1);
    // A denial charges nothing: one nanosecond early is still denied, on time is allowed.
    assert!(
        !l.check(KEY, d.earliest() - Duration::from_nanos(1))
            .is_allowed()
    );
    assert!(l.check(KEY, d.earliest()).is_allowed());
}

#[test]
fn retry_after_secs_rounds_up_long_waits() {
    let (l, t0) = limiter(Quota::per_minute(nz(1)).unwrap());
    assert!(l.check(KEY, t0).is_allowed());
    let d = l
        .check(KEY, t0 + Duration::from_millis(500))
        .denied()
        .unwrap();
    assert_eq!(d.retry_after(), Duration::from_millis(59_500));
    assert_eq!(d.retry_after_secs(), 60);
}

#[test]
fn check_n_larger_than_burst_is_an_error_and_charges_nothing() {
    let (l, t0) = limiter(Quota::per_second(nz(10)).unwrap());
    assert_eq!(
        l.check_n(KEY, nz(11), t0),
        Err(CheckError::ExceedsBurst { n: 11, burst: 10 })
    );
    assert!(l.is_empty(), "an impossible request must not create state");
    assert!(l.check_n(KEY, nz(10), t0).unwrap().is_allowed());
    // Now n ≤ burst but over the current allowance: an ordinary, retryable denial.
    let d = l.check_n(KEY, nz(3), t0).unwrap().denied().unwrap();
    assert_eq!(d.retry_after(), Duration::from_millis(300));
}

#[test]
fn quota_constructors_reject_unrepresentable_rates() {
    assert_eq!(
        Quota::per_second(nz(2_000_000_000)),
        Err(QuotaError::ZeroInterval)
    );
    assert!(Quota::with_interval(Duration::ZERO).is_err());
}

/// The documented byte-rate pattern: charge each chunk, wait `retry_after` on denial. Over 10 s
/// at 1 MB/s with a 64 KiB bucket, the bytes sent equal burst + rate · time within one chunk.
#[test]
fn byte_rate_pattern_converges_to_the_rate() {
    const RATE: u32 = 1_000_000;
    const BURST: u32 = 64 * 1024;
    const CHUNK: u32 = 16 * 1024;
    let quota = Quota::bytes_per_second(nz(RATE), nz(BURST)).unwrap();
    let (l, t0) = limiter(quota);
    let end = t0 + Duration::from_secs(10);
    let (mut now, mut sent) = (t0, 0_u64);
    while now <= end {
        match l.check_n(KEY, nz(CHUNK), now).unwrap() {
            Decision::Allowed(_) => sent += u64::from(CHUNK),
            Decision::Denied(d) => now = d.earliest(),
        }
    }
    let ideal = u64::from(BURST) + 10 * u64::from(RATE);
    assert!(
        sent <= ideal && sent + u64::from(CHUNK) > ideal,
        "sent {sent}, ideal {ideal}"
    );
}
