//! Internal-state tests of the limiter's key table (the GCRA behaviour is tested in `tests/`).

use super::*;
use std::sync::Arc;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

#[allow(clippy::disallowed_methods)] // tests need some Instant to offset from
fn base() -> Instant {
    Instant::now()
}

/// burst 2, one cell per 10 ms.
fn limiter(max_keys: usize, sweep: Duration) -> (RateLimiter, Instant) {
    let quota = Quota::new(nz(2), Duration::from_millis(10)).unwrap();
    let cfg = LimiterConfig::default()
        .with_max_keys(NonZeroUsize::new(max_keys).unwrap())
        .with_sweep_interval(sweep);
    let epoch = base();
    (RateLimiter::new(quota, &cfg, epoch), epoch)
}

fn k(n: u64) -> ClientKey {
    ClientKey::from_raw(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn assert_shareable<T: Send + Sync + 'static>() {}
const _: () = assert_shareable::<RateLimiter>();

#[test]
fn default_config_is_documented_values() {
    let c = LimiterConfig::default();
    assert_eq!(c.max_keys.get(), 100_000);
    assert_eq!(c.sweep_interval, Duration::from_secs(1));
}

#[test]
fn counter_matches_entries_and_evict_idle_drops_only_idle_keys() {
    let (l, t0) = limiter(100, Duration::ZERO);
    for i in 0..10 {
        assert!(l.check(k(i), t0 + ms(i)).is_allowed());
    }
    assert_eq!((l.len(), l.entries()), (10, 10));
    // Key i has TAT t0 + i ms + 10 ms; at t0 + 14 ms keys 0..=4 are idle.
    assert_eq!(l.evict_idle(t0 + ms(14)), 5);
    assert_eq!((l.len(), l.entries()), (5, 5));
    assert_eq!(l.min_tat_hint.load(Relaxed), duration_ns(ms(15)));
    assert_eq!(l.evict_idle(t0 + ms(100)), 5);
    assert!(l.is_empty());
    assert_eq!(l.entries(), 0);
}

#[test]
fn full_table_denies_new_keys_but_serves_tracked_ones() {
    let (l, t0) = limiter(3, Duration::ZERO);
    for i in 0..3 {
        assert!(l.check(k(i), t0).is_allowed());
    }
    let d = l.check(k(99), t0).denied().unwrap();
    assert_eq!(d.reason(), DenyReason::TableFull);
    // Hint: the earliest TAT (t0 + 10 ms), when a key can first become idle.
    assert_eq!(d.retry_after(), ms(10));
    assert_eq!(d.retry_after_secs(), 1);
    assert!(l.check(k(1), t0).is_allowed(), "tracked key keeps working");
    assert_eq!(l.len(), 3);
    // Nothing was idle, so no sweep was attempted and none is scheduled.
    assert_eq!(l.next_sweep_ns.load(Relaxed), 0);
}

#[test]
fn full_table_sweeps_inline_when_keys_are_idle() {
    let (l, t0) = limiter(3, ms(1000));
    for i in 0..3 {
        assert!(l.check(k(i), t0).is_allowed());
    }
    let d = l.check(k(10), t0 + ms(10));
    assert!(d.is_allowed(), "{d:?}");
    assert_eq!((l.len(), l.entries()), (1, 1));
    assert_eq!(l.next_sweep_ns.load(Relaxed), duration_ns(ms(1010)));
}

#[test]
fn inline_sweeps_are_rate_limited_by_sweep_interval() {
    let (l, t0) = limiter(2, ms(1000));
    assert!(l.check(k(0), t0).is_allowed());
    assert!(l.check(k(1), t0).is_allowed());
    // Sweep at 10 ms frees both keys, admits key 2.
    assert!(l.check(k(2), t0 + ms(10)).is_allowed());
    assert!(l.check(k(3), t0 + ms(10)).is_allowed());
    // At 30 ms keys 2 and 3 are idle, but the next inline sweep is only due at 1010 ms.
    let d = l.check(k(4), t0 + ms(30)).denied().unwrap();
    assert_eq!(d.reason(), DenyReason::TableFull);
    assert_eq!(d.earliest(), t0 + ms(1010));
    assert!(l.check(k(4), t0 + ms(1010)).is_allowed());
    // A manual sweep is not rate limited.
    assert_eq!(l.evict_idle(t0 + ms(1030)), 1);
}

#[test]
fn concurrent_inserts_never_exceed_the_cap() {
    let (l, t0) = limiter(1000, Duration::ZERO);
    let l = Arc::new(l);
    let threads: Vec<_> = (0..4_u64)
        .map(|t| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                let mut max_seen = 0;
                for i in 0..20_000_u64 {
                    // Overlapping key ranges make threads race on the same new keys.
                    let key = k((i * 7 + t) % 5_000);
                    let _ = l.check(key, t0 + Duration::from_micros(i));
                    max_seen = max_seen.max(l.len());
                }
                max_seen
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap() <= 1000);
    }
    assert_eq!(l.len(), l.entries());
    assert!(l.entries() <= 1000);
}

#[test]
fn concurrent_checks_on_one_key_lose_no_updates() {
    // burst 1000, 1 cell per hour: exactly 1000 of 4 × 1000 checks at one instant conform.
    let quota = Quota::new(nz(1000), Duration::from_secs(3600)).unwrap();
    let t0 = base();
    let l = Arc::new(RateLimiter::new(quota, &LimiterConfig::default(), t0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || (0..1000).filter(|_| l.check(k(7), t0).is_allowed()).count())
        })
        .collect();
    let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(allowed, 1000);
}

#[test]
fn now_before_epoch_counts_as_epoch() {
    let (l, t0) = limiter(10, Duration::ZERO);
    let before = t0.checked_sub(ms(5)).unwrap();
    assert!(l.check(k(1), before).is_allowed());
    assert!(l.check(k(1), before).is_allowed());
    assert!(!l.check(k(1), t0).is_allowed());
}
