//! Table tests of the entry grammar: every form of DESIGN.md, and the edge cases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use ferry_allow::{Allowlist, HostPattern, NameError, ParseErrorKind, PortError, PortRange, Rule};

/// A target: host and port.
type Target = (&'static str, u16);

/// (entry, canonical display, a target it allows, a target it denies)
const FORMS: &[(&str, &str, Target, Target)] = &[
    (
        "localhost",
        "localhost",
        ("localhost", 1),
        ("localhost.evil", 1),
    ),
    (
        "localhost:80",
        "localhost:80",
        ("localhost", 80),
        ("localhost", 81),
    ),
    (
        "localhost:1000-2000",
        "localhost:1000-2000",
        ("localhost", 2000),
        ("localhost", 2001),
    ),
    ("*.zone", "*.zone", ("a.b.zone", 9), ("notzone", 9)),
    ("*.zone:80", "*.zone:80", ("zone", 80), ("a.zone", 443)),
    (
        "*.zone:1000-2000",
        "*.zone:1000-2000",
        ("a.zone", 1000),
        ("a.zone", 999),
    ),
    (
        "127.0.0.1",
        "127.0.0.1",
        ("127.0.0.1", 22),
        ("127.0.0.2", 22),
    ),
    (
        "127.0.0.1:80",
        "127.0.0.1:80",
        ("127.0.0.1", 80),
        ("127.0.0.1", 8080),
    ),
    (
        "127.0.0.1:1000-2000",
        "127.0.0.1:1000-2000",
        ("127.0.0.1", 1500),
        ("127.0.0.1", 80),
    ),
    (
        "10.0.0.1/8",
        "10.0.0.0/8",
        ("10.255.0.1", 1),
        ("11.0.0.1", 1),
    ),
    (
        "10.0.0.1/8:80",
        "10.0.0.0/8:80",
        ("10.0.0.0", 80),
        ("10.0.0.1", 81),
    ),
    (
        "10.0.0.1/8:1000-2000",
        "10.0.0.0/8:1000-2000",
        ("10.9.9.9", 1999),
        ("9.9.9.9", 1999),
    ),
    (
        "1000::/16",
        "1000::/16",
        ("1000:ffff::1", 1),
        ("1001::1", 1),
    ),
    (
        "1000::/16:80",
        "[1000::]/16:80",
        ("1000::1", 80),
        ("1000::1", 443),
    ),
    (
        "1000::/16:1000-2000",
        "[1000::]/16:1000-2000",
        ("[1000::1]", 1234),
        ("1000::1", 3000),
    ),
    (
        "[2001:db8::1]/64",
        "2001:db8::/64",
        ("2001:db8::ffff", 1),
        ("2001:db8:0:1::1", 1),
    ),
    (
        "[2001:db8::1]/64:80",
        "[2001:db8::]/64:80",
        ("2001:db8::2", 80),
        ("2001:db8::2", 8),
    ),
    (
        "[2001:db8::1]/64:1000-2000",
        "[2001:db8::]/64:1000-2000",
        ("2001:db8::2", 1000),
        ("2001:db9::", 1000),
    ),
    (
        "2001:db8::1",
        "2001:db8::1",
        ("2001:DB8::1", 5),
        ("2001:db8::2", 5),
    ),
    (
        "[2001:db8::1]",
        "2001:db8::1",
        ("[2001:db8::1]", 5),
        ("2001:db8::1:0", 5),
    ),
    (
        "[2001:db8::1]:80",
        "[2001:db8::1]:80",
        ("2001:db8::1", 80),
        ("2001:db8::1", 81),
    ),
    (
        "[2001:db8::1]:1000-2000",
        "[2001:db8::1]:1000-2000",
        ("2001:db8::1", 1001),
        ("2001:db8::1", 2),
    ),
];

#[test]
fn every_grammar_form_parses_displays_and_matches() {
    for &(entry, canonical, (ok_host, ok_port), (no_host, no_port)) in FORMS {
        let rule: Rule = entry.parse().unwrap_or_else(|e| panic!("{entry}: {e}"));
        assert_eq!(rule.to_string(), canonical, "{entry}");
        assert_eq!(
            canonical.parse::<Rule>().unwrap(),
            rule,
            "{entry} round trip"
        );
        let list = Allowlist::parse(entry).unwrap();
        let yes = list.matches(ok_host, ok_port);
        assert!(
            yes.is_allowed(),
            "{entry} should allow {ok_host}:{ok_port}: {yes}"
        );
        assert_eq!(yes.to_string(), format!("allow: rule #0 `{entry}`"));
        let no = list.matches(no_host, no_port);
        assert!(!no.is_allowed(), "{entry} should deny {no_host}:{no_port}");
    }
}

#[test]
fn all_forms_together_in_one_list() {
    let joined = FORMS.iter().map(|f| f.0).collect::<Vec<_>>().join(" , ");
    let list = Allowlist::parse(&joined).unwrap();
    assert_eq!(list.len(), FORMS.len());
    let one_per_item = Allowlist::from_entries(FORMS.iter().map(|f| f.0)).unwrap();
    for (a, b) in list.rules().zip(one_per_item.rules()) {
        assert_eq!(a.rule(), b.rule());
        assert_eq!(a.entry(), b.entry());
    }
    for &(entry, _, (host, port), _) in FORMS {
        let d = list.matches(host, port);
        assert!(
            d.rules().any(|r| r.entry() == entry),
            "{entry} not among {d}"
        );
    }
}

#[test]
fn bare_ipv6_with_trailing_number_is_an_address_not_a_port() {
    let rule: Rule = "2001:db8::1:80".parse().unwrap();
    assert_eq!(rule.ports(), PortRange::ANY);
    assert_eq!(rule.to_string(), "2001:db8::1:80");
    let list = Allowlist::parse("2001:db8::1:80").unwrap();
    assert!(list.matches("2001:db8::1:80", 1).is_allowed());
    assert!(!list.matches("2001:db8::1", 80).is_allowed());
}

#[test]
fn cidr_host_bits_are_ignored_and_mapped_rules_become_ipv4() {
    assert_eq!("10.0.0.1/8".parse::<Rule>(), "10.0.0.0/8".parse::<Rule>());
    let mapped: Rule = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped.to_string(), "10.0.0.0/8");
    assert!(matches!(mapped.host(), HostPattern::Net(n) if n.to_string() == "10.0.0.0/8"));
    let list = Allowlist::parse("[::ffff:127.0.0.1]:80").unwrap();
    assert!(list.matches("127.0.0.1", 80).is_allowed());
    assert!(list.matches("::ffff:127.0.0.1", 80).is_allowed());
}

#[test]
fn names_are_case_insensitive_and_ignore_one_trailing_dot() {
    let rule: Rule = "Example.COM.:443".parse().unwrap();
    assert_eq!(rule.to_string(), "example.com:443");
    let list = Allowlist::parse("Example.COM., *.Zone.").unwrap();
    for host in [
        "example.com",
        "EXAMPLE.COM",
        "example.com.",
        "a.zone",
        "A.ZONE.",
        "zone",
    ] {
        assert!(list.matches(host, 1).is_allowed(), "{host}");
    }
    for host in ["example.com..", ".example.com", "example.co", "zone.."] {
        assert!(!list.matches(host, 1).is_allowed(), "{host}");
    }
}

fn kind(entry: &str) -> ParseErrorKind {
    entry.parse::<Rule>().unwrap_err().kind().clone()
}

#[test]
fn invalid_entries_are_errors_with_a_reason() {
    use ParseErrorKind::*;
    let long_label = format!("{}.com", "a".repeat(64));
    let cases: Vec<(&str, ParseErrorKind)> = vec![
        ("", Empty),
        ("   ", Empty),
        ("localhost:0", InvalidPort(PortError::Zero)),
        ("localhost:65536", InvalidPort(PortError::TooLarge)),
        ("localhost:99999999999", InvalidPort(PortError::TooLarge)),
        (
            "localhost:2000-1000",
            InvalidPort(PortError::Reversed {
                min: 2000,
                max: 1000,
            }),
        ),
        ("localhost:0-10", InvalidPort(PortError::Zero)),
        ("localhost:", InvalidPort(PortError::Empty)),
        ("localhost:http", InvalidPort(PortError::NotANumber)),
        ("[::1]:", InvalidPort(PortError::Empty)),
        ("10.0.0.0/8:", InvalidPort(PortError::Empty)),
        ("[::1]:0", InvalidPort(PortError::Zero)),
        ("*.zone:70000", InvalidPort(PortError::TooLarge)),
        ("10.0.0.0/33", InvalidPrefixLen { max: 32 }),
        ("10.0.0.0/", InvalidPrefixLen { max: 32 }),
        ("10.0.0.0/-1", InvalidPrefixLen { max: 32 }),
        ("1000::/129", InvalidPrefixLen { max: 128 }),
        ("[::1]/200:80", InvalidPrefixLen { max: 128 }),
        ("10.0.0/8", InvalidNetworkAddress),
        ("host/8", InvalidNetworkAddress),
        ("[::1", UnclosedBracket),
        ("[10.0.0.1]", InvalidBracketedAddress),
        ("[fe80::1%eth0]:80", InvalidBracketedAddress),
        ("[localhost]:80", InvalidBracketedAddress),
        ("[::1]x", UnexpectedAfterAddress),
        ("fe80::1%eth0", InvalidIpv6),
        ("2001:db8::zz", InvalidIpv6),
        ("1:2:3", InvalidIpv6),
        ("localhost:80:90", TooManyColons),
        ("*", InvalidWildcard),
        ("*zone", InvalidWildcard),
        ("a.*.zone", InvalidWildcard),
        ("*.", InvalidZone(NameError::Empty)),
        ("*.*.zone", InvalidZone(NameError::InvalidChar)),
        ("*..zone", InvalidZone(NameError::EmptyLabel)),
        ("exa mple.com", InvalidName(NameError::InvalidChar)),
        ("a..b", InvalidName(NameError::EmptyLabel)),
        ("-a.com", InvalidName(NameError::HyphenAtLabelEdge)),
        ("a-.com", InvalidName(NameError::HyphenAtLabelEdge)),
        (long_label.as_str(), InvalidName(NameError::LabelTooLong)),
        ("999.1.1.1", InvalidName(NameError::NumericLastLabel)),
        ("1.2.3", InvalidName(NameError::NumericLastLabel)),
        ("bücher.de", InvalidName(NameError::InvalidChar)),
        ("http://example.com", InvalidNetworkAddress),
        ("\0", InvalidName(NameError::InvalidChar)),
    ];
    for (entry, want) in cases {
        assert_eq!(kind(entry), want, "{entry:?}");
    }
}

#[test]
fn list_errors_name_the_entry_and_its_index() {
    let e = Allowlist::parse("a.com, b.com:0, c.com").unwrap_err();
    assert_eq!(e.index(), Some(1));
    assert_eq!(e.entry(), "b.com:0");
    assert_eq!(
        e.to_string(),
        "invalid allowlist entry #1 `b.com:0`: invalid port: port 0 is not allowed (ports are 1-65535)"
    );
    let e = Allowlist::parse("a.com,,c.com").unwrap_err();
    assert_eq!((e.index(), e.kind()), (Some(1), &ParseErrorKind::Empty));
    let e = Allowlist::parse("a.com,").unwrap_err();
    assert_eq!((e.index(), e.kind()), (Some(1), &ParseErrorKind::Empty));
    let e = Allowlist::from_entries(["a.com", "b.com,c.com"]).unwrap_err();
    assert_eq!(e.index(), Some(1));
    let e = "garbage!".parse::<Rule>().unwrap_err();
    assert_eq!(e.index(), None);
    assert_eq!(
        e.to_string(),
        "invalid allowlist entry `garbage!`: invalid host name: character other than a letter, digit, `-` or `_`"
    );
}

#[test]
fn empty_list_denies_everything() {
    for text in ["", "  ", "\n\t"] {
        let list = Allowlist::parse(text).unwrap();
        assert!(list.is_empty());
        let d = list.matches("localhost", 80);
        assert!(!d.is_allowed());
        assert_eq!(
            d.to_string(),
            "deny: the allowlist is empty (it denies everything)"
        );
        assert!(!list.check_ip("8.8.8.8".parse().unwrap(), 53).is_allowed());
    }
    assert!(
        Allowlist::from_entries(Vec::<String>::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn very_long_input_is_rejected_quickly_with_a_short_message() {
    let huge = "a".repeat(1 << 20);
    let e = Allowlist::parse(&huge).unwrap_err();
    assert_eq!(e.kind(), &ParseErrorKind::InvalidName(NameError::TooLong));
    assert!(e.entry().len() <= 120);
    assert!(e.to_string().len() < 250, "{e}");
    assert!(e.to_string().contains("...`"));
    // Many valid entries are fine.
    let many: Vec<String> = (0..20_000)
        .map(|i| format!("h{i}.example:{}", i + 1))
        .collect();
    let list = Allowlist::parse(&many.join(",")).unwrap();
    assert_eq!(list.len(), 20_000);
    assert!(list.matches("h19999.example", 20_000).is_allowed());
    // Multi-byte characters are cut at a character boundary.
    let e = Allowlist::parse(&"é".repeat(100)).unwrap_err();
    assert!(e.entry().chars().all(|c| c == 'é'));
}
