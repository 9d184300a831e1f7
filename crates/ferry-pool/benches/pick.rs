//! Cost of one pick per policy with 2, 16 and 256 endpoints (all available, varied weights
//! and active counts, a different client per pick for consistent hashing).
//!
//! `cargo bench -p ferry-pool --bench pick -- --warm-up-time 1 --measurement-time 2`

#![allow(clippy::expect_used, clippy::unwrap_used)] // a broken benchmark setup should stop loudly

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ferry_pool::{Candidate, Policy, Selector, endpoint_key};

fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| {
            let addr = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8080));
            Candidate {
                weight: NonZeroU32::new(1 + (i % 4) as u32).unwrap(),
                active: (i * 7 % 13) as u64,
                ..Candidate::new(endpoint_key(addr))
            }
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for policy in [
        Policy::RoundRobin,
        Policy::Weighted,
        Policy::LeastConnections,
        Policy::ConsistentHash,
    ] {
        for n in [2usize, 16, 256] {
            let cands = candidates(n);
            let mut sel = Selector::new(policy);
            sel.reset(&cands);
            let mut client = 0u32;
            group.bench_with_input(
                BenchmarkId::new(policy.to_string(), n),
                &cands,
                |b, cands| {
                    b.iter(|| {
                        client = client.wrapping_add(0x9e37_79b9);
                        black_box(sel.pick(black_box(cands), IpAddr::V4(Ipv4Addr::from(client))))
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
