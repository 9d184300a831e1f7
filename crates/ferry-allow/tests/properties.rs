//! Property tests: the compiled matcher against a linear scan, parse robustness, display round
//! trips. The fuzz harness bodies (`ferry_allow::fuzzing`) run here too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::IpAddr;

use ferry_allow::fuzzing::{self, RESOLVED};
use ferry_allow::{Allowlist, Rule};
use proptest::prelude::*;
use proptest::sample::select;

const LABELS: &[&str] = &["a", "b", "zone", "ZONE", "x-y", "_s", "c1", "example"];
const V4: &[&str] = &[
    "0.0.0.0",
    "10.0.0.0",
    "10.1.0.0",
    "10.1.2.3",
    "127.0.0.1",
    "169.254.169.254",
    "93.184.216.34",
    "192.168.1.1",
];
const V4_LENS: &[u8] = &[0, 8, 16, 24, 31, 32];
const V6: &[&str] = &[
    "::",
    "::1",
    "2001:db8::",
    "2001:db8::1",
    "fd00:ec2::254",
    "64:ff9b::7f00:1",
    "2606:4700::",
    "::ffff:10.1.2.3",
];
const V6_LENS: &[u8] = &[0, 16, 32, 64, 96, 104, 120, 128];
const PORTS: &[u16] = &[0, 1, 80, 443, 1000, 1500, 2000, 8080, 65535];

fn name() -> impl Strategy<Value = String> {
    (prop::collection::vec(select(LABELS), 1..4), any::<bool>())
        .prop_map(|(labels, dot)| labels.join(".") + if dot { "." } else { "" })
}

fn ports_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => select(&[80u16, 443, 1000, 8080][..]).prop_map(|p| format!(":{p}")),
        1 => (select(&[1u16, 80, 443, 1000][..]), select(&[443u16, 2000, 65535][..]))
            .prop_map(|(a, b)| format!(":{}-{}", a.min(b), a.max(b))),
    ]
}

/// One entry in any grammar form, from small alphabets so that targets match.
fn entry() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        name(),
        name().prop_map(|n| format!("*.{n}")),
        select(V4).prop_map(str::to_owned),
        (select(V4), select(V4_LENS)).prop_map(|(a, l)| format!("{a}/{l}")),
        (select(V6), select(V6_LENS)).prop_map(|(a, l)| format!("[{a}]/{l}")),
        select(V6).prop_map(|a| format!("[{a}]")),
    ];
    let bare_v6 = prop_oneof![
        select(V6).prop_map(str::to_owned),
        (select(V6), select(V6_LENS)).prop_map(|(a, l)| format!("{a}/{l}")),
        (select(V6), select(V6_LENS), ports_suffix()).prop_map(|(a, l, p)| format!("{a}/{l}{p}")),
    ];
    prop_oneof![
        4 => (host, ports_suffix()).prop_map(|(h, p)| h + &p),
        1 => bare_v6,
    ]
}

fn target_host() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => name(),
        1 => (select(LABELS), name()).prop_map(|(l, n)| format!("{l}.{n}")),
        2 => select(V4).prop_map(str::to_owned),
        1 => (any::<[u8; 4]>()).prop_map(|o| IpAddr::from(o).to_string()),
        1 => (10u8..12, any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| format!("{a}.1.{b}.{c}")),
        2 => select(V6).prop_map(str::to_owned),
        1 => select(V6).prop_map(|a| format!("[{a}]")),
        1 => (select(V6), any::<u16>()).prop_map(|(a, x)| {
            let ip: std::net::Ipv6Addr = a.parse().unwrap();
            std::net::Ipv6Addr::from(u128::from(ip) | u128::from(x)).to_string()
        }),
        1 => "[a-z.\\-_:\\[\\]0-9]{0,12}",
    ]
}

fn target() -> impl Strategy<Value = (String, u16)> {
    (
        target_host(),
        prop_oneof![3 => select(PORTS), 1 => any::<u16>()],
    )
}

fn resolved() -> Vec<IpAddr> {
    RESOLVED.iter().map(|a| a.parse().unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The compiled matcher returns exactly the rules a linear scan finds, with the same deny
    /// reason; `check_ip` and `check_resolved` agree with their definitions.
    #[test]
    fn compiled_matches_naive_scan(
        entries in prop::collection::vec(entry(), 0..12),
        targets in prop::collection::vec(target(), 1..12),
    ) {
        let list = Allowlist::from_entries(&entries).unwrap();
        let resolved = resolved();
        for (host, port) in &targets {
            fuzzing::check_target(&list, host, *port, &resolved);
        }
        // Same through the fuzz harness's text format.
        let mut text = entries.join(",");
        for (host, port) in &targets {
            text.push_str(&format!("\n{host}:{port}"));
        }
        fuzzing::parse_and_check(text.as_bytes());
    }

    /// `Display` of a parsed rule parses back to the same rule.
    #[test]
    fn display_round_trips(entry in entry()) {
        let rule: Rule = entry.parse().unwrap();
        let shown = rule.to_string();
        prop_assert_eq!(shown.parse::<Rule>().unwrap(), rule);
        fuzzing::rule_parse(entry.as_bytes());
    }

    /// Parsing never panics on arbitrary strings, and list errors name the right entry.
    #[test]
    fn parse_never_panics(text in any::<String>()) {
        fuzzing::rule_parse(text.as_bytes());
    }

    /// Near-miss syntax: the grammar's own characters in random order.
    #[test]
    fn parse_never_panics_on_grammar_characters(text in "[\\[\\]*.:/a-fA-F0-9, %-]{0,48}") {
        fuzzing::rule_parse(text.as_bytes());
        fuzzing::parse_and_check(format!("{text}\n{text}:80\nzone:443").as_bytes());
    }

    /// Arbitrary bytes through both harnesses.
    #[test]
    fn harnesses_never_panic_on_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::rule_parse(&data);
        fuzzing::parse_and_check(&data);
    }
}

/// The checked-in corpus of the fuzz targets runs in every `cargo test`.
#[test]
fn fuzz_corpus_passes() {
    let seen = ferry_test_support::corpus::replay(&[
        ("allow_rule_parse", fuzzing::rule_parse as fn(&[u8])),
        ("allow_check", fuzzing::parse_and_check),
    ]);
    assert!(seen >= 4, "expected the corpus under fuzz/corpus");
}
