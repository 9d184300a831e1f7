//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.

use ferry_front::Address;

use crate::{EgressProxy, NoProxy};

/// Harness `egress_parse`: the input's first line is parsed as a proxy URL and as a
/// `NO_PROXY` list; each further line is a `host:port` destination matched against the list.
///
/// Invariants: nothing panics; a parsed proxy, written with its password percent-encoded,
/// parses back to itself, and its `Display` form parses back to the same proxy with the
/// password `***` (so `Display` never holds the password); a parsed list's `Display` parses
/// back to an equal list that matches every destination the same way; a domain destination
/// matches whatever its case; `*` matches everything.
pub fn egress_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();

    if let Ok(proxy) = EgressProxy::parse(first) {
        let again = EgressProxy::parse(&proxy.url_with_password());
        assert_eq!(again.as_ref(), Ok(&proxy), "round trip of {first:?}");
        let shown = EgressProxy::parse(&proxy.to_string());
        match (proxy.credentials(), shown) {
            (None, Ok(shown)) => assert_eq!(shown, proxy),
            (Some(c), Ok(shown)) => {
                let sc = shown.credentials().map(|s| (s.username(), s.password()));
                assert_eq!(sc, Some((c.username(), "***")), "display of {first:?}");
                assert_eq!(shown.address(), proxy.address());
            }
            (_, Err(e)) => panic!("display of {first:?} does not parse: {e}"),
        }
    }

    let Ok(list) = NoProxy::parse(first) else {
        return;
    };
    let again = NoProxy::parse(&list.to_string());
    assert_eq!(again.as_ref(), Ok(&list), "round trip of {first:?}");
    for line in lines {
        let Ok(target) = Address::parse_authority(line.trim_ascii()) else {
            continue;
        };
        let hit = list.matches(&target);
        assert_eq!(hit, again.as_ref().is_ok_and(|a| a.matches(&target)));
        if list.matches_all() {
            assert!(hit);
        }
        if let Address::Domain(name, port) = &target {
            let upper = Address::Domain(name.to_ascii_uppercase(), *port);
            assert_eq!(list.matches(&upper), hit, "case of {name:?}");
        }
    }
}
