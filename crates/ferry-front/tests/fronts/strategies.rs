//! Proptest strategies shared by the modules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ferry_front::Address;
use proptest::prelude::*;
use proptest::sample::select;

const LABELS: &[&str] = &["a", "example", "x-y", "_srv", "c1", "ZONE", "1"];
const TLDS: &[&str] = &["com", "net", "internal", "a1"];

/// A valid domain name (never numeric, never an IP literal).
pub(crate) fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(select(LABELS), 0..4),
        select(TLDS),
        any::<bool>(),
    )
        .prop_map(|(labels, tld, dot)| {
            let mut name = labels.join(".");
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(tld);
            if dot {
                name.push('.');
            }
            name
        })
}

pub(crate) fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

/// A destination with a port in 1..=65535.
pub(crate) fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (ip(), 1u16..).prop_map(|(ip, port)| Address::from(SocketAddr::new(ip, port))),
        (domain(), 1u16..).prop_map(|(d, port)| Address::from_domain(&d, port).unwrap()),
    ]
}

/// Arbitrary bytes that are sometimes close to the given valid messages: a message, a
/// message with one byte changed, a message cut short followed by random bytes, or random
/// bytes.
pub(crate) fn near(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let pick = select(valid);
    prop_oneof![
        pick.clone(),
        (pick.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut v, i, b)| {
            if !v.is_empty() {
                let at = i.index(v.len());
                v[at] = b;
            }
            v
        }),
        (
            pick,
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(v, i, tail)| {
                let mut v = v[..i.index(v.len() + 1)].to_vec();
                v.extend(tail);
                v
            }),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
}
