//! Concurrency limits: permits always return, including through panics and across threads, and
//! the per-key table empties.

use std::num::{NonZeroU32, NonZeroUsize};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_limit::{ClientKey, ConcurrencyLimiter, LimitExceeded, Permit};
use proptest::prelude::*;

fn limiter(global: usize, per_key: u32) -> ConcurrencyLimiter {
    ConcurrencyLimiter::new(
        NonZeroUsize::new(global).unwrap(),
        NonZeroU32::new(per_key).unwrap(),
    )
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(u64),
    Release(usize),
    /// Acquire inside a closure that panics while holding the permit.
    PanicHolding(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0_u64..6).prop_map(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Release),
        1 => (0_u64..6).prop_map(Op::PanicHolding),
    ]
}

/// Runs `f` under `catch_unwind`, keeping the deliberate "boom" panics out of the test output
/// (other panics are still reported by the default hook).
fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"boom") {
                default(info);
            }
        }));
    });
    catch_unwind(AssertUnwindSafe(f))
}

proptest! {
    #[test]
    fn matches_a_counting_model_and_returns_to_zero(ops in prop::collection::vec(op(), 1..200)) {
        const GLOBAL: usize = 8;
        const PER_KEY: u32 = 3;
        let l = limiter(GLOBAL, PER_KEY);
        let mut held: Vec<Permit> = Vec::new();
        for op in ops {
            match op {
                Op::Acquire(k) => {
                    let key = ClientKey::from_raw(k);
                    let expected = if held.len() >= GLOBAL {
                        Err(LimitExceeded::Global { limit: GLOBAL })
                    } else if held.iter().filter(|p| p.key() == key).count() >= PER_KEY as usize {
                        Err(LimitExceeded::PerKey { limit: PER_KEY })
                    } else {
                        Ok(())
                    };
                    let got = l.try_acquire(key);
                    prop_assert_eq!(got.as_ref().map(|_| ()).map_err(|e| *e), expected);
                    if let Ok(p) = got {
                        held.push(p);
                    }
                }
                Op::Release(i) => {
                    if !held.is_empty() {
                        drop(held.swap_remove(i % held.len()));
                    }
                }
                Op::PanicHolding(k) => {
                    let before = l.in_flight();
                    let l2 = l.clone();
                    let r = quietly(move || {
                        let _p = l2.try_acquire(ClientKey::from_raw(k));
                        panic!("boom");
                    });
                    prop_assert!(r.is_err());
                    prop_assert_eq!(l.in_flight(), before);
                }
            }
            prop_assert_eq!(l.in_flight(), held.len());
            prop_assert_eq!(l.tracked_keys(), {
                let mut keys: Vec<_> = held.iter().map(Permit::key).collect();
                keys.sort();
                keys.dedup();
                keys.len()
            });
        }
        drop(held);
        prop_assert_eq!(l.in_flight(), 0);
        prop_assert_eq!(l.tracked_keys(), 0);
    }
}

#[test]
fn threads_with_panics_and_moved_permits_return_every_slot() {
    const GLOBAL: usize = 16;
    const PER_KEY: u32 = 4;
    let l = limiter(GLOBAL, PER_KEY);
    let over_limit = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<Permit>();
    // A consumer thread that drops permits acquired elsewhere (permits are Send + 'static).
    let consumer = std::thread::spawn(move || rx.into_iter().count());
    let workers: Vec<_> = (0..4_u64)
        .map(|t| {
            let (l, over_limit, tx) = (l.clone(), Arc::clone(&over_limit), tx.clone());
            std::thread::spawn(move || {
                let mut seed = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut held = Vec::new();
                for i in 0..20_000_u64 {
                    // xorshift: cheap deterministic pseudo-randomness per thread.
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let key = ClientKey::from_raw((seed >> 8) % 8);
                    match seed % 5 {
                        0 | 1 => {
                            if let Ok(p) = l.try_acquire(key) {
                                held.push(p);
                            }
                        }
                        2 => {
                            if !held.is_empty() {
                                let p = held.swap_remove((seed as usize) % held.len());
                                if i % 2 == 0 {
                                    drop(p);
                                } else {
                                    tx.send(p).unwrap();
                                }
                            }
                        }
                        3 => {
                            let l = l.clone();
                            let r = quietly(move || {
                                let _p = l.try_acquire(key);
                                panic!("boom");
                            });
                            assert!(r.is_err());
                        }
                        _ => held.clear(),
                    }
                    if l.in_flight() > GLOBAL || l.in_flight_for(key) > PER_KEY {
                        over_limit.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    let moved = consumer.join().unwrap();
    assert!(moved > 0, "some permits should have crossed threads");
    assert_eq!(over_limit.load(Ordering::Relaxed), 0);
    assert_eq!(l.in_flight(), 0);
    assert_eq!(l.tracked_keys(), 0);
}

#[test]
fn a_permit_outlives_its_limiter_handle() {
    let l = limiter(1, 1);
    let p = l.try_acquire(ClientKey::from_raw(1)).unwrap();
    let observer = l.clone();
    drop(l);
    assert_eq!(observer.in_flight(), 1);
    drop(p);
    assert_eq!(observer.in_flight(), 0);
    assert_eq!(observer.tracked_keys(), 0);
}
