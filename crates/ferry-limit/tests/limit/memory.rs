//! Bounded key table: the cap holds under a million-key spray, idle keys are reclaimed, and a
//! spray cannot reset a client that is currently limited.

use std::num::NonZeroUsize;
use std::time::Duration;

use ferry_limit::{ClientKey, Decision, DenyReason, LimiterConfig, Quota, RateLimiter};

use crate::{base, nz};

const CAP: usize = 100_000;

fn config() -> LimiterConfig {
    LimiterConfig::default().with_max_keys(NonZeroUsize::new(CAP).unwrap())
}

#[test]
fn a_million_distinct_keys_never_exceed_max_keys() {
    // 10/s, burst 10: an unused key is idle 100 ms after its one check.
    let quota = Quota::per_second(nz(10)).unwrap();
    let t0 = base();
    let l = RateLimiter::new(quota, &config(), t0);
    let (mut allowed, mut table_full) = (0_u32, 0_u32);
    for i in 0..1_000_000_u64 {
        // One new key every 3 µs over 3 s: the table fills within 300 ms, then inline sweeps
        // (at most one per second) reclaim the keys that went idle, several times over.
        let now = t0 + Duration::from_micros(3 * i);
        match l.check(ClientKey::from_raw(i), now) {
            Decision::Allowed(_) => allowed += 1,
            Decision::Denied(d) => {
                assert_eq!(d.reason(), DenyReason::TableFull);
                // The hint points at the next inline sweep, at most one interval away.
                assert!(d.retry_after() <= Duration::from_secs(1), "{d:?}");
                table_full += 1;
            }
        }
        assert!(l.len() <= CAP, "len {} above the cap at key {i}", l.len());
    }
    assert!(allowed > 3 * CAP as u32, "allowed {allowed}");
    assert!(table_full > 0);
    // Later every key is idle: one sweep reclaims them all.
    let left = l.len();
    assert!(left > 0);
    assert_eq!(l.evict_idle(t0 + Duration::from_secs(5)), left);
    assert!(l.is_empty());
}

#[test]
fn sustained_spray_recovers_through_inline_sweeps() {
    // Keys become idle after 1 ms; sweeps are due every 10 ms. Over 1 s of spraying, new keys
    // are admitted again after each sweep, and the cap holds throughout.
    let quota = Quota::per_second(nz(1000)).unwrap();
    let cfg = LimiterConfig::default()
        .with_max_keys(NonZeroUsize::new(1000).unwrap())
        .with_sweep_interval(Duration::from_millis(10));
    let t0 = base();
    let l = RateLimiter::new(quota, &cfg, t0);
    let mut allowed = 0;
    for i in 0..200_000_u64 {
        let now = t0 + Duration::from_micros(i * 5);
        allowed += u32::from(l.check(ClientKey::from_raw(i), now).is_allowed());
        assert!(l.len() <= 1000);
    }
    // 1 s / 10 ms = 100 sweep windows, each admitting up to 1000 keys.
    assert!(allowed > 50_000, "allowed {allowed}");
}

#[test]
fn key_spray_does_not_reset_a_limited_hot_key() {
    // 1 per second, burst 5.
    let quota = Quota::per_second(nz(1)).unwrap().with_burst(nz(5)).unwrap();
    let t0 = base();
    let l = RateLimiter::new(quota, &config(), t0);
    let hot = ClientKey::from_raw(u64::MAX);
    for _ in 0..5 {
        assert!(l.check(hot, t0).is_allowed());
    }
    let before = l.check(hot, t0).denied().unwrap();
    assert_eq!(before.earliest(), t0 + Duration::from_secs(1));

    // 1M sprayed keys over 900 ms, with the hot client retrying every 1000 keys and an explicit
    // sweep half way. It must stay limited the whole time, with the same earliest instant.
    for i in 0..1_000_000_u64 {
        let now = t0 + Duration::from_nanos(i * 900);
        let _ = l.check(ClientKey::from_raw(i), now);
        if i % 1000 == 0 {
            let d = l.check(hot, now).denied().expect("spray reset the hot key");
            assert_eq!(d.reason(), DenyReason::RateLimited);
            assert_eq!(d.earliest(), before.earliest());
        }
        if i == 500_000 {
            l.evict_idle(now);
        }
        assert!(l.len() <= CAP);
    }
    // Exactly on schedule, one cell (not a fresh burst).
    let on_time = t0 + Duration::from_secs(1);
    assert!(l.check(hot, on_time).is_allowed());
    assert!(!l.check(hot, on_time).is_allowed());
}
