//! `ferry-agent` operations as processes, with a real `ferry-gateway` and curl through both:
//! SIGHUP reloads the config file during a running transfer (the connection to the gateway
//! stays, the transfer completes byte-exact, new tunnels use the new allowlist); a bad file
//! keeps the running settings and is counted; a new token file is used at the next connect;
//! `/metrics` and `/healthz`; `--log-format json`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;
#[path = "support/tunnel_env.rs"]
mod tunnel_env;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use tunnel_env::*;

const BIG: usize = 8 * 1024 * 1024;

/// An HTTP server for one download of [`BIG`] bytes of [`payload`]: it sends the head and the
/// first half, reports that on `half`, waits for `go`, then sends the rest.
fn paused_download() -> (SocketAddr, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (half_tx, half) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = payload(BIG);
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        s.write_all(&body[..BIG / 2]).unwrap();
        half_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        s.write_all(&body[BIG / 2..]).unwrap();
    });
    (addr, half, go)
}

struct Setup {
    dir: std::path::PathBuf,
    cert: String,
    key: String,
    tokens: std::path::PathBuf,
    agent_token: std::path::PathBuf,
    client_token: String,
}

fn setup(name: &str) -> Setup {
    let dir = scratch(name);
    let (cert, key) = certificate(&dir);
    let tokens = dir.join("tokens");
    let agent_token = dir.join("agent.token");
    std::fs::write(&agent_token, new_token("agent", "edge-1", &tokens)).unwrap();
    let client_token = new_token("client", "edge-1", &tokens);
    Setup {
        dir,
        cert,
        key,
        tokens,
        agent_token,
        client_token,
    }
}

#[test]
fn sighup_during_a_transfer_keeps_the_connection_and_applies_the_new_allowlist() {
    let s = setup("reload");
    let gw = gateway(&s.cert, &s.key, &s.tokens, "127.0.0.1:0");
    let (big, half, go) = paused_download();
    let a = http_server("a");
    let b = http_server("b");
    let config = s.dir.join("agent.toml");
    let allow =
        |dests: &[SocketAddr]| -> Vec<String> { dests.iter().map(|d| d.to_string()).collect() };
    std::fs::write(
        &config,
        agent_toml(gw.agents, &s.cert, &s.agent_token, &allow(&[big, a])),
    )
    .unwrap();
    let (agent, admin) = agent(&config, &[]);

    assert_eq!(
        curl(gw.client, &s.client_token, a),
        ("200".into(), "a".into())
    );
    assert_eq!(curl(gw.client, &s.client_token, b).0, "403");

    // An 8 MiB download through the tunnel, paused half way.
    let out = s.dir.join("big.out");
    let download = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-p", "-o"])
        .arg(&out)
        .arg("-x")
        .arg(format!("http://edge-1:{}@{}", s.client_token, gw.client))
        .arg(format!("http://{big}/"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    half.recv_timeout(Duration::from_secs(30)).unwrap();

    // The new file allows b only: a, and the download's destination, are denied from now on.
    std::fs::write(
        &config,
        agent_toml(gw.agents, &s.cert, &s.agent_token, &allow(&[b])),
    )
    .unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reloaded");
    assert!(line.contains("allow (next tunnel)"), "{line}");
    assert_eq!(curl(gw.client, &s.client_token, a).0, "403");
    assert_eq!(
        curl(gw.client, &s.client_token, b),
        ("200".into(), "b".into())
    );

    // The live tunnel is untouched: the rest of the download arrives, byte-exact.
    go.send(()).unwrap();
    assert_eq!(program::wait_child(download), Some(0));
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got.len(), BIG);
    assert!(got == payload(BIG), "download corrupted");

    // One connection to the gateway all along.
    let m = metrics(admin);
    for want in [
        "ferry_agent_connected 1",
        r#"ferry_agent_connects_total{kind="initial",result="ok",transport="quic"} 1"#,
        r#"ferry_config_reloads_total{result="ok"} 1"#,
        r#"ferry_agent_tunnels_total{status="ok"} 3"#,
        r#"ferry_agent_tunnels_total{status="denied"} 2"#,
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    assert!(!m.contains(r#"kind="reconnect""#), "reconnected:\n{m}");
    assert!(!m.contains("ferry_agent_disconnects_total"), "{m}");

    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_bad_file_on_reload_keeps_the_running_settings_and_is_counted() {
    let s = setup("bad");
    let gw = gateway(&s.cert, &s.key, &s.tokens, "127.0.0.1:0");
    let a = http_server("a");
    let b = http_server("b");
    let config = s.dir.join("agent.toml");
    let good = agent_toml(gw.agents, &s.cert, &s.agent_token, &[a.to_string()]);
    std::fs::write(&config, &good).unwrap();
    let (agent, admin) = agent(&config, &[]);

    // Unknown key: refused, named.
    std::fs::write(&config, format!("{good}bogus = 1\n")).unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reload failed");
    assert!(line.contains("bogus"), "{line}");
    // An allowlist that does not parse (with b allowed): refused, named.
    let bad_allow = agent_toml(
        gw.agents,
        &s.cert,
        &s.agent_token,
        &[b.to_string(), "10.0.0.0/33".into()],
    );
    std::fs::write(&config, bad_allow).unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reload failed");
    assert!(line.contains("allow[1]"), "{line}");
    // A changed gateway needs a restart: refused, named.
    let moved = good.replace(&gw.agents.to_string(), "127.0.0.1:9");
    std::fs::write(&config, moved).unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reload failed");
    assert!(
        line.contains("`gateway` changed") && line.contains("restart"),
        "{line}"
    );

    // The old settings keep serving.
    assert_eq!(
        curl(gw.client, &s.client_token, a),
        ("200".into(), "a".into())
    );
    assert_eq!(curl(gw.client, &s.client_token, b).0, "403");
    let m = metrics(admin);
    assert!(
        m.contains(r#"ferry_config_reloads_total{result="error"} 3"#),
        "{m}"
    );
    assert!(
        !m.contains(r#"ferry_config_reloads_total{result="ok"}"#),
        "{m}"
    );
    assert!(m.contains("ferry_agent_connected 1"), "{m}");

    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_new_token_file_is_used_at_the_next_connect_without_dropping_the_live_one() {
    let s = setup("token");
    let gw = gateway(&s.cert, &s.key, &s.tokens, "127.0.0.1:0");
    let a = http_server("a");
    let config = s.dir.join("agent.toml");
    // One connection: the disconnects below are counted per connection.
    std::fs::write(
        &config,
        agent_toml(gw.agents, &s.cert, &s.agent_token, &[a.to_string()]) + "connections = 1\n",
    )
    .unwrap();
    let (agent, admin) = agent(&config, &[]);

    // A second gateway's tokens: only the new agent token and a client token.
    let tokens2 = s.dir.join("tokens2");
    let new_agent_token = new_token("agent", "edge-1", &tokens2);
    let client2 = new_token("client", "edge-1", &tokens2);
    std::fs::write(&s.agent_token, format!("{new_agent_token}\n")).unwrap();
    sighup(agent.pid());
    agent.wait_for("config reloaded");
    // The live connection (authenticated with the old token) goes on.
    assert_eq!(
        curl(gw.client, &s.client_token, a),
        ("200".into(), "a".into())
    );
    let m = metrics(admin);
    assert!(!m.contains(r#"kind="reconnect""#), "{m}");

    // The gateway restarts on the same address, knowing only the new token: the agent is
    // back, with no rejection.
    let agents = gw.agents;
    assert_eq!(gw.program.terminate(), Some(0));
    let gw2 = gateway(&s.cert, &s.key, &tokens2, &agents.to_string());
    agent.wait_for("connected to the gateway");
    assert_eq!(curl(gw2.client, &client2, a), ("200".into(), "a".into()));
    let m = metrics(admin);
    for want in [
        "ferry_agent_connected 1",
        r#"ferry_agent_connects_total{kind="reconnect",result="ok",transport="quic"} 1"#,
        r#"ferry_agent_disconnects_total{reason="lost"} 1"#,
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    assert!(!m.contains(r#"result="rejected""#), "{m}");

    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw2.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// Sends CONNECT through the gateway and returns the open tunnel after its 200.
fn raw_tunnel(client: SocketAddr, token: &str, dest: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(client).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("edge-1:{token}"));
    write!(
        s,
        "CONNECT {dest} HTTP/1.1\r\nHost: {dest}\r\nProxy-Authorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

#[test]
fn metrics_show_the_connection_tunnels_and_dial_results_and_healthz_turns_503_on_drain() {
    let s = setup("metrics");
    let gw = gateway(&s.cert, &s.key, &s.tokens, "127.0.0.1:0");
    let a = http_server("hello");
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = s.dir.join("agent.toml");
    // The metrics flag wins over the file's address (taken: binding it would fail).
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        &config,
        agent_toml(
            gw.agents,
            &s.cert,
            &s.agent_token,
            &[a.to_string(), closed.to_string()],
        )
        .replace(
            "metrics = \"127.0.0.1:0\"",
            &format!("metrics = \"{}\"", taken.local_addr().unwrap()),
        ),
    )
    .unwrap();
    let (agent, admin) = agent(&config, &["--metrics", "127.0.0.1:0"]);

    let m = metrics(admin);
    for want in [
        "ferry_agent_connected 1",
        "# HELP ferry_agent_connected ",
        r#"ferry_agent_connects_total{kind="initial",result="ok",transport="quic"} 1"#,
        "# HELP ferry_agent_connects_total ",
        r#"ferry_build_info{program="ferry-agent",version=""#,
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    assert_eq!(admin_get(admin, "/healthz"), (200, "ok\n".to_owned()));

    assert_eq!(
        curl(gw.client, &s.client_token, a),
        ("200".into(), "hello".into())
    );
    // The gateway allows every port of 127.0.0.1; the agent does not allow this one.
    let denied: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(curl(gw.client, &s.client_token, denied).0, "403");
    // Allowed, but nothing listens there.
    assert_eq!(curl(gw.client, &s.client_token, closed).0, "502");
    let m = metrics_until(
        admin,
        r#"ferry_agent_bytes_total{direction="destination_to_gateway"}"#,
    );
    for want in [
        r#"ferry_agent_tunnels_total{status="ok"} 1"#,
        r#"ferry_agent_tunnels_total{status="denied"} 1"#,
        r#"ferry_agent_tunnels_total{status="refused"} 1"#,
        "# HELP ferry_agent_tunnels_total ",
        "ferry_agent_active_tunnels 0",
        "# HELP ferry_agent_active_tunnels ",
        r#"ferry_agent_bytes_total{direction="gateway_to_destination"}"#,
        "# HELP ferry_agent_bytes_total ",
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }

    // A tunnel held open, then SIGTERM: the agent drains, /healthz says so.
    let mut tunnel = raw_tunnel(gw.client, &s.client_token, a);
    metrics_until(admin, "ferry_agent_active_tunnels 1");
    let pid = agent.pid();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    poll("/healthz 503", || {
        (admin_get(admin, "/healthz").0 == 503).then_some(())
    });
    assert_eq!(admin_get(admin, "/healthz").1, "draining\n");
    // The open tunnel still works while draining; closing it lets the agent exit.
    write!(tunnel, "GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut reply = String::new();
    tunnel.read_to_string(&mut reply).unwrap();
    assert!(reply.ends_with("hello"), "{reply}");
    drop(tunnel);
    assert_eq!(agent.wait_exit(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn with_flags_only_sighup_rereads_the_token_and_ca_files() {
    let s = setup("flags");
    let gw = gateway(&s.cert, &s.key, &s.tokens, "127.0.0.1:0");
    let a = http_server("a");
    let agents = gw.agents.to_string();
    let dest = a.to_string();
    let agent = program::Program::spawn(
        AGENT,
        &[
            "--gateway",
            &agents,
            "--server-name",
            "localhost",
            "--ca",
            &s.cert,
            "--id",
            "edge-1",
            "--token-file",
            s.agent_token.to_str().unwrap(),
            "--allow",
            &dest,
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let admin = agent.addr("metrics endpoint");
    agent.wait_for("connected to the gateway");

    // Files as they are: reloaded.
    sighup(agent.pid());
    agent.wait_for("config reloaded");
    // The token file gone: refused, named; the CA file unusable: refused, named.
    let token = std::fs::read_to_string(&s.agent_token).unwrap();
    std::fs::remove_file(&s.agent_token).unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reload failed");
    assert!(line.contains("agent.token"), "{line}");
    std::fs::write(&s.agent_token, token).unwrap();
    let pem = std::fs::read_to_string(&s.cert).unwrap();
    std::fs::write(&s.cert, "not a certificate\n").unwrap();
    sighup(agent.pid());
    let line = agent.wait_for("config reload failed");
    assert!(line.contains("`ca`") && line.contains("gw.pem"), "{line}");
    std::fs::write(&s.cert, pem).unwrap();

    // Still serving, never reconnected.
    assert_eq!(
        curl(gw.client, &s.client_token, a),
        ("200".into(), "a".into())
    );
    let m = metrics(admin);
    for want in [
        r#"ferry_config_reloads_total{result="ok"} 1"#,
        r#"ferry_config_reloads_total{result="error"} 2"#,
        r#"ferry_agent_connects_total{kind="initial",result="ok",transport="quic"} 1"#,
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    assert!(!m.contains(r#"kind="reconnect""#), "{m}");
    assert_eq!(agent.terminate(), Some(0));
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&s.dir);
}
