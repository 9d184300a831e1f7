//! Client keying: IPv6 prefixes, IPv4/IPv6 separation, and keys shared through a limiter.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferry_limit::{ClientKeyer, LimiterConfig, Quota, RateLimiter, V6Prefix};
use proptest::prelude::*;

use crate::{base, nz};

fn keyer(bits: u8) -> ClientKeyer {
    ClientKeyer::new(V6Prefix::new(bits).unwrap())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn same_slash_64_shares_a_key_different_slash_64_does_not() {
    let k = ClientKeyer::default();
    assert_eq!(k.v6_prefix(), V6Prefix::DEFAULT);
    assert_eq!(
        k.key_for_ip(ip("2001:db8:aa:bb::1")),
        k.key_for_ip(ip("2001:db8:aa:bb:ffff:ffff:ffff:ffff"))
    );
    assert_ne!(
        k.key_for_ip(ip("2001:db8:aa:bb::1")),
        k.key_for_ip(ip("2001:db8:aa:bc::1"))
    );
}

#[test]
fn one_slash_64_shares_one_budget_in_the_limiter() {
    let k = ClientKeyer::default();
    let t0 = base();
    let l = RateLimiter::new(
        Quota::per_minute(nz(2)).unwrap(),
        &LimiterConfig::default(),
        t0,
    );
    assert!(l.check(k.key_for_ip(ip("2001:db8::1")), t0).is_allowed());
    assert!(l.check(k.key_for_ip(ip("2001:db8::2")), t0).is_allowed());
    // A third address in the same /64 is limited; another /64 is not.
    assert!(!l.check(k.key_for_ip(ip("2001:db8::3")), t0).is_allowed());
    assert!(
        l.check(k.key_for_ip(ip("2001:db8:0:1::1")), t0)
            .is_allowed()
    );
    assert_eq!(l.len(), 2);
}

proptest! {
    #[test]
    fn v4_and_v6_keys_never_collide(v4 in any::<u32>(), v6 in any::<u128>(), bits in 1_u8..=128) {
        let v6 = Ipv6Addr::from(v6);
        // v4-mapped IPv6 addresses are IPv4 clients and deliberately get the v4 key.
        prop_assume!(v6.to_ipv4_mapped().is_none());
        let k = keyer(bits);
        prop_assert_ne!(
            k.key_for_ip(IpAddr::V4(Ipv4Addr::from(v4))),
            k.key_for_ip(IpAddr::V6(v6))
        );
    }

    #[test]
    fn v6_in_the_v4_tag_range_never_collides_with_v4(v4 in any::<u32>(), low in any::<u64>(), bits in 33_u8..=128) {
        // The only IPv6 keys that could land in the IPv4 range start with ffff:ffff.
        let v6 = Ipv6Addr::from((0xffff_ffff_u128 << 96) | (u128::from(v4) << 64) | u128::from(low));
        let k = keyer(bits);
        prop_assert_ne!(
            k.key_for_ip(IpAddr::V4(Ipv4Addr::from(v4))),
            k.key_for_ip(IpAddr::V6(v6))
        );
    }

    #[test]
    fn addresses_share_a_key_iff_they_share_the_prefix(a in any::<u128>(), b in any::<u128>(), bits in 1_u8..=64) {
        let k = keyer(bits);
        let mask = u128::MAX << (128 - u32::from(bits));
        // Make half the cases share the prefix.
        let b = if b & 1 == 0 { (a & mask) | (b & !mask) } else { b };
        let (va, vb) = (Ipv6Addr::from(a), Ipv6Addr::from(b));
        prop_assume!(va.to_ipv4_mapped().is_none() && vb.to_ipv4_mapped().is_none());
        // Multicast ffff:ffff::/32 is folded onto ffff:fffe::/32 (never a source address).
        prop_assume!(a >> 97 != 0x7fff_ffff && b >> 97 != 0x7fff_ffff);
        let same = a & mask == b & mask;
        prop_assert_eq!(same, k.key_for_ip(IpAddr::V6(va)) == k.key_for_ip(IpAddr::V6(vb)));
    }
}
