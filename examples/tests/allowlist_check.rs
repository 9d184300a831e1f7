//! Runs the `allowlist-check` example's own code (`run`, what its `main` calls): output lines
//! and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

#[allow(dead_code)] // its `main` is not called here
#[path = "../allowlist-check.rs"]
mod allowlist_check;

/// What a run printed, and its exit status.
struct Output {
    code: u8,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn code(&self) -> Option<i32> {
        Some(i32::from(self.code))
    }
}

fn run(args: &[&str]) -> Output {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = allowlist_check::run(
        args.iter().map(|a| (*a).to_owned()),
        &mut stdout,
        &mut stderr,
    );
    Output {
        code,
        stdout,
        stderr,
    }
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn prints_one_line_per_target_in_order() {
    let out = run(&[
        "--patterns",
        "10.0.0.0/8:80, 10.0.0.0/8:443,*.zone:443",
        "10.1.2.3:443",
        "a.zone:443",
        "a.zone:80",
        "[2001:db8::1]:443",
    ]);
    assert_eq!(out.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            "allow 10.1.2.3:443: rule #1 `10.0.0.0/8:443`",
            "allow a.zone:443: rule #2 `*.zone:443`",
            "deny a.zone:80: port 80 is not allowed by rule #2 `*.zone:443`",
            "deny [2001:db8::1]:443: no address rule matches the address",
        ]
    );
}

#[test]
fn repeated_patterns_flags_are_joined_and_all_allowed_exits_zero() {
    let out = run(&[
        "--patterns",
        "localhost:22",
        "--patterns=[::1]:22",
        "localhost:22",
        "[::1]:22",
    ]);
    assert_eq!(out.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            "allow localhost:22: rule #0 `localhost:22`",
            "allow [::1]:22: rule #1 `[::1]:22`"
        ]
    );
}

#[test]
fn empty_patterns_deny_everything() {
    let out = run(&["--patterns", "", "example.com:443"]);
    assert_eq!(out.code(), Some(1));
    assert_eq!(
        stdout_lines(&out),
        ["deny example.com:443: the allowlist is empty (it denies everything)"]
    );
}

#[test]
fn invalid_pattern_exits_2_naming_the_entry() {
    let out = run(&[
        "--patterns",
        "a.com",
        "--patterns",
        "b.com,c.com:0",
        "a.com:1",
    ]);
    assert_eq!(out.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("invalid allowlist entry #2 `c.com:0`: invalid port: port 0 is not allowed"),
        "{err}"
    );
    let out = run(&["--patterns", "a.com,,b.com", "a.com:1"]);
    assert_eq!(out.code(), Some(2));
    assert!(
        stderr(&out).contains("#1 ``: empty entry"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unparsable_target_exits_2_naming_it() {
    for target in [
        "example.com",
        "2001:db8::1:443",
        "host:99999",
        "[::1]",
        ":80",
        "host:",
    ] {
        let out = run(&["--patterns", "*.com", "ok.com:1", target]);
        assert_eq!(out.code(), Some(2), "{target}");
        assert!(out.stdout.is_empty(), "{target}");
        assert!(
            stderr(&out).contains(&format!("invalid target `{target}`")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["a.com:1"]).code(), Some(2));
    assert_eq!(run(&["--patterns", "a.com"]).code(), Some(2));
    assert_eq!(run(&["--patterns"]).code(), Some(2));
    assert_eq!(run(&["--bogus", "--patterns", "a", "a:1"]).code(), Some(2));
    let help = run(&["--help"]);
    assert_eq!(help.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: allowlist-check"));
}

#[test]
fn special_addresses_are_checked_only_with_resolve() {
    let out = run(&["--patterns", "0.0.0.0/0", "127.0.0.1:80", "8.8.8.8:53"]);
    assert_eq!(out.code(), Some(0));
    let out = run(&[
        "--patterns",
        "0.0.0.0/0",
        "--resolve",
        "127.0.0.1:80",
        "8.8.8.8:53",
    ]);
    assert_eq!(out.code(), Some(1));
    let lines = stdout_lines(&out);
    assert!(
        lines[0].starts_with("deny 127.0.0.1:80: 127.0.0.1 is loopback (127.0.0.0/8)"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "allow 8.8.8.8:53: rule #0 `0.0.0.0/0`");
}

#[test]
fn resolve_checks_every_address_of_a_name() {
    // `localhost` resolves from the hosts file, without DNS, to loopback addresses only.
    let out = run(&["--patterns", "localhost", "--resolve", "localhost:80"]);
    assert_eq!(out.code(), Some(1), "{}", stderr(&out));
    let line = &stdout_lines(&out)[0];
    assert!(
        line.starts_with("deny localhost:80: rule #0 `localhost`; "),
        "{line}"
    );
    assert!(line.contains("is loopback"), "{line}");
    // Explicit address rules inside the loopback ranges allow them.
    let out = run(&[
        "--patterns",
        "localhost,127.0.0.0/8,::1",
        "--resolve",
        "localhost:80",
    ]);
    assert_eq!(out.code(), Some(0), "{}", stderr(&out));
    let line = &stdout_lines(&out)[0];
    assert!(
        line.starts_with("allow localhost:80: rule #0 `localhost`; "),
        "{line}"
    );
    assert!(line.contains("allowed by rule #"), "{line}");
    // A name the patterns deny is not resolved at all.
    let out = run(&["--patterns", "localhost", "--resolve", "other.invalid:80"]);
    assert_eq!(
        stdout_lines(&out),
        ["deny other.invalid:80: no name rule matches the host"]
    );
}
