//! `ferry-proxy --config FILE` and SIGHUP: the file is re-read and validated; a good one
//! switches new connections to the new pool while a live connection keeps flowing, a bad one
//! keeps the running config. Reloads and upstream health show on `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use support::{echo_upstream, signal, sigterm, spawn_proxy};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn config(upstream: SocketAddr) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\npolicy = \"least_connections\"\n"
    )
}

fn tag(addr: SocketAddr) -> (u8, TcpStream) {
    let mut c = TcpStream::connect(addr).unwrap();
    let mut t = [0u8; 1];
    c.read_exact(&mut t).unwrap();
    (t[0], c)
}

fn ping(c: &mut TcpStream, payload: &[u8]) {
    c.write_all(payload).unwrap();
    let mut back = vec![0u8; payload.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, payload);
}

#[test]
fn sighup_reloads_the_config_file() {
    let dir = std::env::temp_dir().join(format!("ferry-cli-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("proxy.toml");
    let (a, b) = (echo_upstream(b'A'), echo_upstream(b'B'));
    std::fs::write(&path, config(a)).unwrap();
    let mut p = spawn_proxy(
        "",
        &format!("--config {} --metrics 127.0.0.1:0", path.display()),
    );
    let line = p
        .startup
        .iter()
        .find(|l| l.contains("metrics_addr="))
        .unwrap()
        .clone();
    let at = line.find("metrics_addr=").unwrap() + "metrics_addr=".len();
    let admin: SocketAddr = line[at..].split(' ').next().unwrap().parse().unwrap();

    let (t, mut old) = tag(p.addr);
    assert_eq!(t, b'A');
    ping(&mut old, b"before");

    // A good file: new connections go to the new pool; the old one keeps flowing.
    std::fs::write(&path, config(b)).unwrap();
    signal(&p.child, rustix::process::Signal::HUP);
    p.wait_for_log("config reloaded");
    assert_eq!(tag(p.addr).0, b'B');
    ping(&mut old, b"after");

    // A bad file: logged, and the running config stays.
    std::fs::write(&path, "[[listener]]\nbind = 3\n").unwrap();
    signal(&p.child, rustix::process::Signal::HUP);
    let failed = p.wait_for_log("config reload failed");
    assert!(
        failed.contains("bind") && failed.contains("keeping the running one"),
        "{failed}"
    );
    assert_eq!(tag(p.addr).0, b'B');
    ping(&mut old, b"still");
    drop(old);

    let m = get(admin, "/metrics");
    for want in [
        r#"ferry_config_reloads_total{result="ok"} 1"#,
        r#"ferry_config_reloads_total{result="error"} 1"#,
        &format!(r#"ferry_upstream_up{{pool="p",upstream="{b}"}} 1"#),
        "ferry_upstream_connects_total{",
    ] {
        assert!(m.contains(want), "{want} missing:\n{m}");
    }
    sigterm(&p.child);
    assert!(p.child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_explains_pools_and_proxy_protocol() {
    let dir = std::env::temp_dir().join(format!("ferry-cli-check-pools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pools.toml");
    std::fs::write(
        &path,
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         accept_proxy = { trusted = [\"10.0.0.0/8\"] }\n\
         [pool.p]\nupstreams = [\"127.0.0.1:9\", { address = \"127.0.0.1:10\", weight = 4 }]\n\
         policy = \"weighted\"\nsend_proxy = \"v2\"\n\
         [pool.p.health]\ninterval = \"3s\"\nexpect = \"+OK\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(support::BIN)
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "policy=weighted",
        "127.0.0.1:10 (weight 4)",
        "send_proxy=v2",
        "ejection=after 5 failures",
        "pool p health: every 3s timeout 2s rise=2 fall=3 send=- expect=\"+OK\"",
        "accept_proxy: PROXY header required from trusted=[10.0.0.0/8]",
        "SIGHUP reloads this file",
        "config ok",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
