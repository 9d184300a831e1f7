//! HAProxy (Debian's `haproxy`) in front of `ferry-proxy`, sending PROXY protocol v2
//! (`send-proxy-v2`) to a listener with `accept_proxy`: ferry-proxy takes the client address
//! from HAProxy's header (its access log names the client's own port, not HAProxy's), relays
//! byte-exact, and a listener that does not trust HAProxy refuses the connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};

use ferry_test_support::process::Program;
use support::{BIN, echo_upstream};

/// An address free right now for HAProxy (it cannot report the port it bound for `:0`): on a
/// loopback address of its own per test, so that no socket another test binds on 127.0.0.1
/// can take the port between this check and HAProxy's bind.
fn free_addr() -> SocketAddr {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let host = Ipv4Addr::new(127, 77, 0, NEXT.fetch_add(1, Ordering::Relaxed));
    TcpListener::bind((host, 0)).unwrap().local_addr().unwrap()
}

/// HAProxy in TCP mode on a free loopback port, forwarding to `server` with `send-proxy-v2`.
/// Killed on drop; its log is printed when the test is failing.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Haproxy {
    fn start(server: SocketAddr) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ferry-haproxy-{}-{}",
            std::process::id(),
            server.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let addr = free_addr();
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(
            &cfg,
            format!(
                "global\n  log stderr format raw local0\n\
                 defaults\n  mode tcp\n  log global\n  option tcplog\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
                 frontend f\n  bind {addr}\n  default_backend b\n\
                 backend b\n  server ferry {server} send-proxy-v2\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("haproxy must be installed (scripts/test.sh installs it)");
        // Bounded wait until HAProxy accepts connections (it has no readiness signal).
        ferry_test_support::blocking::poll("haproxy listening", || TcpStream::connect(addr).ok());
        Self { child, addr, dir }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default();
            eprintln!("haproxy log:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(upstream: SocketAddr, trusted: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ferry-haproxy-proxy-{}-{}.toml",
        std::process::id(),
        upstream.port()
    ));
    std::fs::write(
        &path,
        format!(
            "[[listener]]\nname = \"behind-haproxy\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
             accept_proxy = {{ trusted = [\"{trusted}\"], versions = [\"v2\"] }}\n\
             [pool.p]\nupstreams = [\"{upstream}\"]\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn haproxy_send_proxy_v2_gives_ferry_the_real_client() {
    let up = echo_upstream(b'E');
    let cfg = config(up, "127.0.0.1");
    let p = Program::spawn(BIN, &["--config", cfg.to_str().unwrap()]);
    let haproxy = Haproxy::start(p.addr("listening"));

    let mut c = TcpStream::connect(haproxy.addr).unwrap();
    let client = c.local_addr().unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back[0], b'E');
    assert!(back[1..] == data[..], "bytes differ");

    // The access line names the client HAProxy saw, from the v2 header.
    let line = p.wait_for("bytes_up=100000");
    assert!(
        line.contains(&format!("client={client} ")),
        "client {client} not in: {line}"
    );
    assert_eq!(p.terminate(), Some(0));
    drop(haproxy);
    let _ = std::fs::remove_file(cfg);
}

#[test]
fn a_listener_that_does_not_trust_haproxy_refuses_it() {
    let up = echo_upstream(b'E');
    let cfg = config(up, "10.0.0.0/8");
    let p = Program::spawn(BIN, &["--config", cfg.to_str().unwrap()]);
    let haproxy = Haproxy::start(p.addr("listening"));
    let mut c = TcpStream::connect(haproxy.addr).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    assert!(back.is_empty(), "an untrusted peer got data: {back:?}");
    p.wait_for("proxy_untrusted");
    assert_eq!(p.terminate(), Some(0));
    drop(haproxy);
    let _ = std::fs::remove_file(cfg);
}
