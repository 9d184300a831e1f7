//! Matching semantics and explanations (patterns only, no special-address set).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use ferry_allow::{Allowlist, DenyReason, NameError, TargetKind};

fn indices(list: &Allowlist, host: &str, port: u16) -> Vec<usize> {
    list.matches(host, port)
        .rules()
        .map(|r| r.index())
        .collect()
}

#[test]
fn every_matching_entry_counts_not_only_the_first() {
    // reverse-http: the first CIDR match decided by its port, so 443 was blocked.
    let list = Allowlist::parse("10.0.0.0/8:80,10.0.0.0/8:443").unwrap();
    assert_eq!(
        list.matches("10.1.2.3", 80).to_string(),
        "allow: rule #0 `10.0.0.0/8:80`"
    );
    assert_eq!(
        list.matches("10.1.2.3", 443).to_string(),
        "allow: rule #1 `10.0.0.0/8:443`"
    );
    assert_eq!(
        list.matches("10.1.2.3", 22).to_string(),
        "deny: port 22 is not allowed by rules #0 `10.0.0.0/8:80`, #1 `10.0.0.0/8:443`"
    );
    let list =
        Allowlist::parse("*.zone:80, *.a.zone:443, x.a.zone, 10.0.0.0/8, 10.1.0.0/16:443").unwrap();
    assert_eq!(indices(&list, "x.a.zone", 443), [1, 2]);
    assert_eq!(indices(&list, "x.a.zone", 80), [0, 2]);
    assert_eq!(indices(&list, "y.a.zone", 80), [0]);
    assert_eq!(indices(&list, "10.1.2.3", 443), [3, 4]);
    assert_eq!(
        list.matches("x.a.zone", 443).to_string(),
        "allow: rules #1 `*.a.zone:443`, #2 `x.a.zone`"
    );
}

#[test]
fn wildcard_matches_the_zone_itself_and_everything_under_it() {
    let list = Allowlist::parse("*.zone").unwrap();
    for host in ["zone", "a.zone", "a.b.c.zone", "ZONE."] {
        assert!(list.matches(host, 1).is_allowed(), "{host}");
    }
    for host in ["notzone", "zone.evil", "zonea", "a.zonea", "evil-zone"] {
        assert!(!list.matches(host, 1).is_allowed(), "{host}");
    }
    // An exact name does not match names under it.
    let list = Allowlist::parse("zone").unwrap();
    assert!(list.matches("zone", 1).is_allowed());
    assert!(!list.matches("a.zone", 1).is_allowed());
}

#[test]
fn no_unanchored_suffix_matches() {
    // reverse-http: `localhost` matched `notlocalhost.evil`.
    let list = Allowlist::parse("localhost, example.com").unwrap();
    for host in [
        "notlocalhost",
        "notlocalhost.evil",
        "localhost.evil",
        "a.example.com",
        "xexample.com",
    ] {
        assert!(!list.matches(host, 80).is_allowed(), "{host}");
    }
}

#[test]
fn names_match_name_rules_and_addresses_match_address_rules() {
    let list = Allowlist::parse("localhost, 127.0.0.1:22, ::1").unwrap();
    // 127.0.0.1 is an address: the `localhost` rule does not apply to it.
    assert_eq!(indices(&list, "127.0.0.1", 22), [1]);
    let d = list.matches("127.0.0.1", 80);
    assert_eq!(d.deny_reason(), Some(&DenyReason::PortNotAllowed));
    assert_eq!(indices(&list, "localhost", 22), [0]);
    assert_eq!(indices(&list, "::1", 9), [2]);
    assert_eq!(indices(&list, "[::1]", 9), [2]);
    assert_eq!(indices(&list, "0:0:0:0:0:0:0:1", 9), [2]);
    assert_eq!(indices(&list, "::ffff:127.0.0.1", 22), [1]);
    let list = Allowlist::parse("example.com").unwrap();
    let d = list.matches("93.184.216.34", 80);
    assert_eq!(
        d.deny_reason(),
        Some(&DenyReason::NoMatchingRule {
            target: TargetKind::Address
        })
    );
    assert_eq!(d.to_string(), "deny: no address rule matches the address");
    let d = list.matches("example.org", 80);
    assert_eq!(
        d.deny_reason(),
        Some(&DenyReason::NoMatchingRule {
            target: TargetKind::Name
        })
    );
    assert_eq!(d.to_string(), "deny: no name rule matches the host");
}

#[test]
fn invalid_target_names_are_denied_with_the_reason() {
    let list = Allowlist::parse("*.zone").unwrap();
    let cases = [
        ("", NameError::Empty),
        ("a..zone", NameError::EmptyLabel),
        ("a zone", NameError::InvalidChar),
        ("-a.zone", NameError::HyphenAtLabelEdge),
        ("1.2.3", NameError::NumericLastLabel),
        ("[::1", NameError::InvalidChar),
        ("fe80::1%eth0", NameError::InvalidChar),
    ];
    for (host, want) in cases {
        let d = list.matches(host, 80);
        assert_eq!(
            d.deny_reason(),
            Some(&DenyReason::InvalidHost(want)),
            "{host:?}"
        );
    }
    let long = format!("{}.zone", "a.".repeat(130));
    assert_eq!(
        list.matches(&long, 80).deny_reason(),
        Some(&DenyReason::InvalidHost(NameError::TooLong))
    );
    assert_eq!(
        list.matches("a..zone", 80).to_string(),
        "deny: invalid host name: empty label"
    );
}

#[test]
fn deep_names_and_label_limits() {
    let list = Allowlist::parse("*.zone").unwrap();
    let deep = format!("{}zone", "a.".repeat(120));
    assert!(deep.len() <= 253);
    assert!(list.matches(&deep, 1).is_allowed());
    let label63 = format!("{}.zone", "b".repeat(63));
    assert!(list.matches(&label63, 1).is_allowed());
    let label64 = format!("{}.zone", "b".repeat(64));
    assert!(!list.matches(&label64, 1).is_allowed());
}

#[test]
fn no_port_means_every_port() {
    let list = Allowlist::parse("a.com, 10.0.0.0/8").unwrap();
    for port in [0, 1, 80, 65535] {
        assert!(list.matches("a.com", port).is_allowed());
        assert!(list.matches("10.0.0.1", port).is_allowed());
    }
    let list = Allowlist::parse("a.com:1-65535").unwrap();
    assert!(!list.matches("a.com", 0).is_allowed());
    assert!(list.matches("a.com", 65535).is_allowed());
}

#[test]
fn long_rule_lists_are_cut_in_explanations() {
    let entries: Vec<String> = (1..=20).map(|p| format!("a.com:{p}")).collect();
    let list = Allowlist::from_entries(&entries).unwrap();
    let d = list.matches("a.com", 100);
    assert_eq!(d.rules().count(), 20);
    let text = d.to_string();
    assert!(text.ends_with("#7 `a.com:8` and 12 more"), "{text}");
    assert_eq!(
        d.explanation().to_string(),
        text.trim_start_matches("deny: ")
    );
}

#[test]
fn decisions_expose_rules_and_entries() {
    let list = Allowlist::parse(" Example.com:443 ,  [2001:DB8::1]/64 ").unwrap();
    let r: Vec<_> = list
        .rules()
        .map(|r| (r.index(), r.entry().to_owned(), r.rule().to_string()))
        .collect();
    assert_eq!(
        r,
        [
            (
                0,
                "Example.com:443".to_owned(),
                "example.com:443".to_owned()
            ),
            (1, "[2001:DB8::1]/64".to_owned(), "2001:db8::/64".to_owned()),
        ]
    );
    let d = list.matches("example.com", 443);
    assert_eq!(d.port(), 443);
    assert_eq!(
        d.rules().next().unwrap().rule(),
        list.rules().next().unwrap().rule()
    );
}

#[test]
fn lists_built_from_rules_use_the_canonical_text() {
    use ferry_allow::{HostName, HostPattern, PortRange, Rule};
    use std::num::NonZeroU16;
    let port = PortRange::single(NonZeroU16::new(443).unwrap());
    let rules = [
        Rule::new(HostPattern::Zone(HostName::parse("Zone.").unwrap()), port),
        "10.0.0.1/8".parse::<Rule>().unwrap(),
    ];
    let list = Allowlist::from_rules(rules).unwrap();
    let d = list.matches("a.zone", 443);
    assert_eq!(d.to_string(), "allow: rule #0 `*.zone:443`");
    assert_eq!(
        list.matches("10.9.9.9", 1).to_string(),
        "allow: rule #1 `10.0.0.0/8`"
    );
}
