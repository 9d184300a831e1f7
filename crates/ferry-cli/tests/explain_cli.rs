//! `explain --config FILE HOST:PORT` in the programs that check destinations, and
//! `ferry-hop access` from flags alone, as real processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use hop::{TempFile, keys, spawn};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const AGENT_TOML: &str = "examples/config/agent.toml";
const GATEWAY_TOML: &str = "examples/config/gateway.toml";

/// The sample configs name files relative to the repository root: run from there.
fn at_root(bin: &str, args: &[&str]) -> Output {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    Command::new(bin)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn agent_and_gateway_explain_their_allowlists() {
    let agent = env!("CARGO_BIN_EXE_ferry-agent");
    // The sample allows 127.0.0.1:9000 by an address rule inside loopback's special range.
    let o = at_root(
        agent,
        &["explain", "--config", AGENT_TOML, "127.0.0.1:9000"],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).starts_with("allow 127.0.0.1:9000: "),
        "{}",
        stdout(&o)
    );
    let o = at_root(
        agent,
        &["explain", "--config", AGENT_TOML, "127.0.0.1:8080"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stdout(&o).contains("port 8080 is not allowed by rule #0"),
        "{}",
        stdout(&o)
    );
    let o = at_root(agent, &["explain", "--config", AGENT_TOML, "no-port"]);
    assert_eq!(o.status.code(), Some(64), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid destination `no-port`"));

    // The gateway matches names as names and says the agent checks the addresses.
    let gateway = env!("CARGO_BIN_EXE_ferry-gateway");
    let o = at_root(
        gateway,
        &["explain", "--config", GATEWAY_TOML, "app.internal:443"],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("rule #1 `*.internal:443`") && text.contains("not resolved here"),
        "{text}"
    );
    let o = at_root(
        gateway,
        &["explain", "--config", GATEWAY_TOML, "app.external:443"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

#[test]
fn hop_explain_resolves_names_and_checks_every_address() {
    let k = keys(1);
    let cfg = TempFile::new(
        "toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nallow = [\"localhost:443\", \"127.0.0.0/8:443\"]\n\
             [keys]\nfile = {:?}\n",
            k.path()
        ),
    );
    let bin = env!("CARGO_BIN_EXE_ferry-hop");
    let o = run(bin, &["explain", "--config", &cfg.path(), "localhost:443"]);
    let text = stdout(&o);
    assert!(
        text.contains("resolves to") && text.contains("127.0.0.1"),
        "{text}"
    );
    let o = run(bin, &["explain", "--config", &cfg.path(), "127.0.0.1:443"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = run(bin, &["explain", "--config", &cfg.path(), "localhost:80"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

#[test]
fn access_from_flags_alone_relays_over_one_chain() {
    let k = keys(1);
    let hop = hop::hop(&k, &[]);
    let http = ferry_test_support::blocking::http_ok("through the flags");
    let chain_hop = format!("{}#1", hop.addrs[0]);
    let access = spawn(
        &[
            "access",
            "--listen",
            "socks5://127.0.0.1:0",
            "--hop",
            &chain_hop,
            "--key-file",
            &k.path(),
        ],
        1,
    );
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "--socks5-hostname"])
        .arg(access.addrs[0].to_string())
        .arg(format!("http://{http}/"))
        .stdin(Stdio::null())
        .output()
        .expect("curl must be installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the flags");
    // A malformed hop names the flag and exits 64 before binding anything.
    let bad = run(
        env!("CARGO_BIN_EXE_ferry-hop"),
        &[
            "access",
            "--listen",
            "socks5://127.0.0.1:0",
            "--hop",
            "nohash",
            "--key-file",
            &k.path(),
        ],
    );
    assert_eq!(bad.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--hop[0]"),
        "{bad:?}"
    );
    assert!(access.stop());
    assert!(hop.stop());
}
