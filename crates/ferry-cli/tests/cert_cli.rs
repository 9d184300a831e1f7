//! `ferry-gateway cert` as a process: the files it writes (private keys 0600, nothing
//! overwritten without --force), what it prints, an agent process accepting the gateway
//! process's certificate, a reused CA; and the certificate mistakes a newcomer makes, told in
//! plain words: the gateway warns at start when its certificate is a CA certificate, and the
//! agent says why it refuses it.
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
    let dir = std::env::temp_dir().join(format!("ferry-cert-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `ferry-gateway cert ARGS --out-dir DIR`, which must succeed; its stdout.
fn cert(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["cert", "--out-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(GATEWAY, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A token file with one agent token for `edge-1`; the agent's token file.
fn agent_token(dir: &Path) -> (String, String) {
    let tokens = dir.join("tokens").display().to_string();
    let out = run(
        GATEWAY,
        &[
            "token",
            "new",
            "--role",
            "agent",
            "--agent-id",
            "edge-1",
            "--token-file",
            &tokens,
        ],
    );
    assert!(out.status.success());
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, out.stdout).unwrap();
    (tokens, token_file.display().to_string())
}

/// A gateway process presenting `cert`; its log lines up to the one saying where agents
/// connect (the certificate warnings come before it), and that address.
fn gateway(cert: &Path, key: &Path, tokens: &str) -> (Program, Vec<String>, SocketAddr) {
    let gw = Program::spawn(
        GATEWAY,
        &[
            "--agent-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--token-file",
            tokens,
            "--allow",
            "127.0.0.1",
        ],
    );
    let mut lines = Vec::new();
    loop {
        let line = gw.next_line();
        let done = line.contains("gateway agent endpoint listening");
        lines.push(line);
        if done {
            break;
        }
    }
    let last = lines.last().unwrap();
    let at = last.find("addr=").unwrap() + 5;
    let addr = last[at..].split(' ').next().unwrap().parse().unwrap();
    (gw, lines, addr)
}

fn agent(agents: SocketAddr, ca: &Path, server_name: &str, token_file: &str) -> Program {
    Program::spawn(
        AGENT,
        &[
            "--gateway",
            &agents.to_string(),
            "--server-name",
            server_name,
            "--tls-ca",
            ca.to_str().unwrap(),
            "--agent-id",
            "edge-1",
            "--token-file",
            token_file,
            "--allow",
            "127.0.0.1",
        ],
    )
}

#[test]
fn cert_writes_what_the_gateway_and_its_agents_need() {
    let dir = scratch("fresh");
    let pki = dir.join("pki");
    let out = cert(&pki, &["--name", "localhost", "--ip", "127.0.0.1"]);
    let p = |name: &str| pki.join(name).display().to_string();
    assert!(
        out.contains(&format!(
            "--tls-cert {} --tls-key {}",
            p("gateway.pem"),
            p("gateway.key")
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("--tls-ca {} --server-name localhost", p("ca.pem"))),
        "{out}"
    );
    assert!(
        out.contains(&format!("[cluster] peer_ca = \"{}\"", p("ca.pem"))),
        "{out}"
    );
    assert_eq!(mode(&pki.join("ca.key")), 0o600);
    assert_eq!(mode(&pki.join("gateway.key")), 0o600);
    // The chain is the certificate, then the CA.
    assert!(text(&pki.join("gateway.pem")).ends_with(&text(&pki.join("ca.pem"))));

    // A gateway process presenting it, an agent process trusting ca.pem, for the name and the
    // IP: both connect, and the gateway did not warn about its certificate.
    let (tokens, token_file) = agent_token(&dir);
    let (gw, start, agents) = gateway(&pki.join("gateway.pem"), &pki.join("gateway.key"), &tokens);
    assert!(
        !start.iter().any(|l| l.contains("WARN")),
        "no warning at start: {start:?}"
    );
    let by_name = agent(agents, &pki.join("ca.pem"), "localhost", &token_file);
    by_name.wait_for("connected to the gateway");
    assert_eq!(by_name.terminate(), Some(0));
    let by_ip = agent(agents, &pki.join("ca.pem"), "127.0.0.1", &token_file);
    by_ip.wait_for("connected to the gateway");
    assert_eq!(by_ip.terminate(), Some(0));
    assert_eq!(gw.terminate(), Some(0));
}

#[test]
fn cert_keeps_existing_files_unless_forced() {
    let dir = scratch("force");
    cert(&dir, &["--name", "gw.test"]);
    let before = text(&dir.join("ca.pem"));

    let out = run(
        GATEWAY,
        &[
            "cert",
            "--name",
            "gw.test",
            "--out-dir",
            dir.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("ferry-gateway: ")
            && err.contains("ca.pem already exists; pass --force to replace it"),
        "{err}"
    );
    assert_eq!(text(&dir.join("ca.pem")), before, "nothing was written");

    // --force replaces every file; a key made readable meanwhile is private again.
    std::fs::set_permissions(
        dir.join("gateway.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    cert(&dir, &["--name", "gw.test", "--force"]);
    assert_ne!(text(&dir.join("ca.pem")), before);
    assert_eq!(mode(&dir.join("gateway.key")), 0o600);
}

#[test]
fn cert_issues_more_certificates_with_an_existing_ca() {
    let dir = scratch("reuse");
    let first = dir.join("first");
    cert(&first, &["--name", "localhost"]);
    let (ca, ca_key) = (first.join("ca.pem"), first.join("ca.key"));
    let second = dir.join("second");
    let out = cert(
        &second,
        &[
            "--ca-cert",
            ca.to_str().unwrap(),
            "--ca-key",
            ca_key.to_str().unwrap(),
            "--ip",
            "127.0.0.1",
            "--file-name",
            "peer",
        ],
    );
    assert!(
        out.contains(&format!("issued by the CA in {}", ca.display())),
        "{out}"
    );
    assert!(!second.join("ca.pem").exists() && !second.join("ca.key").exists());

    // An agent trusting the first run's ca.pem accepts the second certificate.
    let (tokens, token_file) = agent_token(&dir);
    let (gw, _, agents) = gateway(&second.join("peer.pem"), &second.join("peer.key"), &tokens);
    let a = agent(agents, &ca, "127.0.0.1", &token_file);
    a.wait_for("connected to the gateway");
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(gw.terminate(), Some(0));
}

#[test]
fn cert_refuses_a_name_that_is_not_a_dns_name() {
    let dir = scratch("bad-name");
    let out = run(
        GATEWAY,
        &[
            "cert",
            "--name",
            "not a name",
            "--out-dir",
            dir.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("invalid server name \"not a name\""), "{err}");
    assert!(!dir.join("ca.pem").exists());
}

/// The newcomer's mistake: the CA certificate given to the gateway as its own. The gateway
/// says so at start, and the agent says why it refuses it, instead of
/// `invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`.
#[test]
fn ca_certificate_as_the_gateways_is_warned_and_explained() {
    let dir = scratch("ca-as-leaf");
    cert(&dir, &["--name", "localhost"]);
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (tokens, token_file) = agent_token(&dir);
    let (gw, start, agents) = gateway(&ca, &ca_key, &tokens);
    let warnings: Vec<&String> = start.iter().filter(|l| l.contains("WARN")).collect();
    // One line per problem: a CA certificate, and one naming no host.
    assert_eq!(warnings.len(), 2, "{start:?}");
    let warning = warnings[0];
    assert!(
        warning.contains("WARN")
            && warning.contains(&format!("the certificate in {}", ca.display()))
            && warning.contains("clients refuse it as a server certificate")
            && warning.contains("`ferry-gateway cert --name NAME --out-dir DIR`")
            && warning.contains("refused_by=\"agents\""),
        "{warning}"
    );

    let a = agent(agents, &ca, "localhost", &token_file);
    let refused = a.wait_for("cannot connect to the gateway");
    assert!(
        refused.contains("presents a CA certificate (basicConstraints CA:TRUE)")
            && refused.contains("`ferry-gateway cert`"),
        "{refused}"
    );
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(gw.terminate(), Some(0));
}

/// The agent trusting another CA than the one that issued the gateway's certificate names
/// its CA file.
#[test]
fn certificate_from_another_ca_is_explained_by_the_agent() {
    let dir = scratch("other-ca");
    let (gw_dir, other_dir) = (dir.join("gw"), dir.join("other"));
    cert(&gw_dir, &["--name", "localhost"]);
    cert(&other_dir, &["--name", "localhost"]);
    let (tokens, token_file) = agent_token(&dir);
    let (gw, _, agents) = gateway(
        &gw_dir.join("gateway.pem"),
        &gw_dir.join("gateway.key"),
        &tokens,
    );
    let other_ca = other_dir.join("ca.pem");
    let a = agent(agents, &other_ca, "localhost", &token_file);
    let refused = a.wait_for("cannot connect to the gateway");
    assert!(
        refused.contains(&format!(
            "is not signed by the CA in {} (ca / --tls-ca)",
            other_ca.display()
        )),
        "{refused}"
    );
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(gw.terminate(), Some(0));
}
