//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.

use std::net::IpAddr;

use crate::rule::{HostPattern, Rule, parse_ip_literal};
use crate::special::{canonical, special_address};
use crate::{Allowlist, DenyReason, HostName, SpecialAddresses};

/// Addresses used as "resolved" answers by [`parse_and_check`], besides the IP targets of the
/// input: special and ordinary, IPv4, IPv6 and embedded forms.
pub const RESOLVED: &[&str] = &[
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "93.184.216.34",
    "::1",
    "2606:4700::1111",
    "::ffff:10.1.2.3",
    "64:ff9b::7f00:1",
];

/// Harness `allow_rule_parse`: parses `data` (lossy UTF-8) as one entry and as a list.
///
/// Invariants: no panic; a parsed rule's `Display` parses back to an equal rule and is a fixed
/// point; a parsed list has one rule per comma-separated piece, equal to the piece parsed
/// alone; a list error names the first invalid piece, its index, and the same reason.
pub fn rule_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Rule>() {
        Ok(rule) => check_roundtrip(&rule),
        Err(e) => assert!(e.index().is_none() && !e.to_string().is_empty()),
    }
    let pieces: Vec<&str> = if text.trim().is_empty() {
        Vec::new()
    } else {
        text.split(',').collect()
    };
    match Allowlist::parse(&text) {
        Ok(list) => {
            assert_eq!(list.len(), pieces.len());
            for (r, piece) in list.rules().zip(&pieces) {
                assert_eq!(r.entry(), piece.trim());
                assert_eq!(piece.parse::<Rule>().ok().as_ref(), Some(r.rule()));
                check_roundtrip(r.rule());
            }
        }
        Err(e) => {
            let Some(index) = e.index() else {
                panic!("list error without an index: {e}");
            };
            assert!(pieces[..index].iter().all(|p| p.parse::<Rule>().is_ok()));
            let single = pieces[index].parse::<Rule>().err();
            assert_eq!(single.as_ref().map(|s| s.kind()), Some(e.kind()));
            assert!(pieces[index].trim().starts_with(e.entry()));
        }
    }
}

fn check_roundtrip(rule: &Rule) {
    let shown = rule.to_string();
    match shown.parse::<Rule>() {
        Ok(again) => {
            assert_eq!(&again, rule, "`{shown}` parsed to a different rule");
            assert_eq!(again.to_string(), shown);
        }
        Err(e) => panic!("display `{shown}` does not parse: {e}"),
    }
}

/// Harness `allow_check`: the first line of `data` (lossy UTF-8) is a pattern list, every
/// other line a target `host:port` (at most 64 are checked).
///
/// Invariants (see [`check_target`]): the compiled matcher agrees with a linear scan over the
/// parsed rules, and the special-address and resolution checks agree with their definitions.
pub fn parse_and_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let Ok(list) = Allowlist::parse(lines.next().unwrap_or("")) else {
        return;
    };
    let targets: Vec<(&str, u16)> = lines.take(64).filter_map(split_target).collect();
    let mut resolved: Vec<IpAddr> = RESOLVED.iter().filter_map(|a| a.parse().ok()).collect();
    resolved.extend(targets.iter().filter_map(|(h, _)| parse_ip_literal(h)));
    for (host, port) in targets {
        check_target(&list, host, port, &resolved);
    }
}

/// Splits `host:port` at the last `:`.
fn split_target(line: &str) -> Option<(&str, u16)> {
    let (host, port) = line.trim().rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// The indices of the rules that match `(host, port)`, by a linear scan.
pub fn naive_allowed(list: &Allowlist, host: &str, port: u16) -> Vec<usize> {
    list.rules()
        .filter(|r| r.rule().matches(host, port))
        .map(|r| r.index())
        .collect()
}

/// Asserts every invariant for one target against `list` (with its special policy ignored:
/// both policies are checked).
pub fn check_target(list: &Allowlist, host: &str, port: u16, resolved: &[IpAddr]) {
    let list = list.clone().with_special_addresses(SpecialAddresses::Deny);
    let d = list.matches(host, port);
    let want = naive_allowed(&list, host, port);
    let got: Vec<usize> = d.rules().map(|r| r.index()).collect();
    let shown = d.to_string();
    if d.is_allowed() {
        assert_eq!(got, want, "{host}:{port}: {shown}");
        assert!(shown.starts_with("allow: "));
    } else {
        assert!(
            want.is_empty(),
            "{host}:{port} denied but naive allows {want:?}: {shown}"
        );
        assert!(shown.starts_with("deny: "));
        let hosts: Vec<usize> = list
            .rules()
            .filter(|r| r.rule().matches_host(host))
            .map(|r| r.index())
            .collect();
        match d.deny_reason() {
            Some(DenyReason::PortNotAllowed) => assert_eq!(got, hosts),
            Some(DenyReason::NoMatchingRule { .. }) => {
                assert!(hosts.is_empty() && !list.is_empty())
            }
            Some(DenyReason::EmptyAllowlist) => assert!(list.is_empty()),
            Some(DenyReason::InvalidHost(_)) => {
                assert!(parse_ip_literal(host).is_none() && HostName::parse(host).is_err());
            }
            other => panic!("unexpected reason {other:?} for {host}:{port}"),
        }
    }
    let ip = parse_ip_literal(host);
    if let Some(ip) = ip {
        let plain = list.clone().with_special_addresses(SpecialAddresses::Allow);
        let a = plain.check_ip(ip, port);
        assert_eq!(a.is_allowed(), d.is_allowed());
        assert_eq!(a.rules().map(|r| r.index()).collect::<Vec<_>>(), got);
        let strict = list.check_ip(ip, port);
        assert_eq!(
            strict.is_allowed(),
            address_passes(&list, ip, port, &want),
            "{ip}:{port}: {strict}"
        );
    }
    let r = list.check_resolved(host, port, resolved);
    let _ = r.to_string();
    let allowed: Vec<IpAddr> = r.allowed_addrs().collect();
    match ip {
        Some(ip) => {
            let strict = list.check_ip(ip, port).is_allowed();
            assert_eq!(allowed, if strict { vec![canonical(ip)] } else { vec![] });
        }
        None => {
            let expect: Vec<IpAddr> = if want.is_empty() {
                Vec::new()
            } else {
                resolved
                    .iter()
                    .copied()
                    .filter(|&a| address_passes(&list, a, port, &want))
                    .collect()
            };
            assert_eq!(allowed, expect, "{host}:{port}: {r}");
            assert_eq!(r.is_allowed(), !expect.is_empty());
        }
    }
}

/// Whether `addr` passes the special-address check, given that `name_rules` allowed the target:
/// ordinary addresses pass; a special address needs a rule inside its special range allowing
/// `port` (linear scan).
fn address_passes(list: &Allowlist, addr: IpAddr, port: u16, name_rules: &[usize]) -> bool {
    if name_rules.is_empty() {
        return false;
    }
    let Some(special) = special_address(addr) else {
        return true;
    };
    let range = special.range();
    list.rules().any(|r| match r.rule().host() {
        HostPattern::Net(net) => {
            r.rule().ports().contains(port)
                && net.contains(&canonical(addr))
                && net.prefix_len() >= range.prefix_len()
                && range.contains(net)
        }
        _ => false,
    })
}
