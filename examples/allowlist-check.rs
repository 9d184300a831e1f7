//! `allowlist-check`: checks targets against allowlist patterns and explains each decision.
//!
//! ```text
//! allowlist-check --patterns "P1,P2,..." [--patterns ...] [--resolve] TARGET...
//! ```
//!
//! `TARGET` is `host:port` or `[v6]:port`. One line per target, in order, starting with `allow`
//! or `deny`, then the target and the explanation. Without `--resolve` only the patterns are
//! checked; with it, IP targets also go through the special-address set and names are resolved
//! (once, with the system resolver) and every address is checked.
//!
//! Exit status: 0 when every target is allowed, 1 when any is denied, 2 for a usage error, an
//! invalid pattern or an unparsable target.

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;

use ferry_allow::Allowlist;

const USAGE: &str = "\
usage: allowlist-check --patterns \"P1,P2,...\" [--patterns ...] [--resolve] TARGET...

  --patterns LIST  comma-separated allowlist entries (repeatable)
  --resolve        resolve names and check every address, deny special addresses
  TARGET           host:port or [v6]:port

exit status: 0 all allowed, 1 some denied, 2 usage error or invalid pattern/target";

struct Args {
    patterns: Vec<String>,
    resolve: bool,
    targets: Vec<String>,
}

fn main() -> ExitCode {
    let code = run(
        std::env::args().skip(1),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

/// The whole program: `args` without the program name; the verdicts go to `out`, errors to
/// `err`; returns the exit status. (A function, so that `examples/tests/allowlist_check.rs`
/// runs the example's own code.)
pub(crate) fn run(
    args: impl Iterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let args = match parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(msg) => return usage_error(err, &msg),
    };
    let entries: Vec<&str> = args
        .patterns
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| p.split(','))
        .collect();
    let list = match Allowlist::from_entries(entries) {
        Ok(list) => list,
        Err(e) => return usage_error(err, &e.to_string()),
    };
    let mut targets = Vec::with_capacity(args.targets.len());
    for text in &args.targets {
        match parse_target(text) {
            Some((host, port)) => targets.push((text, host, port)),
            None => {
                return usage_error(
                    err,
                    &format!("invalid target `{text}`: expected host:port or [v6]:port"),
                );
            }
        }
    }
    let mut all_allowed = true;
    for (text, host, port) in targets {
        let (allowed, explanation) = check(&list, host, port, args.resolve);
        all_allowed &= allowed;
        let verdict = if allowed { "allow" } else { "deny" };
        let _ = writeln!(out, "{verdict} {text}: {explanation}");
    }
    if all_allowed { 0 } else { 1 }
}

fn usage_error(err: &mut dyn Write, msg: &str) -> u8 {
    let _ = writeln!(err, "allowlist-check: {msg}\n\n{USAGE}");
    2
}

/// `Ok(None)` for `--help`.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args {
        patterns: Vec::new(),
        resolve: false,
        targets: Vec::new(),
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--resolve" => out.resolve = true,
            "--patterns" => out
                .patterns
                .push(args.next().ok_or("--patterns needs a value")?),
            "--" => out.targets.extend(args.by_ref()),
            _ => match arg.strip_prefix("--patterns=") {
                Some(value) => out.patterns.push(value.to_owned()),
                None if arg.starts_with('-') => return Err(format!("unknown option `{arg}`")),
                None => out.targets.push(arg),
            },
        }
    }
    if out.patterns.is_empty() {
        return Err("missing --patterns".to_owned());
    }
    if out.targets.is_empty() {
        return Err("no TARGET given".to_owned());
    }
    Ok(Some(out))
}

/// `host:port` or `[v6]:port`; the host keeps its brackets.
fn parse_target(text: &str) -> Option<(&str, u16)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find("]:")?;
        (&text[..=end], &text[end + 2..])
    } else {
        let (host, port) = text.rsplit_once(':')?;
        if host.contains(':') {
            return None; // an IPv6 address needs brackets
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

fn check(list: &Allowlist, host: &str, port: u16, resolve: bool) -> (bool, String) {
    if !resolve {
        let d = list.matches(host, port);
        return (d.is_allowed(), d.explanation().to_string());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        let d = list.check_ip(ip, port);
        return (d.is_allowed(), d.explanation().to_string());
    }
    // Do not resolve names the patterns deny anyway.
    let by_name = list.matches(host, port);
    if !by_name.is_allowed() {
        return (false, by_name.explanation().to_string());
    }
    let resolved = match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in addrs {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            ips
        }
        Err(e) => {
            return (
                false,
                format!("{}; resolution failed: {e}", by_name.explanation()),
            );
        }
    };
    let r = list.check_resolved(host, port, &resolved);
    (r.is_allowed(), r.explanation().to_string())
}
