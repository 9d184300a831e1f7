//! `compare-tls --callgrind`: user-space instructions per TLS connection of each terminator,
//! counted by running it under `valgrind --tool=callgrind --trace-children=yes` (one output
//! file per process) for `--cg-conns` and 4x connections and dividing the difference in
//! instructions by the difference in connections (start-up, the readiness probe and shutdown
//! cancel out; see `callgrind`).
//!
//! Every connection is one client loop iteration of `compare-tls`, one after another: connect,
//! handshake, one echoed byte through the upstream, close, wait for the terminator's close.
//!
//! | work | client |
//! |---|---|
//! | TLS 1.3 / 1.2 full handshake | no session store: every handshake is full (checked) |
//! | TLS 1.3 / 1.2 resumed | one session store, warmed by one full handshake (all resume, checked) |
//!
//! Every terminator runs with `TOKIO_WORKER_THREADS=1` (one worker: ferry-proxy's connection
//! workers and the naive terminator's runtime alike; `--cg-threads N` for more) and
//! `RUST_LOG=warn`. `--cg-keep DIR` keeps
//! the output files for `callgrind_annotate` (one directory per terminator, certificate, work
//! and amount); `--cg-only NAME` picks terminators.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::callgrind::{self, instructions};
use crate::compare_tls::{
    CertKind, Readiness, commands, make_cert, terminator_flags, wait_ready_tls,
};
use crate::naive_tls::Kx;
use crate::peers::{TempDir, spawn};
use crate::tls_load::{Client, Version};
use crate::{Target, free_port, stop};

/// What `compare-tls --callgrind` was asked to do.
pub(crate) struct Opts {
    /// Connections in the smaller run (the larger has 4x).
    pub(crate) conns: u64,
    pub(crate) keep: Option<PathBuf>,
    pub(crate) only: Vec<String>,
    /// `TOKIO_WORKER_THREADS` of every terminator.
    pub(crate) threads: usize,
}

#[derive(Clone, Copy, Debug)]
enum Work {
    Full(Version),
    Resumed(Version),
}

impl Work {
    const ALL: [Self; 4] = [
        Self::Full(Version::Tls13),
        Self::Full(Version::Tls12),
        Self::Resumed(Version::Tls13),
        Self::Resumed(Version::Tls12),
    ];

    fn label(self) -> String {
        match self {
            Self::Full(v) => format!("{} full handshake", v.label()),
            Self::Resumed(v) => format!("{} resumed", v.label()),
        }
    }

    fn stem(self) -> &'static str {
        match self {
            Self::Full(Version::Tls13) => "full13",
            Self::Full(Version::Tls12) => "full12",
            Self::Resumed(Version::Tls13) => "resumed13",
            Self::Resumed(Version::Tls12) => "resumed12",
        }
    }

    /// `n` connections one after another; fails if any resumed (full) or, after the first,
    /// did not (resumed).
    async fn run(self, addr: SocketAddr, cert: &Path, kx: Kx, n: u64) -> io::Result<()> {
        let (version, resume) = match self {
            Self::Full(v) => (v, false),
            Self::Resumed(v) => (v, true),
        };
        let client = Client::new(cert, version, resume, kx)?;
        for i in 0..n {
            let resumed = client.once(addr).await?;
            if resumed != (resume && i > 0) {
                return Err(io::Error::other(format!(
                    "{}: connection {i} resumed: {resumed}",
                    self.label()
                )));
            }
        }
        Ok(())
    }
}

/// One terminator run under callgrind: the instructions counted for `n` connections of `work`.
struct Run<'a> {
    name: &'a str,
    command: &'a [String],
    upstream: SocketAddr,
    cert: (&'a Path, &'a Path),
    kind: CertKind,
    kx: Kx,
    threads: usize,
}

impl Run<'_> {
    async fn count(&self, work: Work, n: u64, keep: Option<&Path>) -> io::Result<u64> {
        let out = TempDir::new("tls-callgrind")?;
        let mut wrapper = vec!["valgrind".to_owned(), "--trace-children=yes".to_owned()];
        wrapper.extend(callgrind::args(&out.0));
        let addr = free_port().await?;
        let mut command = self.command.to_vec();
        command.extend(terminator_flags(addr, self.upstream, self.cert));
        let env = [("TOKIO_WORKER_THREADS".to_owned(), self.threads.to_string())];
        let mut target: Target = spawn(self.name, addr, &wrapper, &command, &env)?;
        let probe = Client::new(self.cert.0, Version::Tls13, false, self.kx)?;
        // Under valgrind start-up and each handshake take many times longer.
        let slow = Readiness {
            within: Duration::from_secs(120),
            per_try: Duration::from_secs(5),
        };
        wait_ready_tls(self.name, addr, &probe, self.kx, &slow).await?;
        work.run(addr, self.cert.0, self.kx, n).await?;
        stop(&mut target, Duration::from_secs(120)).await?;
        drop(target);
        let total = instructions(&out.0)?;
        let name = format!("{}-{}-{}-{n}", self.name, self.kind.stem(), work.stem());
        callgrind::keep_as(&out.0, keep, &name)?;
        Ok(total)
    }
}

/// Prints, per certificate, the table of instructions per connection of every terminator.
pub(crate) async fn run(
    proxies: &[String],
    certs: &[CertKind],
    kx: Kx,
    upstream: SocketAddr,
    dir: &Path,
    o: &Opts,
) -> io::Result<()> {
    let commands: Vec<(String, Vec<String>)> = commands(proxies)?
        .into_iter()
        .filter(|(name, _)| o.only.is_empty() || o.only.contains(name))
        .collect();
    let (small, large) = (o.conns.max(1), o.conns.max(1) * 4);
    let mut tables = Vec::new();
    for &kind in certs {
        let (cert, key) = make_cert(dir, kind)?;
        let mut rows = Vec::new();
        for work in Work::ALL {
            let mut cells = Vec::new();
            for (name, command) in &commands {
                let run = Run {
                    name,
                    command,
                    upstream,
                    cert: (&cert, &key),
                    kind,
                    kx,
                    threads: o.threads.max(1),
                };
                eprintln!(
                    "callgrind: {} {name} {} {small} and {large}",
                    kind.label(),
                    work.label()
                );
                let a = run.count(work, small, o.keep.as_deref()).await?;
                let b = run.count(work, large, o.keep.as_deref()).await?;
                let per = (b as f64 - a as f64) / (large - small) as f64;
                eprintln!("  {a} and {b} instructions: {per:.0} per connection");
                cells.push(per);
            }
            rows.push((work, cells));
        }
        tables.push((kind, rows));
    }
    let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "\nuser-space instructions per TLS connection (callgrind; difference between runs of \
         {small} and {large} connections; clients offer {} only, TLS 1.2 uses X25519; \
         TOKIO_WORKER_THREADS={})\n",
        kx.label(),
        o.threads.max(1)
    );
    for (kind, rows) in tables {
        println!("### {}\n", kind.label());
        println!("| work | {} |", names.join(" | "));
        println!("|---|{}", "---|".repeat(names.len()));
        for (work, cells) in rows {
            let cells: Vec<String> = cells.iter().map(|v| format!("{v:.0}")).collect();
            println!("| {} | {} |", work.label(), cells.join(" | "));
        }
        println!();
    }
    Ok(())
}
