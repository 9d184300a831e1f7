//! Property tests of the proxy URL and NO_PROXY parsers.

use ferry_egress::{EgressProxy, NoProxy, ProxyKind, fuzzing};
use ferry_front::Address;
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}[a-z]"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

/// Every byte outside RFC 3986's unreserved set, percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One valid NO_PROXY entry, in any of the forms the parser takes.
fn entry() -> impl Strategy<Value = String> {
    let port = proptest::option::of(1u16..);
    let with_port = |host: String, port: Option<u16>| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    prop_oneof![
        (
            domain(),
            prop_oneof![Just(""), Just("."), Just("*.")],
            any::<bool>(),
            port.clone()
        )
            .prop_map(move |(d, lead, upper, p)| {
                let d = if upper { d.to_ascii_uppercase() } else { d };
                with_port(format!("{lead}{d}"), p)
            }),
        (any::<[u8; 4]>(), proptest::option::of(0u8..=32), port).prop_map(move |(ip, len, p)| {
            let ip = std::net::Ipv4Addr::from(ip);
            let host = len.map_or(ip.to_string(), |l| format!("{ip}/{l}"));
            with_port(host, p)
        }),
        (any::<[u16; 8]>(), proptest::option::of(0u8..=128)).prop_map(|(ip, len)| {
            let ip = std::net::Ipv6Addr::from(ip);
            len.map_or(ip.to_string(), |l| format!("{ip}/{l}"))
        }),
        (any::<[u16; 8]>(), 1u16..)
            .prop_map(|(ip, p)| format!("[{}]:{p}", std::net::Ipv6Addr::from(ip))),
        Just("*".to_owned()),
    ]
}

/// A destination to match: a name or an address, with a port.
fn destination() -> impl Strategy<Value = String> {
    prop_oneof![
        (domain(), 1u16..).prop_map(|(d, p)| format!("{d}:{p}")),
        (any::<[u8; 4]>(), 1u16..)
            .prop_map(|(ip, p)| format!("{}:{p}", std::net::Ipv4Addr::from(ip))),
        (any::<[u16; 8]>(), 1u16..)
            .prop_map(|(ip, p)| format!("[{}]:{p}", std::net::Ipv6Addr::from(ip))),
    ]
}

proptest! {
    #[test]
    fn any_text_keeps_the_harness_invariants(text in "\\PC{0,80}(\n\\PC{0,30}){0,3}") {
        fuzzing::egress_parse(text.as_bytes());
    }

    #[test]
    fn any_bytes_keep_the_harness_invariants(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        fuzzing::egress_parse(&bytes);
    }

    #[test]
    fn valid_lists_parse_and_keep_the_harness_invariants(
        entries in prop::collection::vec(entry(), 0..6),
        seps in prop::collection::vec(prop_oneof![Just(","), Just(" "), Just(" , "), Just(",,\t")], 6),
        targets in prop::collection::vec(destination(), 0..6),
    ) {
        let mut list = String::new();
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                list.push_str(seps[i]);
            }
            list.push_str(e);
        }
        prop_assert!(NoProxy::parse(&list).is_ok(), "{list:?}");
        let input = std::iter::once(list).chain(targets).collect::<Vec<_>>().join("\n");
        fuzzing::egress_parse(input.as_bytes());
    }

    #[test]
    fn urls_built_from_parts_parse_to_those_parts(
        kind in prop_oneof![Just(ProxyKind::Http), Just(ProxyKind::Socks5), Just(ProxyKind::Socks5h)],
        host in domain(),
        port in proptest::option::of(1u16..),
        user in "[^:\\p{Cc}]{1,20}",
        pass in "[^\\p{Cc}]{1,20}",
        upper in any::<bool>(),
    ) {
        let scheme = if upper { kind.scheme().to_ascii_uppercase() } else { kind.scheme().to_owned() };
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("{scheme}://{}:{}@{host}{port_text}/", encode(&user), encode(&pass));
        let p = EgressProxy::parse(&url).unwrap();
        prop_assert_eq!(p.kind(), kind);
        prop_assert_eq!(p.address(), &Address::Domain(host.clone(), port.unwrap_or(kind.default_port())));
        let c = p.credentials().unwrap();
        prop_assert_eq!((c.username(), c.password()), (user.as_str(), pass.as_str()));
        // Display shows the user and `***`; Debug does not depend on the password.
        let port = port.unwrap_or(kind.default_port());
        prop_assert_eq!(
            p.to_string(),
            format!("{}://{}:***@{host}:{port}", kind.scheme(), encode(&user))
        );
        let other = p.clone().with_credentials(&user, "other").unwrap();
        prop_assert_eq!(format!("{p:?}"), format!("{other:?}"));
    }

    #[test]
    fn a_domain_entry_matches_itself_and_subdomains_only(
        entry in domain(),
        sub in label(),
        other in label(),
        dot in any::<bool>(),
        port in 1u16..,
    ) {
        let list = NoProxy::parse(&format!("{}{entry}", if dot { "." } else { "" })).unwrap();
        let at = |name: String| Address::Domain(name, port);
        let (below, glued, above) = (
            format!("{sub}.{entry}"),
            format!("{other}{entry}"),
            format!("{entry}.{other}"),
        );
        prop_assert!(list.matches(&at(entry.clone())));
        prop_assert!(list.matches(&at(below)));
        prop_assert!(list.matches(&at(entry.to_ascii_uppercase())));
        // A name that merely ends with the entry's text is another domain.
        prop_assert!(!list.matches(&at(glued)));
        prop_assert!(!list.matches(&at(above)));
    }

    #[test]
    fn a_cidr_entry_matches_exactly_its_addresses(
        net in any::<u32>(),
        len in 0u8..=32,
        ip in any::<u32>(),
    ) {
        let list = NoProxy::parse(&format!("{}/{len}", std::net::Ipv4Addr::from(net))).unwrap();
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
        let inside = (ip & mask) == (net & mask);
        let target = Address::Ip((std::net::Ipv4Addr::from(ip), 443).into());
        prop_assert_eq!(list.matches(&target), inside);
    }
}
