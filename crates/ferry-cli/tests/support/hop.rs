//! `ferry-hop` as a process for the hop CLI tests (included through `#[path]`, next to
//! `program.rs`): temporary files, chain keys, the program with its listening addresses and
//! access configs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::program::Program;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ferry-hop");

/// A file in the temp directory, removed on drop.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    pub(crate) fn new(ext: &str, text: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferry-hop-cli-{}-{}.{ext}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Keys 1..=n, key k being 32 bytes of k.
pub(crate) fn keys(n: u8) -> TempFile {
    let text: String = (1..=n)
        .map(|k| format!("{k} {}\n", format!("{k:02x}").repeat(32)))
        .collect();
    TempFile::new("keys", &text)
}

/// A running `ferry-hop`: its log, and what it said until its listeners were up.
pub(crate) struct Running {
    program: Program,
    /// The addresses of its `listening` lines, in order.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Every line up to the last `listening` one.
    pub(crate) startup: Vec<String>,
}

impl Running {
    /// Its first listener.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        self.program.wait_for(needle)
    }

    /// Sends SIGHUP (`kill -HUP PID`) and waits for the reload's outcome line: `config
    /// reloaded` or `config reload failed`, which it returns.
    pub(crate) fn reload(&self) -> String {
        let status = Command::new("kill")
            .args(["-HUP", &self.program.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            let line = self.program.next_line();
            if line.contains("config reloaded") || line.contains("config reload failed") {
                return line;
            }
        }
    }

    /// The admin endpoint's address (started with `--metrics 127.0.0.1:0`).
    pub(crate) fn metrics_addr(&self) -> SocketAddr {
        let line = self
            .startup
            .iter()
            .find(|l| l.contains("metrics_addr="))
            .expect("metrics address logged");
        field(line, "metrics_addr").parse().unwrap()
    }

    /// SIGTERM; true when it then exits 0.
    pub(crate) fn stop(self) -> bool {
        self.program.terminate() == Some(0)
    }
}

/// The value of `name=` in a log line.
pub(crate) fn field(line: &str, name: &str) -> String {
    let at = line.find(&format!(" {name}=")).unwrap() + name.len() + 2;
    line[at..]
        .split(' ')
        .next()
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

/// Starts `ferry-hop ARGS` and waits for `listeners` lines saying `listening`.
pub(crate) fn spawn(args: &[&str], listeners: usize) -> Running {
    spawn_env(args, &[], listeners)
}

/// [`spawn`] with `env` added to the program's environment.
pub(crate) fn spawn_env(args: &[&str], env: &[(&str, &str)], listeners: usize) -> Running {
    let program = Program::spawn_env(BIN, args, env);
    let mut addrs = Vec::new();
    let mut startup = Vec::new();
    while addrs.len() < listeners {
        let line = program.next_line();
        startup.push(line.clone());
        if line.contains("listening") {
            addrs.push(field(&line, "addr").parse().unwrap());
        }
    }
    Running {
        program,
        addrs,
        startup,
    }
}

/// `ferry-hop serve` on loopback with `keys`, allowing loopback, plus `extra` flags.
pub(crate) fn hop(keys: &TempFile, extra: &[&str]) -> Running {
    let k = keys.path();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--key-file",
        &k,
        "--allow",
        "127.0.0.0/8",
    ];
    args.extend_from_slice(extra);
    spawn(&args, 1)
}

/// Runs `ferry-hop ARGS` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `ferry-hop trace --config CFG --destination DEST`, run to completion.
pub(crate) fn trace(cfg: &TempFile, dest: SocketAddr) -> Output {
    run(&[
        "trace",
        "--config",
        &cfg.path(),
        "--destination",
        &dest.to_string(),
    ])
}

pub(crate) fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An access config: one chain `main` over `hops` (key k for hop k) and a fixed TCP listener
/// to `dest`.
pub(crate) fn access_config(keys: &TempFile, hops: &[SocketAddr], dest: SocketAddr) -> TempFile {
    let hops: Vec<String> = hops
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{{ address = \"{a}\", key_id = {} }}", i + 1))
        .collect();
    TempFile::new(
        "toml",
        &format!(
            "[keys]\nfile = {:?}\n\n[[chain]]\nname = \"main\"\nhops = [{}]\n\n\
             [[listener]]\nname = \"fixed\"\nmode = \"tcp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{dest}\"\n",
            keys.path(),
            hops.join(", ")
        ),
    )
}
