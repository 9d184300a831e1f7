//! `ferry-gateway --config FILE` and SIGHUP, with a real agent process and real clients (curl,
//! and raw CONNECT streams for transfers the test holds open across the reload): a good file
//! applies to new CONNECTs while a live transfer completes byte-exact; a bad file or a changed
//! listen address keeps the running config (counted); a removed client token gives 407 from
//! the next CONNECT while the agent stays connected; a removed agent token disconnects the
//! agent and refuses it; `auth.revoked_client_tunnels = "cut"` cuts the revoked client's live
//! tunnel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;

use tunnel::{
    Gateway, agent, connect, curl, gated_source, gateway_toml, http_server, new_token,
    read_pattern, remove_token, scratch,
};

const MIB: usize = 1 << 20;
const AUTH: &str = "[auth]\ntokens = TOKENS";

/// A scratch directory with a certificate, a token file holding one agent token (`edge-1`,
/// written to `agent.token`) and the client tokens asked for.
struct Setup {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    tokens: PathBuf,
    agent_token: PathBuf,
    clients: Vec<String>,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, clients: usize) -> Self {
        let dir = scratch(name);
        let (cert, key) = tunnel::certificate(&dir, "gw");
        let tokens = dir.join("tokens");
        let agent_token = dir.join("agent.token");
        std::fs::write(&agent_token, new_token("agent", "edge-1", &tokens)).unwrap();
        let clients = (0..clients)
            .map(|_| new_token("client", "edge-1", &tokens))
            .collect();
        let config = dir.join("gateway.toml");
        Self {
            dir,
            cert,
            key,
            tokens,
            agent_token,
            clients,
            config,
        }
    }

    fn write_config(&self, allow: &str, extra: &str) {
        let text = gateway_toml(&self.cert, &self.key, &self.tokens, allow, extra);
        std::fs::write(&self.config, text).unwrap();
    }

    fn start(&self) -> (Gateway, program::Program) {
        let gw = Gateway::start(&self.config);
        let agent = agent(gw.agents, &self.cert, "edge-1", &self.agent_token);
        (gw, agent)
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.path());
    }
}

#[test]
fn sighup_during_a_transfer_keeps_it_and_new_connects_use_the_new_allowlist() {
    let s = Setup::new("allow", 1);
    let client = &s.clients[0];
    let (source, release) = gated_source(8 * MIB, 4 * MIB);
    let http = http_server();
    s.write_config("\"127.0.0.1\"", AUTH);
    let (gw, agent) = s.start();
    assert_eq!(
        curl(gw.client, "edge-1", client, http),
        (200, "hello".to_owned())
    );

    // A transfer half done when the reload comes.
    let (code, mut live) = connect(gw.client, "edge-1", client, source);
    assert_eq!(code, 200);
    read_pattern(&mut live, 0, 4 * MIB);

    // Only the source's port stays allowed.
    s.write_config(&format!("\"127.0.0.1:{}\"", source.port()), AUTH);
    let line = gw.reload();
    assert!(line.contains("config reloaded"), "{line}");
    assert_eq!(curl(gw.client, "edge-1", client, http).0, 403);

    // The live transfer completes, byte-exact, after the reload.
    release.send(()).unwrap();
    read_pattern(&mut live, 4 * MIB, 4 * MIB);
    let mut rest = Vec::new();
    live.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{} bytes past the end", rest.len());
    assert_eq!(gw.metric("ferry_config_reloads_total{result=\"ok\"}"), 1.0);
    assert_eq!(
        gw.metric("ferry_tunnel_agent_auth_total{result=\"ok\",transport=\"quic\"}"),
        1.0
    );
    // Every gateway metric comes with its HELP text.
    let text = gw.metrics();
    for name in [
        "ferry_gateway_replies_total",
        "ferry_gateway_tunnels_total",
        "ferry_tunnel_agents_connected",
        "ferry_tunnel_agent_auth_total",
        "ferry_config_reloads_total",
        "ferry_build_info",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
    drop(live);
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

#[test]
fn refused_reloads_keep_the_running_config_and_are_counted() {
    let s = Setup::new("refused", 1);
    let client = &s.clients[0];
    let http = http_server();
    s.write_config("\"127.0.0.1\"", AUTH);
    let (gw, agent) = s.start();
    assert_eq!(curl(gw.client, "edge-1", client, http).0, 200);

    // A bad allowlist pattern: refused, naming the key; the old allowlist still serves.
    s.write_config("\"127.0.0.1:99999\"", AUTH);
    let line = gw.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(line.contains("allow"), "{line}");
    assert_eq!(
        curl(gw.client, "edge-1", client, http),
        (200, "hello".to_owned())
    );
    assert_eq!(
        gw.metric("ferry_config_reloads_total{result=\"error\"}"),
        1.0
    );

    // A changed listen address needs a restart: refused, the old listener serves on.
    let text = gateway_toml(&s.cert, &s.key, &s.tokens, "\"127.0.0.1\"", AUTH).replace(
        "listen = \"127.0.0.1:0\"\nagent",
        "listen = \"127.0.0.2:0\"\nagent",
    );
    std::fs::write(&s.config, text).unwrap();
    let line = gw.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(line.contains("`listen` changed"), "{line}");
    assert_eq!(curl(gw.client, "edge-1", client, http).0, 200);
    assert_eq!(
        gw.metric("ferry_config_reloads_total{result=\"error\"}"),
        2.0
    );
    assert_eq!(gw.metric("ferry_config_reloads_total{result=\"ok\"}"), 0.0);
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

#[test]
fn removed_client_token_gets_407_while_the_agent_and_other_clients_go_on() {
    let s = Setup::new("client", 2);
    let (revoked, other) = (&s.clients[0], &s.clients[1]);
    let (source, release) = gated_source(8 * MIB, 4 * MIB);
    let http = http_server();
    s.write_config("\"127.0.0.1\"", AUTH);
    let (gw, agent) = s.start();

    let (code, mut live) = connect(gw.client, "edge-1", revoked, source);
    assert_eq!(code, 200);
    read_pattern(&mut live, 0, 4 * MIB);

    remove_token(&s.tokens, revoked);
    let line = gw.reload();
    assert!(line.contains("config reloaded"), "{line}");
    assert_eq!(curl(gw.client, "edge-1", revoked, http).0, 407);
    assert_eq!(
        curl(gw.client, "edge-1", other, http),
        (200, "hello".to_owned())
    );
    // The agent kept its one connection: no second authentication, still connected.
    assert_eq!(
        gw.metric("ferry_tunnel_agent_auth_total{result=\"ok\",transport=\"quic\"}"),
        1.0
    );
    assert_eq!(
        gw.metric("ferry_tunnel_agents_connected{transport=\"quic\"}"),
        1.0
    );

    // By default the revoked client's live tunnel runs to its end.
    release.send(()).unwrap();
    read_pattern(&mut live, 4 * MIB, 4 * MIB);
    drop(live);
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

#[test]
fn cut_policy_cuts_the_revoked_clients_live_tunnel_only() {
    let s = Setup::new("cut", 2);
    let (revoked, other) = (&s.clients[0], &s.clients[1]);
    let (source_a, _hold_a) = gated_source(8 * MIB, MIB);
    let (source_b, release_b) = gated_source(2 * MIB, MIB);
    s.write_config(
        "\"127.0.0.1\"",
        &format!("{AUTH}\nrevoked_client_tunnels = \"cut\""),
    );
    let (gw, agent) = s.start();

    let (code, mut a) = connect(gw.client, "edge-1", revoked, source_a);
    assert_eq!(code, 200);
    read_pattern(&mut a, 0, MIB);
    let (code, mut b) = connect(gw.client, "edge-1", other, source_b);
    assert_eq!(code, 200);
    read_pattern(&mut b, 0, MIB);

    remove_token(&s.tokens, revoked);
    let lines = gw.reload_lines();
    let line = lines.last().unwrap();
    assert!(
        line.contains("client tunnels cut (credential revoked): 1"),
        "{line}"
    );
    // The revoked client's tunnel ends early (its source never sent the rest).
    let mut rest = Vec::new();
    let _ = a.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{} bytes after the cut", rest.len());
    // The other client's tunnel completes.
    release_b.send(()).unwrap();
    read_pattern(&mut b, MIB, MIB);
    // Its access-log line (written after its metrics) may come before the reload's.
    let cut = "end=\"cut_revoked\"";
    if !lines.iter().any(|l| l.contains(cut)) {
        gw.program.wait_for(cut);
    }
    assert_eq!(
        gw.metric("ferry_gateway_tunnels_total{end=\"cut_revoked\"}"),
        1.0
    );
    drop((a, b));
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

#[test]
fn removed_agent_token_disconnects_the_agent_and_refuses_it() {
    let s = Setup::new("agent", 1);
    let client = &s.clients[0];
    let http = http_server();
    s.write_config("\"127.0.0.1\"", AUTH);
    let (gw, agent) = s.start();
    assert_eq!(curl(gw.client, "edge-1", client, http).0, 200);

    let token = std::fs::read_to_string(&s.agent_token).unwrap();
    remove_token(&s.tokens, token.trim());
    let line = gw.reload();
    assert!(
        line.contains("agents disconnected (credential revoked): edge-1"),
        "{line}"
    );
    // The agent notices, comes back, and is refused.
    agent.wait_for("gateway rejected the agent");
    assert_eq!(curl(gw.client, "edge-1", client, http).0, 503);
    assert_eq!(gw.metric("ferry_tunnel_agents_revoked_total"), 1.0);
    assert_eq!(
        gw.metric("ferry_tunnel_agents_connected{transport=\"quic\"}"),
        0.0
    );
    assert!(
        gw.metric("ferry_tunnel_agent_auth_total{result=\"bad_credential\",transport=\"quic\"}")
            >= 1.0
    );
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

#[test]
fn with_flags_only_sighup_rereads_the_token_file() {
    let s = Setup::new("flags", 2);
    let (revoked, other) = (&s.clients[0], &s.clients[1]);
    let http = http_server();
    let gw = Gateway::start_args(&[
        "--agent-listen",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--tls-cert",
        s.cert.to_str().unwrap(),
        "--tls-key",
        s.key.to_str().unwrap(),
        "--tokens",
        s.tokens.to_str().unwrap(),
        "--allow",
        "127.0.0.1",
    ]);
    let agent = agent(gw.agents, &s.cert, "edge-1", &s.agent_token);
    assert_eq!(curl(gw.client, "edge-1", revoked, http).0, 200);
    remove_token(&s.tokens, revoked);
    let line = gw.reload();
    assert!(line.contains("config reloaded"), "{line}");
    assert_eq!(curl(gw.client, "edge-1", revoked, http).0, 407);
    assert_eq!(curl(gw.client, "edge-1", other, http).0, 200);
    // A token file that cannot be read keeps the running one.
    std::fs::remove_file(&s.tokens).unwrap();
    let line = gw.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(line.contains(s.tokens.to_str().unwrap()), "{line}");
    assert_eq!(curl(gw.client, "edge-1", other, http).0, 200);
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}

/// `curl -x https://...` through the TLS client front, trusting `ca`: the CONNECT status, 0
/// when the TLS handshake with the front failed.
fn curl_tls(
    proxy: std::net::SocketAddr,
    token: &str,
    ca: &Path,
    target: std::net::SocketAddr,
) -> u16 {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-p",
            "-o",
            "/dev/null",
            "-w",
            "%{http_connect}",
        ])
        .arg("--proxy-cacert")
        .arg(ca)
        .arg("-x")
        .arg(format!("https://edge-1:{token}@{proxy}"))
        .arg(format!("http://{target}/"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("curl must be installed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn client_certificate_renewed_in_place_is_served_after_sighup() {
    let s = Setup::new("client-tls", 1);
    let client = &s.clients[0];
    let http = http_server();
    let (front_cert, front_key) = tunnel::certificate(&s.dir, "front");
    let old_ca = s.dir.join("front-old.pem");
    std::fs::copy(&front_cert, &old_ca).unwrap();
    s.write_config(
        "\"127.0.0.1\"",
        &format!(
            "[client_tls]\ncert = {:?}\nkey = {:?}\n{AUTH}",
            front_cert.display().to_string(),
            front_key.display().to_string()
        ),
    );
    let (gw, agent) = s.start();
    assert_eq!(curl_tls(gw.client, client, &old_ca, http), 200);

    // Renewed under the same paths.
    let renewed = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(&front_cert, renewed.cert_pem()).unwrap();
    std::fs::write(&front_key, renewed.key_pem()).unwrap();
    let line = gw.reload();
    assert!(line.contains("client certificate"), "{line}");
    assert_eq!(curl_tls(gw.client, client, &front_cert, http), 200);
    assert_eq!(
        curl_tls(gw.client, client, &old_ca, http),
        0,
        "old certificate still served"
    );
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
}
