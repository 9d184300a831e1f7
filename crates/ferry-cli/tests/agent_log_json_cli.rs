//! `ferry-agent --log-format json`: every stderr line, from start through a tunnel, a reload, a
//! refused reload and the drain, is one JSON object.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;
#[path = "support/tunnel_env.rs"]
mod tunnel_env;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tunnel_env::*;

/// Reads lines into `seen` until one contains `needle` (bounded: 30 s per line).
fn read_until(log: &mpsc::Receiver<String>, seen: &mut Vec<String>, needle: &str) {
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line containing {needle:?} in {seen:#?}"));
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return;
        }
    }
}

#[test]
fn every_log_line_is_one_json_object() {
    let dir = scratch("json");
    let (cert, key) = certificate(&dir);
    let tokens = dir.join("tokens");
    let agent_token = dir.join("agent.token");
    std::fs::write(&agent_token, new_token("agent", "edge-1", &tokens)).unwrap();
    let client_token = new_token("client", "edge-1", &tokens);
    let gw = gateway(&cert, &key, &tokens, "127.0.0.1:0");
    let a = http_server("a");
    let config = dir.join("agent.toml");
    let good = agent_toml(gw.agents, &cert, &agent_token, &[a.to_string()]);
    std::fs::write(&config, &good).unwrap();

    let mut child = Command::new(AGENT)
        .args(["--config", config.to_str().unwrap(), "--log-format", "json"])
        .args(["--log", "info"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = program::stderr_lines(&mut child);
    let mut seen = Vec::new();
    read_until(&log, &mut seen, "connected to the gateway");
    assert_eq!(
        curl(gw.client, &client_token, a),
        ("200".into(), "a".into())
    );

    let pid = child.id();
    sighup(pid);
    read_until(&log, &mut seen, "config reloaded");
    std::fs::write(&config, format!("{good}bogus = 1\n")).unwrap();
    sighup(pid);
    read_until(&log, &mut seen, "config reload failed");

    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    read_until(&log, &mut seen, "agent stopped");
    assert_eq!(program::wait_child(child), Some(0));
    // The rest, up to the end of the pipe.
    while let Ok(line) = log.recv_timeout(Duration::from_secs(10)) {
        seen.push(line);
    }

    assert!(seen.len() >= 6, "{seen:#?}");
    for line in &seen {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let object = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(object.contains_key(key), "{key} missing: {line}");
        }
    }
    let failed = seen
        .iter()
        .find(|l| l.contains("config reload failed"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(failed).unwrap();
    assert_eq!(v["level"], "ERROR");
    assert!(
        v["fields"]["error"].as_str().unwrap().contains("bogus"),
        "{failed}"
    );
    assert_eq!(gw.program.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
