//! Tests of the `ferry-proxy` binary as a user runs it: exit codes and messages, SIGTERM drain,
//! and surviving descriptor exhaustion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use support::{BIN, echo_upstream, sigterm};

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `--listen 127.0.0.1:0 --upstream UPSTREAM` (after `prefix` in the shell).
fn spawn_proxy(prefix: &str, upstream: SocketAddr) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let p = support::spawn_proxy(
        prefix,
        &format!("--listen 127.0.0.1:0 --upstream {upstream}"),
    );
    (p.child, p.addr, p.log)
}

#[test]
fn no_arguments_is_a_usage_error() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn bad_config_names_the_key_and_exits_before_binding() {
    let path = write_config(
        "bad.toml",
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"missing\"\n",
    );
    let out = run(&["--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("listener[0].pool"), "{err}");
    let out = run(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    let unknown = write_config("unknown.toml", "[server]\nmax_conections = 5\n");
    let out = run(&["check", unknown.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_conections"));
    let out = run(&["--listen", "nonsense", "--upstream", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn check_explains_a_good_config() {
    let path = write_config(
        "good.toml",
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[pool.p]\nupstreams = [\"127.0.0.1:9\"]\n",
    );
    let out = run(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("idle_timeout=1h"), "{text}");
    assert!(text.contains("config ok"), "{text}");
}

#[test]
fn sigterm_drains_a_live_connection_then_exits_zero() {
    let up = echo_upstream(b'T');
    let (mut child, addr, _log) = spawn_proxy("", up);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(b[0], b'T');
    sigterm(&child);
    // Still relayed after SIGTERM.
    c.write_all(b"after").unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"after");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn survives_descriptor_exhaustion() {
    let up = echo_upstream(b'E');
    // 40 descriptors: a handful of connections exhaust them.
    let (mut child, addr, _log) = spawn_proxy("ulimit -n 40 &&", up);
    let mut conns = Vec::new();
    for _ in 0..60 {
        if let Ok(c) = TcpStream::connect(addr) {
            conns.push(c);
        }
    }
    // Some were served; the rest wait in the backlog while accept fails with EMFILE.
    let mut served = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        // The first one surely gets a slot: give it time on a loaded machine.
        let wait = if i == 0 { 10_000 } else { 100 };
        c.set_read_timeout(Some(Duration::from_millis(wait)))
            .unwrap();
        let mut b = [0u8; 1];
        if c.read_exact(&mut b).is_ok() {
            served += 1;
        }
    }
    assert!(served > 0, "nothing was served");
    assert!(served < conns.len(), "the descriptor limit was not reached");
    drop(conns);
    // After the flood the proxy serves again (the back-off retries accept).
    let mut ok = false;
    for _ in 0..50 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        if c.read_exact(&mut b).is_ok() && b[0] == b'E' {
            ok = true;
            break;
        }
    }
    assert!(ok, "proxy did not recover after descriptor exhaustion");
    assert!(child.try_wait().unwrap().is_none(), "proxy exited");
    sigterm(&child);
    child.wait().unwrap();
}
