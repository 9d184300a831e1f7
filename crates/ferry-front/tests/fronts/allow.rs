//! Addresses from the fronts are checked with ferry-allow.

use ferry_allow::Allowlist;
use ferry_front::{Address, Host};

fn check(list: &Allowlist, addr: &Address) -> bool {
    match addr.host() {
        Host::Ip(ip) => list.check_ip(ip, addr.port()).is_allowed(),
        Host::Domain(name) => list.matches(name, addr.port()).is_allowed(),
        _ => false,
    }
}

#[test]
fn front_addresses_feed_the_allowlist() {
    let list = Allowlist::parse("*.example.com:443, 10.0.0.0/8:80, [2001:db8::]/32:443").unwrap();
    for (target, allowed) in [
        ("api.example.com:443", true),
        ("API.Example.COM.:443", true),
        ("api.example.com:80", false),
        ("10.1.2.3:80", true),
        ("127.0.0.1:80", false),
        ("[2001:db8::1]:443", true),
        ("[::1]:443", false),
    ] {
        let addr: Address = target.parse().unwrap();
        assert_eq!(check(&list, &addr), allowed, "{target}");
        // The Display form of the host is what Allowlist::matches takes, too.
        let by_text = list
            .matches(&addr.host().to_string(), addr.port())
            .is_allowed();
        if addr.domain().is_some() {
            assert_eq!(by_text, allowed, "{target}");
        }
    }
    // A SOCKS5 domain that is an IP literal is an IP, so the special-address check applies.
    let addr = Address::from_domain("127.0.0.1", 80).unwrap();
    assert!(addr.socket_addr().is_some());
    assert!(!check(&Allowlist::parse("0.0.0.0/0").unwrap(), &addr));
}
