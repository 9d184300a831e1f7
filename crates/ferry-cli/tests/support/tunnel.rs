//! Gateway and agent processes for the gateway CLI tests (through `#[path]`): scratch
//! directories, certificates, tokens from `ferry-gateway token new`, a gateway started from a
//! config file and an agent connected to it, raw CONNECTs, `/metrics` scrapes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;

use super::program::Program;

pub(crate) const GATEWAY: &str = env!("CARGO_BIN_EXE_ferry-gateway");
pub(crate) const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Certificate and key for 127.0.0.1 / localhost, written to `dir` as `name.pem` / `name.key`.
pub(crate) fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.cert_pem()).unwrap();
    std::fs::write(&k, cert.key_pem()).unwrap();
    (c, k)
}

/// `ferry-gateway token new`: prints the token, appends the hash line to `tokens`.
pub(crate) fn new_token(role: &str, agent: &str, tokens: &Path) -> String {
    let out = run(
        GATEWAY,
        &[
            "token",
            "new",
            "--role",
            role,
            "--agent-id",
            agent,
            "--token-file",
            tokens.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Removes the token-file line that holds the hash of `token`.
pub(crate) fn remove_token(tokens: &Path, token: &str) {
    use ring::digest::{SHA256, digest};
    let hash: String = digest(&SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = std::fs::read_to_string(tokens).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.to_ascii_lowercase().contains(&hash))
        .collect();
    assert_eq!(kept.len() + 1, text.lines().count(), "token line not found");
    std::fs::write(tokens, kept.join("\n") + "\n").unwrap();
}

/// A gateway process from `config`, its client front, agent endpoint and metrics addresses.
pub(crate) struct Gateway {
    pub(crate) program: Program,
    pub(crate) client: SocketAddr,
    pub(crate) agents: SocketAddr,
    pub(crate) metrics: SocketAddr,
    pub(crate) pid: u32,
}

impl Gateway {
    pub(crate) fn start(config: &Path) -> Self {
        Self::start_args(&["--config", config.to_str().unwrap()])
    }

    /// Starts `ferry-gateway args` (which must serve metrics).
    pub(crate) fn start_args(args: &[&str]) -> Self {
        let program = Program::spawn(GATEWAY, args);
        let metrics_line = program.wait_for("metrics_addr=");
        let at = metrics_line.find("metrics_addr=").unwrap() + "metrics_addr=".len();
        let rest = &metrics_line[at..];
        let metrics = rest[..rest.find(' ').unwrap_or(rest.len())]
            .parse()
            .unwrap();
        let agents = program.addr("gateway agent endpoint listening");
        let client = program.addr("gateway client front listening");
        let pid = program.pid();
        Self {
            program,
            client,
            agents,
            metrics,
            pid,
        }
    }

    /// SIGHUP, then the log line that tells the outcome (`config reloaded` or `config reload
    /// failed`).
    pub(crate) fn reload(&self) -> String {
        self.reload_lines().pop().unwrap()
    }

    /// SIGHUP, then every log line up to and including the one that tells the outcome.
    pub(crate) fn reload_lines(&self) -> Vec<String> {
        let out = Command::new("kill")
            .args(["-HUP", &self.pid.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut lines = Vec::new();
        loop {
            let line = self.program.next_line();
            let done = line.contains("config reloaded") || line.contains("config reload failed");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The `/metrics` text.
    pub(crate) fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.metrics).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The value of the sample line starting with `series` (`name{labels}`), 0 when absent.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map_or(0.0, |l| l[series.len()..].trim().parse().unwrap())
    }
}

/// A gateway config file's text.
pub(crate) fn gateway_toml(
    cert: &Path,
    key: &Path,
    tokens: &Path,
    allow: &str,
    extra: &str,
) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nagent_listen = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\
         allow = [{allow}]\n{extra}\n[tls]\ncert = {cert:?}\nkey = {key:?}\n\
         [timeouts]\ndrain = \"2s\"\n",
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        extra = extra.replace("TOKENS", &format!("{:?}", tokens.display().to_string())),
    )
}

/// An agent process connected to `gateway` as `id`, with the token in `token_file` (the
/// current flag spellings; tunnel_cli.rs and cluster_cli.rs keep the old ones, `--ca`, `--id`,
/// `--tokens`, `--agent`, which stay accepted). It holds one connection (`--connections 1`):
/// the tests that use it count authentications and revocations, one per connection.
pub(crate) fn agent(gateway: SocketAddr, ca: &Path, id: &str, token_file: &Path) -> Program {
    let agent = Program::spawn(
        AGENT,
        &[
            "--gateway",
            &gateway.to_string(),
            "--server-name",
            "localhost",
            "--tls-ca",
            ca.to_str().unwrap(),
            "--agent-id",
            id,
            "--token-file",
            token_file.to_str().unwrap(),
            "--allow",
            "127.0.0.1",
            "--connections",
            "1",
        ],
    );
    agent.wait_for("connected to the gateway");
    agent
}

/// `CONNECT target` through `proxy` as `agent:token`: the status code and the stream.
pub(crate) fn connect(
    proxy: SocketAddr,
    agent: &str,
    token: &str,
    target: SocketAddr,
) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{agent}:{token}"));
    write!(
        s,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {basic}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, s)
}

/// What `curl -p -x` gets from the gateway's CONNECT for `http://target/` as `agent:token`:
/// the CONNECT status code, and the body when the tunnel opened.
pub(crate) fn curl(
    proxy: SocketAddr,
    agent: &str,
    token: &str,
    target: SocketAddr,
) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-p",
            "-w",
            "\n%{http_connect}",
            "-x",
        ])
        .arg(format!("http://{agent}:{token}@{proxy}"))
        .arg(format!("http://{target}/"))
        .stdin(Stdio::null())
        .output()
        .expect("curl must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// A local HTTP server answering every request `hello`.
pub(crate) fn http_server() -> SocketAddr {
    ferry_test_support::blocking::http_ok("hello")
}

/// The byte at offset `i` of a [`gated_source`] stream.
pub(crate) fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// A server that, to each connection, writes `first` bytes of [`pattern`], waits for one
/// message on the returned sender, writes the rest up to `total`, and closes.
pub(crate) fn gated_source(total: usize, first: usize) -> (SocketAddr, mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rx = rx;
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let data: Vec<u8> = (0..total).map(pattern).collect();
            if s.write_all(&data[..first]).is_err() {
                continue;
            }
            if rx.recv_timeout(Duration::from_secs(60)).is_err() {
                return;
            }
            let _ = s.write_all(&data[first..]);
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
    });
    (addr, tx)
}

/// Reads exactly `n` bytes and checks them against [`pattern`] from `offset`.
pub(crate) fn read_pattern(s: &mut TcpStream, offset: usize, n: usize) {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    let bad = (0..n).find(|&i| buf[i] != pattern(offset + i));
    assert_eq!(bad, None, "byte mismatch");
}
