//! The programs' flags from the environment (`FERRY_<PROGRAM>_<FLAG>`, `FERRY_LOG`,
//! `FERRY_LOG_FORMAT`), the old flag spellings still accepted, and `--help` naming the
//! variables, through the real binaries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};

use program::Program;
use tunnel::{AGENT, GATEWAY, run, scratch};

const PROXY: &str = env!("CARGO_BIN_EXE_ferry-proxy");
const HOP: &str = env!("CARGO_BIN_EXE_ferry-hop");

/// Every variable the programs read, so that the caller's environment cannot leak in.
const VARS: [&str; 11] = [
    "FERRY_LOG",
    "FERRY_LOG_FORMAT",
    "FERRY_PROXY_CONFIG",
    "FERRY_PROXY_METRICS",
    "FERRY_HOP_SERVE_CONFIG",
    "FERRY_HOP_ACCESS_CONFIG",
    "FERRY_HOP_METRICS",
    "FERRY_GATEWAY_CONFIG",
    "FERRY_GATEWAY_METRICS",
    "FERRY_AGENT_CONFIG",
    "FERRY_AGENT_METRICS",
];

/// Runs `bin args` to the end with exactly the Ferry variables of `env`.
fn run_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    for v in VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// A proxy to a tagged echo upstream from flags, with `env` (`--log info` is added).
fn proxy(args: &[&str], env: &[(&str, &str)]) -> (Program, SocketAddr) {
    let up = ferry_test_support::blocking::tagged_echo(b'E').to_string();
    let mut all = vec!["--listen", "127.0.0.1:0", "--upstream", &up];
    all.extend_from_slice(args);
    let p = Program::spawn_env(PROXY, &all, env);
    let line = p.wait_for("listening");
    let addr = if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["fields"]["addr"].as_str().unwrap().parse().unwrap()
    } else {
        let at = line.find("addr=").unwrap() + 5;
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    (p, addr)
}

fn echo_through(addr: SocketAddr) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"hi").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"Ehi");
}

#[test]
fn log_format_from_the_environment_gives_json_lines_and_the_flag_wins() {
    let (p, addr) = proxy(&[], &[("FERRY_LOG_FORMAT", "json")]);
    echo_through(addr);
    let access = p.wait_for("ferry::access");
    let v: serde_json::Value = serde_json::from_str(&access).expect("a JSON log line");
    assert_eq!(v["target"], "ferry::access");
    assert_eq!(p.terminate(), Some(0));

    // `--log-format text` on the command line overrides the variable.
    let (p, addr) = proxy(&["--log-format", "text"], &[("FERRY_LOG_FORMAT", "json")]);
    echo_through(addr);
    let access = p.wait_for("ferry::access");
    assert!(!access.starts_with('{'), "{access}");
    assert!(access.contains("ferry::access:"), "{access}");
    assert_eq!(p.terminate(), Some(0));
}

#[test]
fn config_and_metrics_from_the_environment_run_the_proxy() {
    let dir = scratch("env-proxy");
    let up = ferry_test_support::blocking::tagged_echo(b'E');
    let config = dir.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[pool.p]\nupstreams = [\"{up}\"]\n"
        ),
    )
    .unwrap();
    let p = Program::spawn_env(
        PROXY,
        &[],
        &[
            ("FERRY_PROXY_CONFIG", config.to_str().unwrap()),
            ("FERRY_PROXY_METRICS", "127.0.0.1:0"),
        ],
    );
    let line = p.wait_for("metrics_addr=");
    let at = line.find("metrics_addr=").unwrap() + "metrics_addr=".len();
    let metrics: SocketAddr = line[at..].split(' ').next().unwrap().parse().unwrap();
    let addr = p.addr("listening");
    echo_through(addr);
    let text = ferry_test_support::blocking::http_get(metrics, "/metrics");
    assert!(
        text.contains("ferry_build_info{program=\"ferry-proxy\""),
        "{text}"
    );
    assert_eq!(p.terminate(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_program_reads_its_config_and_metrics_variables() {
    // A config file that is not there: the program names it and exits 64. Without the variable
    // each of these command lines is a different usage error (a required flag is missing).
    let cases: [(&str, &[&str], &str); 6] = [
        (PROXY, &[], "FERRY_PROXY_CONFIG"),
        (HOP, &["serve"], "FERRY_HOP_SERVE_CONFIG"),
        (HOP, &["access"], "FERRY_HOP_ACCESS_CONFIG"),
        (
            HOP,
            &["trace", "--destination", "127.0.0.1:9"],
            "FERRY_HOP_ACCESS_CONFIG",
        ),
        (GATEWAY, &[], "FERRY_GATEWAY_CONFIG"),
        (AGENT, &[], "FERRY_AGENT_CONFIG"),
    ];
    for (bin, args, var) in cases {
        let missing = format!("/nonexistent/{var}.toml");
        let out = run_env(bin, args, &[(var, &missing)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{var}: {err}");
        assert!(err.contains(&missing), "{var}: {err}");
        let without = run_env(bin, args, &[]);
        assert!(
            !String::from_utf8_lossy(&without.stderr).contains(&missing),
            "{var}"
        );
    }

    // A metrics address that is not one is refused as the flag's value would be.
    let cases: [(&str, &[&str], &str); 4] = [
        (
            PROXY,
            &["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"],
            "FERRY_PROXY_METRICS",
        ),
        (
            HOP,
            &["access", "--config", "/nonexistent/a.toml"],
            "FERRY_HOP_METRICS",
        ),
        (
            GATEWAY,
            &["--config", "/nonexistent/g.toml"],
            "FERRY_GATEWAY_METRICS",
        ),
        (
            AGENT,
            &["--config", "/nonexistent/a.toml"],
            "FERRY_AGENT_METRICS",
        ),
    ];
    for (bin, args, var) in cases {
        let out = run_env(bin, args, &[(var, "not-an-address")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{var}: {err}");
        assert!(
            err.contains("not-an-address") && err.contains("--metrics"),
            "{var}: {err}"
        );
    }
}

#[test]
fn old_flag_spellings_still_work() {
    let dir = scratch("old-flags");
    // `token new --agent --tokens` (old) and `--agent-id --token-file` (new) write the same
    // kind of line to the same file.
    let tokens = dir.join("tokens");
    let t = tokens.to_str().unwrap();
    for args in [
        ["--agent", "edge-old", "--tokens", t],
        ["--agent-id", "edge-new", "--token-file", t],
    ] {
        let mut all = vec!["token", "new", "--role", "client"];
        all.extend_from_slice(&args);
        let out = run(GATEWAY, &all);
        assert!(out.status.success(), "{all:?}");
    }
    let text = std::fs::read_to_string(&tokens).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("client edge-old sha256:"), "{text}");
    assert!(lines[1].starts_with("client edge-new sha256:"), "{text}");

    // `ferry-agent --ca --id` and `ferry-hop serve --next-hop-tls-ca` reach the same settings
    // as `--tls-ca` and `--agent-id`: the CA file is read (and found missing) either way.
    for flag in ["--ca", "--tls-ca"] {
        let out = run_env(
            AGENT,
            &[
                "--gateway",
                "127.0.0.1:9",
                flag,
                "/nonexistent/agent-ca.pem",
                "--id",
                "edge",
                "--insecure-no-auth",
                "--allow",
                "127.0.0.1",
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{flag}: {err}");
        assert!(err.contains("/nonexistent/agent-ca.pem"), "{flag}: {err}");
    }
    let keys = dir.join("hop.keys");
    std::fs::write(&keys, format!("1 {}\n", "ab".repeat(32))).unwrap();
    for flag in ["--next-hop-tls-ca", "--tls-ca"] {
        let out = run_env(
            HOP,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--key-file",
                keys.to_str().unwrap(),
                flag,
                "/nonexistent/hop-ca.pem",
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{flag}: {err}");
        assert!(
            err.contains("`--tls-ca`") && err.contains("/nonexistent/hop-ca.pem"),
            "{flag}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_names_the_environment_variables_and_hides_old_spellings() {
    // (program, subcommand, its variables, old spellings that must not be shown)
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: [Case; 5] = [
        (
            PROXY,
            &[],
            &["FERRY_PROXY_CONFIG", "FERRY_PROXY_METRICS"],
            &[],
        ),
        (
            HOP,
            &["serve"],
            &["FERRY_HOP_SERVE_CONFIG", "FERRY_HOP_METRICS"],
            &["--next-hop-tls-ca"],
        ),
        (HOP, &["access"], &["FERRY_HOP_ACCESS_CONFIG"], &[]),
        (
            GATEWAY,
            &[],
            &["FERRY_GATEWAY_CONFIG", "FERRY_GATEWAY_METRICS"],
            &["--tokens"],
        ),
        (
            AGENT,
            &[],
            &["FERRY_AGENT_CONFIG", "FERRY_AGENT_METRICS"],
            &["--ca ", "--id "],
        ),
    ];
    for (bin, sub, vars, hidden) in cases {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = run_env(bin, &args, &[]);
        assert!(out.status.success());
        let help = String::from_utf8(out.stdout).unwrap();
        for var in vars.iter().chain(&["FERRY_LOG", "FERRY_LOG_FORMAT"]) {
            assert!(help.contains(&format!("[env: {var}=]")), "{var}:\n{help}");
        }
        for old in hidden {
            assert!(!help.contains(old), "{old} shown:\n{help}");
        }
    }
}
