//! Client certificates (mTLS) with the real programs: `ferry-gateway cert --client` issues an
//! agent's certificate, a `ferry-agent` process presents it (no token) to a `ferry-gateway`
//! process with `auth.agent_auth = "certificate"`, curl reaches a server through it; SIGHUP
//! with the certificate's serial in `agent_revoked_serials` disconnects the agent and keeps
//! it out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;

use program::Program;
use tunnel::{Gateway, curl, gateway_toml, http_server, new_token, run, scratch};

const GATEWAY: &str = env!("CARGO_BIN_EXE_ferry-gateway");
const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `ferry-gateway cert ARGS`, which must succeed; its stdout.
fn cert(args: &[&str]) -> String {
    let mut all = vec!["cert"];
    all.extend_from_slice(args);
    let out = run(GATEWAY, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn cert_client_makes_an_agent_certificate_and_sighup_revokes_it_by_serial() {
    let dir = scratch("mtls");
    let (pki, clients) = (dir.join("pki"), dir.join("clients"));
    cert(&[
        "--name",
        "localhost",
        "--ip",
        "127.0.0.1",
        "--out-dir",
        s(&pki),
    ]);
    let (ca, ca_key) = (pki.join("ca.pem"), pki.join("ca.key"));
    let out = cert(&[
        "--client",
        "--agent-id",
        "edge-1",
        "--ca-cert",
        s(&ca),
        "--ca-key",
        s(&ca_key),
        "--out-dir",
        s(&clients),
    ]);
    let (agent_cert, agent_key) = (clients.join("edge-1.pem"), clients.join("edge-1.key"));
    assert!(
        out.contains(&format!(
            "--agent-id edge-1 --tls-cert {} --tls-key {}",
            agent_cert.display(),
            agent_key.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("agent_ca = \"{}\"", ca.display())),
        "{out}"
    );
    assert_eq!(mode(&agent_key), 0o600);
    let at = out.find("(serial ").unwrap() + "(serial ".len();
    let serial = out[at..].split(')').next().unwrap().to_owned();

    // A server certificate is not an agent id: --agent-id only with --client, not with --name.
    let refused = run(
        GATEWAY,
        &["cert", "--agent-id", "edge-2", "--out-dir", s(&clients)],
    );
    assert!(!refused.status.success());

    let tokens = dir.join("tokens");
    let client = new_token("client", "edge-1", &tokens);
    let config = dir.join("gateway.toml");
    let auth = format!(
        "[auth]\ntokens = TOKENS\nagent_auth = \"certificate\"\nagent_ca = {:?}",
        ca.display().to_string()
    );
    let write = |extra: &str| {
        let text = gateway_toml(
            &pki.join("gateway.pem"),
            &pki.join("gateway.key"),
            &tokens,
            "\"127.0.0.1\"",
            &format!("{auth}\n{extra}"),
        );
        std::fs::write(&config, text).unwrap();
    };
    write("");
    let gw = Gateway::start(&config);
    let agent = Program::spawn(
        AGENT,
        &[
            "--gateway",
            &gw.agents.to_string(),
            "--server-name",
            "localhost",
            "--tls-ca",
            s(&ca),
            "--agent-id",
            "edge-1",
            "--tls-cert",
            s(&agent_cert),
            "--tls-key",
            s(&agent_key),
            "--allow",
            "127.0.0.1",
        ],
    );
    agent.wait_for("connected to the gateway");
    let http = http_server();
    assert_eq!(
        curl(gw.client, "edge-1", &client, http),
        (200, "hello".to_owned())
    );

    write(&format!("agent_revoked_serials = [\"{serial}\"]"));
    let line = gw.reload();
    assert!(
        line.contains("agents disconnected (credential revoked): edge-1"),
        "{line}"
    );
    // It comes back and is refused: by the gateway's TLS layer (certificate revoked) on a full
    // handshake, by its verifier (bad credential) on a resumed session.
    loop {
        let line = agent.next_line();
        if line.contains("certificate revoked") || line.contains("gateway rejected the agent") {
            break;
        }
    }
    assert_eq!(curl(gw.client, "edge-1", &client, http).0, 503);
    assert_eq!(gw.metric("ferry_tunnel_agents_connected"), 0.0);
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
