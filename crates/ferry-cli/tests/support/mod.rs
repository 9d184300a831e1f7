//! Helpers shared by the CLI tests: a threaded echo upstream, starting the binary and reading
//! its log, signals.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod program;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ferry-proxy");

/// Threaded echo upstream that writes `tag` first.
pub(crate) fn echo_upstream(tag: u8) -> SocketAddr {
    ferry_test_support::blocking::tagged_echo(tag)
}

/// A running binary and its stderr, line by line.
pub(crate) struct Proxy {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: mpsc::Receiver<String>,
    /// The log lines up to and including the one that gave the address.
    pub(crate) startup: Vec<String>,
}

impl Proxy {
    /// Waits (bounded) for a log line containing `needle`; returns it.
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// Starts the proxy through `sh -c` (so a test can lower limits first) with `args`, and waits
/// for the log line that tells the bound address.
pub(crate) fn spawn_proxy(prefix: &str, args: &str) -> Proxy {
    let script = format!("{prefix} exec {BIN} {args} --log info");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = program::stderr_lines(&mut child);
    let mut startup = Vec::new();
    let line = loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .expect("proxy did not log its address");
        startup.push(line.clone());
        if line.contains("listening") {
            break line;
        }
    };
    let at = line.find("addr=").unwrap() + 5;
    let rest = &line[at..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Proxy {
        child,
        addr: rest[..end].parse().unwrap(),
        log,
        startup,
    }
}

pub(crate) fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

pub(crate) fn sigterm(child: &Child) {
    signal(child, rustix::process::Signal::TERM);
}
