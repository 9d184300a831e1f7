//! The special-address set in `check_ip` and `check_resolved`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::IpAddr;

use ferry_allow::{Allowlist, DenyReason, SpecialAddresses, SpecialClass};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

fn special_class(d: &ferry_allow::Decision<'_>) -> Option<SpecialClass> {
    match d.deny_reason() {
        Some(DenyReason::SpecialAddress(s)) => Some(s.class()),
        _ => None,
    }
}

#[test]
fn default_policy_is_deny() {
    let list = Allowlist::parse("0.0.0.0/0, ::/0").unwrap();
    assert_eq!(list.special_addresses(), SpecialAddresses::Deny);
    assert_eq!(SpecialAddresses::default(), SpecialAddresses::Deny);
}

#[test]
fn broad_rules_do_not_allow_special_addresses() {
    let list = Allowlist::parse("0.0.0.0/0, ::/0").unwrap();
    let cases = [
        ("127.0.0.1", SpecialClass::Loopback),
        ("10.0.0.1", SpecialClass::Private),
        ("172.16.5.4", SpecialClass::Private),
        ("192.168.0.1", SpecialClass::Private),
        ("100.64.0.1", SpecialClass::SharedAddressSpace),
        ("169.254.169.254", SpecialClass::CloudMetadata),
        ("169.254.0.1", SpecialClass::LinkLocal),
        ("0.0.0.0", SpecialClass::Unspecified),
        ("224.0.0.1", SpecialClass::Multicast),
        ("255.255.255.255", SpecialClass::Broadcast),
        ("::1", SpecialClass::Loopback),
        ("::", SpecialClass::Unspecified),
        ("fc00::1", SpecialClass::Private),
        ("fe80::1", SpecialClass::LinkLocal),
        ("fd00:ec2::254", SpecialClass::CloudMetadata),
        ("::ffff:127.0.0.1", SpecialClass::Loopback),
        ("64:ff9b::a9fe:a9fe", SpecialClass::CloudMetadata),
        ("2002:7f00:1::", SpecialClass::Loopback),
    ];
    for (addr, class) in cases {
        let d = list.check_ip(ip(addr), 80);
        assert_eq!(special_class(&d), Some(class), "{addr}: {d}");
        // The rules alone allow it.
        assert!(list.matches_ip(ip(addr), 80).is_allowed(), "{addr}");
    }
    for addr in [
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(list.check_ip(ip(addr), 80).is_allowed(), "{addr}");
    }
    assert_eq!(
        list.check_ip(ip("127.0.0.1"), 80).to_string(),
        "deny: 127.0.0.1 is loopback (127.0.0.0/8), special addresses need an address rule inside \
         that range; only broader rule #0 `0.0.0.0/0` matched"
    );
}

#[test]
fn rules_inside_the_special_range_allow_it_explicitly() {
    let list = Allowlist::parse(
        "0.0.0.0/0, 127.0.0.0/8:80, 10.1.0.0/16, 169.254.0.0/16, 169.254.169.254:80",
    )
    .unwrap();
    let d = list.check_ip(ip("127.0.0.1"), 80);
    assert_eq!(d.to_string(), "allow: rule #1 `127.0.0.0/8:80`");
    // Wrong port for the explicit rule: the broad rule alone does not count.
    assert_eq!(
        special_class(&list.check_ip(ip("127.0.0.1"), 81)),
        Some(SpecialClass::Loopback)
    );
    assert!(list.check_ip(ip("10.1.2.3"), 5).is_allowed());
    assert!(!list.check_ip(ip("10.2.0.1"), 5).is_allowed());
    // Link-local /16 does not cover the metadata /32 range; only the exact address does.
    assert!(list.check_ip(ip("169.254.1.1"), 5).is_allowed());
    assert_eq!(
        special_class(&list.check_ip(ip("169.254.169.254"), 5)),
        Some(SpecialClass::CloudMetadata)
    );
    assert!(list.check_ip(ip("169.254.169.254"), 80).is_allowed());
    // IPv4-mapped targets are the IPv4 address.
    assert!(list.check_ip(ip("::ffff:127.0.0.1"), 80).is_allowed());
    // Embedded forms need a rule inside their own range.
    let nat = Allowlist::parse("::/0, [64:ff9b::7f00:0]/104:80").unwrap();
    assert!(nat.check_ip(ip("64:ff9b::7f00:1"), 80).is_allowed());
    assert!(!nat.check_ip(ip("64:ff9b::7f00:1"), 81).is_allowed());
}

#[test]
fn without_any_matching_rule_the_reason_is_no_rule() {
    let list = Allowlist::parse("example.com").unwrap();
    let d = list.check_ip(ip("127.0.0.1"), 80);
    assert_eq!(
        d.deny_reason(),
        Some(&DenyReason::NoMatchingRule {
            target: ferry_allow::TargetKind::Address
        })
    );
    let list = Allowlist::parse("127.0.0.1:80").unwrap();
    assert_eq!(
        list.check_ip(ip("127.0.0.1"), 22).deny_reason(),
        Some(&DenyReason::PortNotAllowed)
    );
}

#[test]
fn policy_allow_disables_the_special_set() {
    let list = Allowlist::parse("0.0.0.0/0, *.zone")
        .unwrap()
        .with_special_addresses(SpecialAddresses::Allow);
    assert!(list.check_ip(ip("127.0.0.1"), 80).is_allowed());
    let r = list.check_resolved("a.zone", 80, &ips(&["127.0.0.1"]));
    assert_eq!(r.allowed_addrs().collect::<Vec<_>>(), ips(&["127.0.0.1"]));
}

#[test]
fn resolved_addresses_are_each_checked() {
    let list = Allowlist::parse("*.zone:443, 10.1.0.0/16:443").unwrap();
    let resolved = ips(&[
        "127.0.0.1",
        "93.184.216.34",
        "10.1.2.3",
        "10.2.0.1",
        "::ffff:10.1.9.9",
        "2606:4700::1",
    ]);
    let r = list.check_resolved("svc.zone", 443, &resolved);
    assert!(r.is_allowed());
    assert!(!r.all_allowed());
    assert_eq!(
        r.allowed_addrs().collect::<Vec<_>>(),
        ips(&[
            "93.184.216.34",
            "10.1.2.3",
            "::ffff:10.1.9.9",
            "2606:4700::1"
        ])
    );
    let per_addr: Vec<bool> = r
        .addresses()
        .iter()
        .map(|a| a.decision().is_allowed())
        .collect();
    assert_eq!(per_addr, [false, true, true, false, true, true]);
    assert_eq!(r.addresses()[0].addr(), ip("127.0.0.1"));
    assert_eq!(
        r.to_string(),
        "allow: rule #0 `*.zone:443`; 127.0.0.1 denied (127.0.0.1 is loopback (127.0.0.0/8), special \
         addresses need an address rule inside that range), 93.184.216.34 allowed, 10.1.2.3 allowed \
         by rule #1 `10.1.0.0/16:443`, 10.2.0.1 denied (10.2.0.1 is private (10.0.0.0/8), special \
         addresses need an address rule inside that range), ::ffff:10.1.9.9 allowed by rule #1 \
         `10.1.0.0/16:443`, 2606:4700::1 allowed"
    );
    // The address rule is for port 443 only.
    let r = list.check_resolved("svc.zone", 443, &ips(&["10.1.2.3"]));
    assert!(r.all_allowed());
    // A name that only resolves to special addresses is denied.
    let r = list.check_resolved("svc.zone", 443, &ips(&["127.0.0.1", "169.254.169.254"]));
    assert!(!r.is_allowed());
    assert_eq!(r.allowed_addrs().count(), 0);
    assert!(
        matches!(r.deny_reason(), Some(DenyReason::SpecialAddress(s)) if s.class() == SpecialClass::Loopback)
    );
}

#[test]
fn resolution_is_only_checked_after_the_name_matched() {
    let list = Allowlist::parse("*.zone:443, 0.0.0.0/0").unwrap();
    // The name is not allowed: addresses are not considered at all.
    let r = list.check_resolved("other.test", 443, &ips(&["93.184.216.34"]));
    assert!(!r.is_allowed());
    assert!(r.addresses().is_empty());
    assert_eq!(
        r.deny_reason(),
        Some(DenyReason::NoMatchingRule {
            target: ferry_allow::TargetKind::Name
        })
    );
    let r = list.check_resolved("a.zone", 80, &ips(&["93.184.216.34"]));
    assert_eq!(r.deny_reason(), Some(DenyReason::PortNotAllowed));
    // Nothing resolved.
    let r = list.check_resolved("a.zone", 443, &[]);
    assert!(!r.is_allowed());
    assert_eq!(r.deny_reason(), Some(DenyReason::NoAddresses));
    assert_eq!(
        r.to_string(),
        "deny: rule #0 `*.zone:443`; the name resolved to no addresses"
    );
    let r = list.check_resolved("a..zone", 443, &ips(&["93.184.216.34"]));
    assert!(matches!(r.deny_reason(), Some(DenyReason::InvalidHost(_))));
}

#[test]
fn ip_literal_targets_ignore_the_resolved_list() {
    let list = Allowlist::parse("0.0.0.0/0").unwrap();
    let r = list.check_resolved("8.8.8.8", 53, &ips(&["127.0.0.1"]));
    assert_eq!(r.allowed_addrs().collect::<Vec<_>>(), ips(&["8.8.8.8"]));
    assert_eq!(r.to_string(), "allow: rule #0 `0.0.0.0/0`");
    let r = list.check_resolved("127.0.0.1", 53, &ips(&["8.8.8.8"]));
    assert!(!r.is_allowed());
    assert!(matches!(
        r.deny_reason(),
        Some(DenyReason::SpecialAddress(_))
    ));
}
