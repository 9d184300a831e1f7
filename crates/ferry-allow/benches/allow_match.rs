//! Matching cost with 10, 1,000 and 100,000 rules (a mix of names, zones, IPv4 and IPv6
//! networks), for hits and misses.
//!
//! `cargo bench -p ferry-allow --bench allow_match -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::expect_used)] // a broken benchmark setup should stop loudly

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ferry_allow::Allowlist;

const SIZES: [usize; 3] = [10, 1_000, 100_000];

/// Entry `i` of the synthetic list; `i % 4` picks the kind.
fn entry(i: usize) -> String {
    let (hi, lo) = ((i >> 8) & 0xff, i & 0xff);
    match i % 4 {
        0 => format!("host{i}.svc{}.example.com:443", i % 97),
        1 => format!("*.zone{i}.net"),
        2 if i % 8 == 2 => format!("10.{hi}.{lo}.0/24:80"),
        2 => format!("172.{}.{hi}.{lo}:80", 16 + (i >> 16)),
        _ => format!("[2001:db8:{:x}:{:x}::]/64:443", i >> 16, i & 0xffff),
    }
}

/// The largest `i < n` of kind `kind`, so every size has a hit of every kind.
fn last_of(kind: usize, n: usize) -> usize {
    (0..n).rev().find(|i| i % 4 == kind).unwrap_or(0)
}

fn targets(n: usize) -> Vec<(&'static str, String, u16)> {
    let name = last_of(0, n);
    let zone = last_of(1, n);
    let v4 = last_of(2, n);
    let v4_target = if v4 % 8 == 2 {
        format!("10.{}.{}.7", (v4 >> 8) & 0xff, v4 & 0xff)
    } else {
        format!("172.{}.{}.{}", 16 + (v4 >> 16), (v4 >> 8) & 0xff, v4 & 0xff)
    };
    let v6 = last_of(3, n);
    vec![
        (
            "hit_name",
            format!("Host{name}.svc{}.example.com", name % 97),
            443,
        ),
        ("hit_zone", format!("api.v1.zone{zone}.net"), 8080),
        ("hit_v4", v4_target, 80),
        (
            "hit_v6",
            format!("2001:db8:{:x}:{:x}::1", v6 >> 16, v6 & 0xffff),
            443,
        ),
        ("miss_name", "nothing.example.org".to_owned(), 443),
        (
            "miss_port",
            format!("host{name}.svc{}.example.com", name % 97),
            80,
        ),
        ("miss_v4", "192.0.2.1".to_owned(), 80),
    ]
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("allow_match");
    for n in SIZES {
        let list = Allowlist::from_entries((0..n).map(entry)).expect("valid synthetic entries");
        for (case, host, port) in targets(n) {
            let expect_allow = case.starts_with("hit");
            assert_eq!(
                list.matches(&host, port).is_allowed(),
                expect_allow,
                "{case} {host}:{port}"
            );
            group.bench_with_input(
                BenchmarkId::new(case, n),
                &(host, port),
                |b, (host, port)| {
                    b.iter(|| list.matches(black_box(host), black_box(*port)).is_allowed())
                },
            );
        }
        // IP targets given as an address rather than as text.
        let ip: IpAddr = "2001:db8::1".parse().expect("valid address");
        group.bench_with_input(BenchmarkId::new("ip_v6_addr", n), &ip, |b, ip| {
            b.iter(|| list.matches_ip(black_box(*ip), 443).is_allowed())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_match);
criterion_main!(benches);
