//! A fast path for IPv6 targets written with hex groups only (the common case); anything else
//! goes to the standard parser, which spends most of its time trying embedded IPv4 forms.

use std::net::Ipv6Addr;

/// Parses `s` exactly as `Ipv6Addr::from_str` does.
pub(crate) fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    if s.contains('.') {
        return s.parse().ok();
    }
    let b = s.as_bytes();
    let mut groups = [0u16; 8];
    match b.windows(2).position(|w| w == b"::") {
        None => (hex_groups(b, &mut groups)? == 8).then(|| Ipv6Addr::from(groups)),
        Some(i) => {
            let mut tail = [0u16; 8];
            let (head, rest) = b.split_at_checked(i)?;
            let head_len = hex_groups(head, &mut groups)?;
            let tail_len = hex_groups(rest.get(2..)?, &mut tail)?;
            // `::` stands for at least one zero group.
            if head_len + tail_len > 7 {
                return None;
            }
            groups
                .get_mut(8 - tail_len..)?
                .copy_from_slice(tail.get(..tail_len)?);
            Some(Ipv6Addr::from(groups))
        }
    }
}

/// Parses `g:g:...` (1-4 hex digits each, at most 8 groups) into `out`; an empty input is zero
/// groups. Returns the number of groups.
fn hex_groups(s: &[u8], out: &mut [u16; 8]) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    for part in s.split(|&b| b == b':') {
        if part.is_empty() || part.len() > 4 {
            return None;
        }
        let mut value = 0u16;
        for &c in part {
            value = value << 4 | u16::from(char::from(c).to_digit(16)? as u8);
        }
        *out.get_mut(n)? = value;
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn agrees_with_std_on_known_forms() {
        for s in [
            "::",
            "::1",
            "1::",
            "1::2",
            "2001:db8::1",
            "2001:DB8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            ":::",
            "1:::2",
            "1::2::3",
            ":1::",
            "1:",
            ":1",
            "",
            "00001::",
            "0001::",
            "g::",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "fe80::1%eth0",
            "[::1]",
            "+1::",
        ] {
            assert_eq!(parse_ipv6(s), s.parse::<Ipv6Addr>().ok(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_std(s in "[0-9a-fA-F:]{0,24}") {
            prop_assert_eq!(parse_ipv6(&s), s.parse::<Ipv6Addr>().ok());
        }

        #[test]
        fn parses_every_displayed_address(bits in any::<u128>(), zeros in 0u32..=8, at in 0u32..8) {
            // Clear a run of `zeros` groups starting at group `at` so `::` shows up.
            let run = u128::MAX.checked_shr(128 - 16 * zeros).unwrap_or(0);
            let addr = Ipv6Addr::from(bits & !run.checked_shl(16 * at.min(8 - zeros)).unwrap_or(0));
            prop_assert_eq!(parse_ipv6(&addr.to_string()), Some(addr));
            let full = addr.segments().map(|g| format!("{g:X}")).join(":");
            prop_assert_eq!(parse_ipv6(&full), Some(addr));
        }
    }
}
