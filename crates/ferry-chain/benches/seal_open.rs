//! Seal and open costs: one request record, one response record, a 3-hop chain.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_chain::fuzzing::{NOW, key7, keyring};
use ferry_chain::{
    Chain, ChainHop, Flags, HopKey, KeyId, RecordInfo, ReplayConfig, ReplayGuard, Request,
    SealOptions, Status, decode_request, decode_response, seal_request, seal_response,
};

fn request() -> Request {
    Request {
        timestamp_ms: NOW,
        hop_limit: 1,
        flags: Flags::FINAL,
        next: "service.internal.example.com:443".parse().unwrap(),
        client: Some("[2001:db8::1]:5000".parse().unwrap()),
    }
}

fn bench(c: &mut Criterion) {
    let key = key7();
    let ring = keyring();
    let req = request();
    let mut g = c.benchmark_group("chain");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));

    g.bench_function("seal_request", |b| {
        let mut out = Vec::with_capacity(400);
        b.iter(|| {
            out.clear();
            seal_request(&key, 1, black_box(&req), [1; 12], &mut out).unwrap();
        });
    });

    let mut wire = Vec::new();
    seal_request(&key, 1, &req, [1; 12], &mut wire).unwrap();
    g.bench_function("open_request_with_fresh_guard", |b| {
        b.iter(|| {
            let mut guard = ReplayGuard::new(ReplayConfig::default());
            decode_request(black_box(&wire), &ring, NOW, &mut guard).unwrap()
        });
    });

    // Guard insertion cost with a full-ish guard: distinct nonces, one guard.
    let records: Vec<Vec<u8>> = (0u32..10_000)
        .map(|i| {
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            let mut w = Vec::new();
            seal_request(&key, 1, &req, nonce, &mut w).unwrap();
            w
        })
        .collect();
    g.bench_function("open_request_into_shared_guard", |b| {
        let mut guard = ReplayGuard::default();
        let mut i = 0usize;
        b.iter(|| {
            if i == records.len() {
                guard = ReplayGuard::default();
                i = 0;
            }
            let r = decode_request(&records[i], &ring, NOW, &mut guard);
            i += 1;
            r.unwrap()
        });
    });

    let info = RecordInfo {
        hop_index: 1,
        key_id: key.id(),
        nonce: [1; 12],
    };
    g.bench_function("seal_response", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            seal_response(&key, black_box(&info), Status::Ok, [2; 12], &mut out).unwrap();
        });
    });
    let mut resp = Vec::new();
    seal_response(&key, &info, Status::Ok, [2; 12], &mut resp).unwrap();
    g.bench_function("open_response", |b| {
        b.iter(|| decode_response(black_box(&resp), &key, 1, &[1; 12]).unwrap());
    });

    let chain = Chain::new(
        (1..=3u8)
            .map(|n| ChainHop {
                address: format!("10.0.0.{n}:7000").parse().unwrap(),
                key: HopKey::new(KeyId(u16::from(n)), [n; 32]),
            })
            .collect(),
    )
    .unwrap();
    let dest = "example.com:443".parse().unwrap();
    let options = SealOptions {
        now_unix_ms: NOW,
        ..SealOptions::default()
    };
    g.bench_function("seal_chain_3_hops", |b| {
        b.iter(|| {
            chain
                .seal_with_nonces(black_box(&dest), &options, vec![[1; 12], [2; 12], [3; 12]])
                .unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
