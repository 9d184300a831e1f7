//! Distribution of every selection policy, on the pure selector (no sockets, no clock).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;

use ferry_pool::{Candidate, Policy, Selector, endpoint_key};
use proptest::prelude::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8000))
}

fn cands(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Candidate {
            weight: NonZeroU32::new(w).unwrap(),
            ..Candidate::new(endpoint_key(addr(i)))
        })
        .collect()
}

fn picks(sel: &mut Selector, c: &[Candidate], n: usize) -> Vec<usize> {
    (0..n).map(|_| sel.pick(c, CLIENT).unwrap()).collect()
}

fn counts(p: &[usize]) -> HashMap<usize, usize> {
    let mut m = HashMap::new();
    for &i in p {
        *m.entry(i).or_default() += 1;
    }
    m
}

#[test]
fn round_robin_is_exact_and_ignores_weights() {
    let c = cands(&[5, 1, 1]);
    let mut sel = Selector::new(Policy::RoundRobin);
    let p = picks(&mut sel, &c, 300);
    assert_eq!(&p[..6], &[0, 1, 2, 0, 1, 2]);
    assert!(counts(&p).values().all(|&n| n == 100));
}

#[test]
fn round_robin_skips_unavailable() {
    let mut c = cands(&[1, 1, 1]);
    c[1].available = false;
    let mut sel = Selector::new(Policy::RoundRobin);
    assert_eq!(picks(&mut sel, &c, 4), vec![0, 2, 0, 2]);
    c.iter_mut().for_each(|c| c.available = false);
    assert_eq!(sel.pick(&c, CLIENT), None);
}

#[test]
fn weighted_is_smooth_and_exact_per_cycle() {
    let c = cands(&[5, 1, 1]);
    let mut sel = Selector::new(Policy::Weighted);
    // nginx's smooth weighted round robin: {a:5, b:1, c:1} -> a a b a c a a.
    assert_eq!(picks(&mut sel, &c, 7), vec![0, 0, 1, 0, 2, 0, 0]);
    let p = picks(&mut sel, &c, 700);
    let m = counts(&p);
    assert_eq!((m[&0], m[&1], m[&2]), (500, 100, 100));
}

#[test]
fn weighted_skips_unavailable_and_keeps_ratio_of_the_rest() {
    let mut c = cands(&[3, 2, 1]);
    c[0].available = false;
    let mut sel = Selector::new(Policy::Weighted);
    let m = counts(&picks(&mut sel, &c, 300));
    assert_eq!((m.get(&0), m[&1], m[&2]), (None, 200, 100));
}

#[test]
fn least_connections_picks_fewest_per_weight_ties_round_robin() {
    let mut c = cands(&[1, 1, 1]);
    c[0].active = 3;
    c[1].active = 1;
    c[2].active = 2;
    let mut sel = Selector::new(Policy::LeastConnections);
    assert_eq!(sel.pick(&c, CLIENT), Some(1));
    // All equal: ties rotate.
    c.iter_mut().for_each(|c| c.active = 4);
    assert_eq!(picks(&mut sel, &c, 6), vec![2, 0, 1, 2, 0, 1]);
    // Weight 2 with 2 active equals weight 1 with 1 active; 4 active on weight 2 is more.
    let mut w = cands(&[2, 1]);
    w[0].active = 4;
    w[1].active = 1;
    assert_eq!(sel.pick(&w, CLIENT), Some(1));
    w[0].active = 1;
    assert_eq!(sel.pick(&w, CLIENT), Some(0));
}

#[test]
fn least_connections_simulated_load_follows_weights() {
    // Each pick holds its connection: the active counts end up proportional to the weights.
    let mut c = cands(&[3, 1]);
    let mut sel = Selector::new(Policy::LeastConnections);
    for _ in 0..400 {
        let i = sel.pick(&c, CLIENT).unwrap();
        c[i].active += 1;
    }
    assert_eq!((c[0].active, c[1].active), (300, 100));
}

fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 7919))
}

fn assignment(sel: &mut Selector, c: &[Candidate], keys: &[u64], clients: u32) -> Vec<u64> {
    (0..clients)
        .map(|i| keys[sel.pick(c, client(i)).unwrap()])
        .collect()
}

#[test]
fn consistent_hash_is_stable_and_spread() {
    let c = cands(&[1, 1, 1, 1]);
    let mut sel = Selector::new(Policy::ConsistentHash);
    let first: Vec<usize> = (0..4000)
        .map(|i| sel.pick(&c, client(i)).unwrap())
        .collect();
    let again: Vec<usize> = (0..4000)
        .map(|i| sel.pick(&c, client(i)).unwrap())
        .collect();
    assert_eq!(first, again);
    for (i, n) in counts(&first) {
        assert!((700..=1300).contains(&n), "endpoint {i} got {n} of 4000");
    }
    // A fresh selector (another process) agrees.
    let mut other = Selector::new(Policy::ConsistentHash);
    assert_eq!(other.pick(&c, client(17)), Some(first[17]));
}

#[test]
fn consistent_hash_weights_scale_share() {
    let c = cands(&[3, 1]);
    let mut sel = Selector::new(Policy::ConsistentHash);
    let m = counts(
        &(0..8000)
            .map(|i| sel.pick(&c, client(i)).unwrap())
            .collect::<Vec<_>>(),
    );
    assert!(
        (5400..=6600).contains(&m[&0]),
        "weight 3 got {} of 8000",
        m[&0]
    );
}

#[test]
fn consistent_hash_keys_ipv6_by_slash_64_and_mapped_as_v4() {
    let c = cands(&[1, 1, 1, 1, 1, 1, 1, 1]);
    let mut sel = Selector::new(Policy::ConsistentHash);
    for i in 0..50u16 {
        let a = Ipv6Addr::new(0x2001, 0xdb8, i, 7, 1, 2, 3, 4);
        let b = Ipv6Addr::new(0x2001, 0xdb8, i, 7, 0xffff, 9, 9, i);
        assert_eq!(sel.pick(&c, a.into()), sel.pick(&c, b.into()));
    }
    for i in 0..50u8 {
        let v4 = Ipv4Addr::new(192, 0, 2, i);
        assert_eq!(
            sel.pick(&c, v4.into()),
            sel.pick(&c, v4.to_ipv6_mapped().into())
        );
    }
}

#[test]
fn consistent_hash_unavailable_endpoint_moves_only_its_clients() {
    let mut c = cands(&[1, 1, 1, 1, 1]);
    let mut sel = Selector::new(Policy::ConsistentHash);
    let before: Vec<usize> = (0..2000)
        .map(|i| sel.pick(&c, client(i)).unwrap())
        .collect();
    c[2].available = false;
    for (i, &b) in before.iter().enumerate() {
        let now = sel.pick(&c, client(i as u32)).unwrap();
        assert_ne!(now, 2);
        if b != 2 {
            assert_eq!(now, b, "client {i} moved although its endpoint is up");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Removing one upstream from the list moves exactly the clients it served.
    #[test]
    fn consistent_hash_removal_moves_only_its_share(
        weights in prop::collection::vec(1u32..4, 2..12),
        victim in any::<prop::sample::Index>(),
    ) {
        let c = cands(&weights);
        let keys: Vec<u64> = c.iter().map(|c| c.key).collect();
        let v = victim.index(c.len());
        let mut sel = Selector::new(Policy::ConsistentHash);
        let before = assignment(&mut sel, &c, &keys, 1000);
        let mut c2 = c.clone();
        c2.remove(v);
        let keys2: Vec<u64> = c2.iter().map(|c| c.key).collect();
        let after = assignment(&mut sel, &c2, &keys2, 1000);
        for (b, a) in before.iter().zip(&after) {
            prop_assert_ne!(*a, keys[v]);
            if *b != keys[v] {
                prop_assert_eq!(a, b);
            }
        }
    }

    /// No policy ever picks an unavailable endpoint, and one is picked whenever one is
    /// available.
    #[test]
    fn never_picks_unavailable(
        spec in prop::collection::vec((1u32..10, 0u64..5, any::<bool>()), 1..20),
        policy in prop::sample::select(vec![
            Policy::RoundRobin, Policy::Weighted, Policy::LeastConnections, Policy::ConsistentHash,
        ]),
        clients in prop::collection::vec(any::<u32>(), 1..20),
    ) {
        let c: Vec<Candidate> = spec.iter().enumerate().map(|(i, &(w, a, up))| Candidate {
            weight: NonZeroU32::new(w).unwrap(),
            active: a,
            available: up,
            ..Candidate::new(endpoint_key(addr(i)))
        }).collect();
        let any_up = c.iter().any(|c| c.available);
        let mut sel = Selector::new(policy);
        for cl in clients {
            match sel.pick(&c, IpAddr::V4(Ipv4Addr::from(cl))) {
                Some(i) => prop_assert!(c[i].available),
                None => prop_assert!(!any_up),
            }
        }
    }

    /// Weighted round robin picks each available endpoint exactly `weight` times per cycle.
    #[test]
    fn weighted_respects_weights_over_a_cycle(
        spec in prop::collection::vec((1u32..20, any::<bool>()), 1..16),
    ) {
        let c: Vec<Candidate> = spec.iter().enumerate().map(|(i, &(w, up))| Candidate {
            weight: NonZeroU32::new(w).unwrap(),
            available: up,
            ..Candidate::new(endpoint_key(addr(i)))
        }).collect();
        let cycle: u32 = c.iter().filter(|c| c.available).map(|c| c.weight.get()).sum();
        let mut sel = Selector::new(Policy::Weighted);
        for _round in 0..2 {
            let mut got = vec![0u32; c.len()];
            for _ in 0..cycle {
                got[sel.pick(&c, CLIENT).unwrap()] += 1;
            }
            for (i, c) in c.iter().enumerate() {
                prop_assert_eq!(got[i], if c.available { c.weight.get() } else { 0 });
            }
        }
    }
}

#[test]
fn policy_names_round_trip() {
    for p in [
        Policy::RoundRobin,
        Policy::Weighted,
        Policy::LeastConnections,
        Policy::ConsistentHash,
    ] {
        assert_eq!(p.to_string().parse::<Policy>().unwrap(), p);
    }
    assert!("random".parse::<Policy>().is_err());
}
