//! `PROGRAM explain --config FILE HOST:PORT`: what a program's allowlist decides for one
//! destination, and why, the way the program itself would decide it.

use std::net::IpAddr;

use ferry_allow::Allowlist;

/// How the program checks a destination before it connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// Names are matched as names and not resolved (the gateway: the agent resolves and checks
    /// again); IP literals go through the special-address set.
    NamesOnly,
    /// Names are resolved once and every address is checked, special addresses included (the
    /// agent and the hop); only a checked address is ever dialled.
    Resolve,
}

/// The verdict on one destination, with its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// Whether the program would connect.
    pub allowed: bool,
    /// `allow HOST:PORT: ...` or `deny HOST:PORT: ...`, then what the name resolved to and
    /// which rule or special range decided each address.
    pub text: String,
}

/// A destination that is not `host:port` or `[v6]:port`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
#[error("invalid destination `{0}`: expected HOST:PORT or [IPv6]:PORT")]
pub struct BadTarget(pub String);

/// Explains `target` against `list` as `check` says the program checks it; `resolve` looks a
/// name up (pass the system resolver in programs, a fixed answer in tests).
///
/// # Errors
///
/// [`BadTarget`] when `target` is not `HOST:PORT` or `[IPv6]:PORT` with a port 1-65535.
pub fn explain(
    list: &Allowlist,
    target: &str,
    check: Check,
    resolve: impl FnOnce(&str, u16) -> std::io::Result<Vec<IpAddr>>,
) -> Result<Verdict, BadTarget> {
    let (host, port) = split_target(target).ok_or_else(|| BadTarget(target.to_owned()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let verdict = |allowed: bool, why: String| Verdict {
        allowed,
        text: format!("{} {target}: {why}", if allowed { "allow" } else { "deny" }),
    };
    if let Ok(ip) = bare.parse::<IpAddr>() {
        let d = list.check_ip(ip, port);
        return Ok(verdict(d.is_allowed(), d.explanation().to_string()));
    }
    // A name the rules deny is never looked up.
    let by_name = list.matches(host, port);
    if !by_name.is_allowed() || check == Check::NamesOnly {
        let mut why = by_name.explanation().to_string();
        if check == Check::NamesOnly && by_name.is_allowed() {
            why.push_str(
                " (names are not resolved here; the agent resolves and checks every address again)",
            );
        }
        return Ok(verdict(by_name.is_allowed(), why));
    }
    let resolved = match resolve(bare, port) {
        Ok(ips) if !ips.is_empty() => ips,
        Ok(_) => {
            let why = format!("{}; the name resolves to no address", by_name.explanation());
            return Ok(verdict(false, why));
        }
        Err(e) => {
            let why = format!("{}; resolution failed: {e}", by_name.explanation());
            return Ok(verdict(false, why));
        }
    };
    let r = list.check_resolved(host, port, &resolved);
    let shown: Vec<String> = resolved.iter().map(ToString::to_string).collect();
    let why = format!("resolves to {}; {}", shown.join(", "), r.explanation());
    Ok(verdict(r.is_allowed(), why))
}

/// The system resolver, as the programs use it: every address of `host`, in order, without
/// duplicates.
///
/// # Errors
///
/// The resolver's error.
pub fn system_resolve(host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    use std::net::ToSocketAddrs;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in (host, port).to_socket_addrs()? {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    Ok(ips)
}

/// `host:port` or `[v6]:port` (the host keeps its brackets).
fn split_target(text: &str) -> Option<(&str, u16)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find("]:")?;
        (text.get(..=end)?, text.get(end + 2..)?)
    } else {
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    (port != 0).then_some((host, port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn list(p: &str) -> Allowlist {
        Allowlist::parse(p).unwrap()
    }

    fn fixed(
        ips: &'static [&'static str],
    ) -> impl FnOnce(&str, u16) -> std::io::Result<Vec<IpAddr>> {
        move |_, _| Ok(ips.iter().map(|i| i.parse().unwrap()).collect())
    }

    #[test]
    fn names_are_resolved_and_every_address_checked() {
        let l = list("*.internal:443");
        let v = explain(&l, "app.internal:443", Check::Resolve, fixed(&["10.0.0.5"])).unwrap();
        // 10.0.0.5 is private (special): a name rule alone does not allow it.
        assert!(!v.allowed, "{}", v.text);
        assert!(
            v.text
                .starts_with("deny app.internal:443: resolves to 10.0.0.5"),
            "{}",
            v.text
        );
        let l = list("*.internal:443,10.0.0.0/8:443");
        let v = explain(&l, "app.internal:443", Check::Resolve, fixed(&["10.0.0.5"])).unwrap();
        assert!(v.allowed, "{}", v.text);
        let v = explain(
            &l,
            "app.internal:443",
            Check::Resolve,
            fixed(&["93.184.216.34"]),
        )
        .unwrap();
        assert!(v.allowed, "{}", v.text);
    }

    #[test]
    fn denied_names_are_not_resolved_and_the_gateway_does_not_resolve() {
        let l = list("*.internal:443");
        let never = |_: &str, _: u16| -> std::io::Result<Vec<IpAddr>> { panic!("resolved") };
        let v = explain(&l, "other.example:443", Check::Resolve, never).unwrap();
        assert!(!v.allowed);
        let v = explain(&l, "app.internal:443", Check::NamesOnly, never).unwrap();
        assert!(
            v.allowed && v.text.contains("not resolved here"),
            "{}",
            v.text
        );
        let fail = |_: &str, _: u16| Err(std::io::Error::other("no such host"));
        let v = explain(&l, "app.internal:443", Check::Resolve, fail).unwrap();
        assert!(
            !v.allowed && v.text.contains("resolution failed: no such host"),
            "{}",
            v.text
        );
    }

    #[test]
    fn literals_meet_the_special_set_and_bad_targets_are_errors() {
        let l = list("0.0.0.0/0:22");
        let v = explain(&l, "127.0.0.1:22", Check::NamesOnly, fixed(&[])).unwrap();
        assert!(!v.allowed, "loopback needs a rule inside it: {}", v.text);
        let v = explain(&l, "[2001:db8::1]:22", Check::Resolve, fixed(&[])).unwrap();
        assert!(
            v.text.starts_with("deny [2001:db8::1]:22") || v.text.starts_with("allow"),
            "{}",
            v.text
        );
        for bad in [
            "nohost",
            "host:",
            "host:0",
            "host:99999",
            "::1:22",
            ":22",
            "[::1]22",
        ] {
            assert_eq!(
                explain(&l, bad, Check::Resolve, fixed(&[])),
                Err(BadTarget(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
