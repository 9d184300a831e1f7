//! A gateway and an agent as processes for the agent's operations tests (included through
//! `#[path]`): scratch directories, certificates, tokens, HTTP destinations, curl through the
//! gateway, metrics scrapes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::program::Program;

// The gateway harness's basics (binaries, scratch directories, tokens, certificates) are
// shared with the gateway tests.

#[allow(unused_imports)] // each test binary uses some of them
pub(crate) use super::tunnel::{AGENT, GATEWAY, new_token, run, scratch};

/// Certificate and key for 127.0.0.1 / localhost, written to `dir`: (cert, key) paths.
pub(crate) fn certificate(dir: &Path) -> (String, String) {
    let (c, k) = super::tunnel::certificate(dir, "gw");
    (c.display().to_string(), k.display().to_string())
}

/// A running gateway: its process, agent (QUIC) and client (HTTP CONNECT) addresses.
pub(crate) struct Gateway {
    pub(crate) program: Program,
    pub(crate) agents: SocketAddr,
    pub(crate) client: SocketAddr,
}

/// Starts a gateway allowing 127.0.0.1 (every port), agents on `agent_listen`.
pub(crate) fn gateway(cert: &str, key: &str, tokens: &Path, agent_listen: &str) -> Gateway {
    let program = Program::spawn(
        GATEWAY,
        &[
            "--agent-listen",
            agent_listen,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--token-file",
            tokens.to_str().unwrap(),
            "--allow",
            "127.0.0.1",
        ],
    );
    let agents = program.addr("gateway agent endpoint listening");
    let client = program.addr("gateway client front listening");
    Gateway {
        program,
        agents,
        client,
    }
}

/// An agent config file's text.
pub(crate) fn agent_toml(
    gateway: SocketAddr,
    ca: &str,
    token_file: &Path,
    allow: &[String],
) -> String {
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "gateway = \"{gateway}\"\nserver_name = \"localhost\"\nca = {ca:?}\nagent_id = \"edge-1\"\n\
         token_file = {:?}\nallow = [{}]\nreconnect_min = \"100ms\"\nreconnect_max = \"300ms\"\n\
         metrics = \"127.0.0.1:0\"\n",
        token_file.display().to_string(),
        allow.join(", ")
    )
}

/// Starts `ferry-agent --config FILE` (plus `extra`), waits until it is connected; returns it
/// and its metrics address.
pub(crate) fn agent(config: &Path, extra: &[&str]) -> (Program, SocketAddr) {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let program = Program::spawn(AGENT, &args);
    let metrics = program.addr("metrics endpoint");
    program.wait_for("connected to the gateway");
    (program, metrics)
}

/// `kill -HUP pid`.
pub(crate) fn sighup(pid: u32) {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A GET on the admin endpoint: (status code, body).
pub(crate) fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// The `/metrics` text.
pub(crate) fn metrics(addr: SocketAddr) -> String {
    let (code, body) = admin_get(addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    body
}

/// Calls `f` every 20 ms until it returns `Some` (at most 20 s, then fails naming `what`).
pub(crate) fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    ferry_test_support::blocking::poll(what, f)
}

/// Polls `/metrics` until it contains `want` (bounded); returns the text.
pub(crate) fn metrics_until(addr: SocketAddr, want: &str) -> String {
    poll(want, || Some(metrics(addr)).filter(|m| m.contains(want)))
}

/// A threaded HTTP server answering every request with 200 and `body`.
pub(crate) fn http_server(body: &'static str) -> SocketAddr {
    ferry_test_support::blocking::http_ok(body)
}

/// `curl -p -x http://edge-1:TOKEN@client http://dest/`: the CONNECT reply's status code
/// (`000` when there was none) and the body.
pub(crate) fn curl(client: SocketAddr, token: &str, dest: SocketAddr) -> (String, String) {
    let (code, body) = super::tunnel::curl(client, "edge-1", token, dest);
    (format!("{code:03}"), body)
}

/// Deterministic bytes.
pub(crate) fn payload(len: usize) -> Vec<u8> {
    ferry_test_support::payload(len, 1)
}
