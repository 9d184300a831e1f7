//! `ferry-gateway` and `ferry-agent` as processes: bad flags and missing credentials fail with
//! one readable line and a non-zero exit; tokens from `ferry-gateway token new`; a gateway and
//! an agent carrying `curl -x http://AGENT:TOKEN@...` to a local HTTP server; SIGTERM drains
//! and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[path = "support/program.rs"]
mod program;

use program::Program;

const GATEWAY: &str = env!("CARGO_BIN_EXE_ferry-gateway");
const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-tunnel-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("FERRY_TEST_UNSET")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Exit 64 and exactly one stderr line starting with the program name and containing `needle`.
fn assert_usage_error(out: &Output, program: &str, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with(&format!("{program}: ")), "{err}");
    assert!(lines[0].contains(needle), "{needle:?} not in {err}");
}

/// Certificate and key for 127.0.0.1 / localhost, written to `dir`.
fn certificate(dir: &Path) -> (String, String) {
    let cert = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
    let (c, k) = (dir.join("gw.pem"), dir.join("gw.key"));
    std::fs::write(&c, cert.cert_pem()).unwrap();
    std::fs::write(&k, cert.key_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
fn bad_flags_and_missing_credentials_fail_with_one_line() {
    let dir = scratch("flags");
    let (cert, key) = certificate(&dir);
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "").unwrap();
    let tokens = tokens.display().to_string();

    // Unknown flag: clap's usage error, exit 64.
    let out = run(GATEWAY, &["--bogus"]);
    assert_eq!(out.status.code(), Some(64));
    let out = run(AGENT, &["--bogus"]);
    assert_eq!(out.status.code(), Some(64));

    // The gateway has no unauthenticated mode.
    let gw = [
        "--agent-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--allow",
        "127.0.0.1",
    ];
    assert_usage_error(
        &run(GATEWAY, &gw),
        "ferry-gateway",
        "auth.tokens or auth.jwt_keys",
    );
    // A missing key file is named.
    let mut args = gw.to_vec();
    args.extend(["--tokens", &tokens]);
    args[7] = "/nonexistent/gw.key";
    assert_usage_error(&run(GATEWAY, &args), "ferry-gateway", "/nonexistent/gw.key");

    // The agent fails closed without credentials.
    let agent = [
        "--gateway",
        "127.0.0.1:4433",
        "--ca",
        &cert,
        "--id",
        "edge-1",
        "--allow",
        "127.0.0.1",
    ];
    assert_usage_error(&run(AGENT, &agent), "ferry-agent", "no credentials");
    let mut args = agent.to_vec();
    args.extend(["--token-env", "FERRY_TEST_UNSET"]);
    assert_usage_error(
        &run(AGENT, &args),
        "ferry-agent",
        "FERRY_TEST_UNSET is not set",
    );
    let mut args = agent.to_vec();
    args.extend(["--token-file", "/nonexistent/agent.token"]);
    assert_usage_error(
        &run(AGENT, &args),
        "ferry-agent",
        "/nonexistent/agent.token",
    );
    // Both credential sources at once is a usage error too.
    args.extend(["--token-env", "X"]);
    assert_eq!(run(AGENT, &args).status.code(), Some(64));
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_server() -> SocketAddr {
    ferry_test_support::blocking::http_ok("hello")
}

/// `ferry-gateway token new`: prints the token, appends the hash line.
fn new_token(role: &str, agent: &str, tokens: &str) -> String {
    let out = run(
        GATEWAY,
        &[
            "token", "new", "--role", role, "--agent", agent, "--tokens", tokens,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn curl_through_gateway_and_agent_processes_then_sigterm_drains() {
    let dir = scratch("e2e");
    let (cert, key) = certificate(&dir);
    let tokens = dir.join("tokens").display().to_string();
    let agent_token = dir.join("agent.token");
    std::fs::write(&agent_token, new_token("agent", "edge-1", &tokens)).unwrap();
    let client_token = new_token("client", "edge-1", &tokens);

    let gateway = Program::spawn(
        GATEWAY,
        &[
            "--agent-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tokens",
            &tokens,
            "--allow",
            "127.0.0.1",
        ],
    );
    let agents = gateway.addr("gateway agent endpoint listening");
    let client = gateway.addr("gateway client front listening");
    let agent = Program::spawn(
        AGENT,
        &[
            "--gateway",
            &agents.to_string(),
            "--server-name",
            "localhost",
            "--ca",
            &cert,
            "--id",
            "edge-1",
            "--token-file",
            agent_token.to_str().unwrap(),
            "--allow",
            "127.0.0.1",
        ],
    );
    agent.wait_for("connected to the gateway");

    let http = http_server();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-p", "-x"])
        .arg(format!("http://edge-1:{client_token}@{client}"))
        .arg(format!("http://{http}/"))
        .stdin(Stdio::null())
        .output()
        .expect("curl must be installed (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    gateway.wait_for("status=200");

    assert_eq!(agent.terminate(), Some(0), "agent exit code after SIGTERM");
    assert_eq!(
        gateway.terminate(),
        Some(0),
        "gateway exit code after SIGTERM"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
