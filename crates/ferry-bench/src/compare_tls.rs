//! `ferry-bench compare-tls`: TLS termination through each proxy against the naive tokio-rustls
//! terminator, measured in the same run, for an ECDSA P-256 and an RSA-2048 certificate.
//!
//! Per certificate and round: full and resumed handshakes per second for TLS 1.3 and TLS 1.2
//! (every connection is a handshake, one echoed byte through the upstream, and a close) with
//! the terminator's CPU per connection read from `/proc`; TLS bulk throughput over one stream
//! with CPU per GB. Then, on a fresh instance of each terminator, the RSS growth per idle TLS
//! connection. Figures are medians of the rounds.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::naive_tls::Kx;
use crate::tls_load::{self, Client, Version};
use crate::tls_table::print_table;
use crate::{Target, free_port, procstat, server};

/// What `compare-tls` was asked to do.
pub(crate) struct Opts {
    pub(crate) proxies: Vec<String>,
    pub(crate) bytes: u64,
    pub(crate) seconds: Duration,
    pub(crate) idle: usize,
    pub(crate) rounds: usize,
    pub(crate) workers: usize,
    pub(crate) certs: Vec<CertKind>,
    /// The one key-exchange group the clients offer.
    pub(crate) kx: Kx,
    /// Count instructions per connection under callgrind instead (see `tls_callgrind`).
    pub(crate) callgrind: Option<crate::tls_callgrind::Opts>,
}

/// The certificate types measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CertKind {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA-2048.
    Rsa,
}

impl CertKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Ecdsa => "ECDSA P-256",
            Self::Rsa => "RSA-2048",
        }
    }

    pub(crate) fn stem(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::Rsa => "rsa",
        }
    }

    fn newkey(self) -> &'static [&'static str] {
        match self {
            Self::Ecdsa => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Self::Rsa => &["-newkey", "rsa:2048"],
        }
    }
}

/// A self-signed end-entity certificate for `localhost` made with the `openssl` command (rcgen
/// with the ring backend cannot generate RSA keys).
pub(crate) fn make_cert(dir: &Path, kind: CertKind) -> io::Result<(PathBuf, PathBuf)> {
    let cert = dir.join(format!("{}.pem", kind.stem()));
    let key = dir.join(format!("{}.key", kind.stem()));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=localhost",
        ])
        .args(kind.newkey())
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(io::Error::other(
            "openssl req failed (is openssl installed?)",
        ));
    }
    Ok((cert, key))
}

/// Per-round figures of one terminator with one certificate.
#[derive(Default, Clone)]
pub(crate) struct Figures {
    /// Indexed by version (0: TLS 1.3, 1: TLS 1.2), then round.
    pub(crate) full: [Vec<f64>; 2],
    pub(crate) resumed: [Vec<f64>; 2],
    pub(crate) ratio: [Vec<f64>; 2],
    pub(crate) cpu_full_us: [Vec<f64>; 2],
    pub(crate) cpu_resumed_us: [Vec<f64>; 2],
    pub(crate) resumed_share: [Vec<f64>; 2],
    pub(crate) bulk: Vec<f64>,
    pub(crate) cpu_per_gb: Vec<f64>,
    pub(crate) idle_bytes: Option<f64>,
}

pub(crate) const VERSIONS: [Version; 2] = [Version::Tls13, Version::Tls12];

async fn wait_ready_tls(addr: SocketAddr, client: &Client) -> io::Result<()> {
    for _ in 0..200 {
        if client.once(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(io::Error::other(format!("{addr} did not become ready")))
}

async fn start_tls(
    name: &str,
    command: &[String],
    upstream: SocketAddr,
    cert: &Path,
    key: &Path,
    probe: &Client,
) -> io::Result<Target> {
    let addr = free_port().await?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| io::Error::other(format!("{name}: empty command")))?;
    let child = Command::new(program)
        .args(args)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--upstream")
        .arg(upstream.to_string())
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()?;
    let target = Target {
        name: name.to_owned(),
        addr,
        child: Some(child),
    };
    wait_ready_tls(addr, probe).await?;
    Ok(target)
}

/// `(name, command)` of every terminator: the naive one first.
pub(crate) fn commands(proxies: &[String]) -> io::Result<Vec<(String, Vec<String>)>> {
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let mut out = vec![("naive-tls".to_owned(), vec![me, "naive-tls".to_owned()])];
    for p in proxies {
        let (name, cmd) = p
            .split_once('=')
            .ok_or_else(|| io::Error::other(format!("--proxy {p:?} is not NAME=COMMAND")))?;
        let cmd: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if cmd.is_empty() {
            return Err(io::Error::other(format!("--proxy {p:?} has no command")));
        }
        out.push((name.to_owned(), cmd));
    }
    Ok(out)
}

/// A handshake run with the terminator's CPU time per connection (µs).
async fn measured_rate(
    t: &Target,
    clients: &[Client],
    seconds: Duration,
) -> io::Result<(tls_load::HandshakeRate, Option<f64>)> {
    tls_load::warm_up(t.addr, clients).await?;
    let pid = t.child.as_ref().map(Child::id);
    let cpu0 = pid.and_then(procstat::cpu_time);
    let rate = tls_load::handshake_rate(t.addr, clients, seconds).await?;
    let cpu1 = pid.and_then(procstat::cpu_time);
    let per = match (cpu0, cpu1) {
        (Some(a), Some(b)) if rate.count > 0 => {
            Some((b - a).as_secs_f64() * 1e6 / rate.count as f64)
        }
        _ => None,
    };
    Ok((rate, per))
}

async fn round(t: &Target, f: &mut Figures, clients: &Clients, o: &Opts) -> io::Result<()> {
    for (v, _) in VERSIONS.iter().enumerate() {
        let (full, cpu_full) = measured_rate(t, &clients.full[v], o.seconds).await?;
        let (resumed, cpu_res) = measured_rate(t, &clients.resume[v], o.seconds).await?;
        f.full[v].push(full.per_sec);
        f.resumed[v].push(resumed.per_sec);
        f.ratio[v].push(resumed.per_sec / full.per_sec);
        f.cpu_full_us[v].extend(cpu_full);
        f.cpu_resumed_us[v].extend(cpu_res);
        f.resumed_share[v].push(resumed.resumed as f64 / resumed.count.max(1) as f64);
        if full.resumed > 0 {
            return Err(io::Error::other("a client without resumption resumed"));
        }
    }
    let pid = t.child.as_ref().map(Child::id);
    let cpu0 = pid.and_then(procstat::cpu_time);
    f.bulk
        .push(tls_load::bulk(t.addr, clients.probe(), o.bytes).await?);
    let cpu1 = pid.and_then(procstat::cpu_time);
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        f.cpu_per_gb
            .push((b - a).as_secs_f64() / (o.bytes as f64 / 1e9));
    }
    Ok(())
}

/// Per version, one client per worker: without resumption (sharing one config), and with
/// resumption (one session store each, as returning users have).
struct Clients {
    full: Vec<Vec<Client>>,
    resume: Vec<Vec<Client>>,
}

impl Clients {
    fn new(cert: &Path, workers: usize, kx: Kx) -> io::Result<Self> {
        let mut full = Vec::new();
        let mut resume = Vec::new();
        for &v in &VERSIONS {
            full.push(vec![Client::new(cert, v, false, kx)?; workers.max(1)]);
            resume.push(
                (0..workers.max(1))
                    .map(|_| Client::new(cert, v, true, kx))
                    .collect::<io::Result<_>>()?,
            );
        }
        Ok(Self { full, resume })
    }

    /// A client without resumption (TLS 1.3).
    fn probe(&self) -> &Client {
        &self.full[0][0]
    }
}

/// RSS growth per idle TLS connection on a fresh instance (so that memory freed by earlier
/// runs cannot hide what idle connections take).
async fn idle_memory(
    name: &str,
    command: &[String],
    upstream: SocketAddr,
    cert: (&Path, &Path),
    client: &Client,
    idle: usize,
) -> io::Result<Option<f64>> {
    let t = start_tls(name, command, upstream, cert.0, cert.1, client).await?;
    let Some(pid) = t.child.as_ref().map(Child::id) else {
        return Ok(None);
    };
    // A few connections first, so one-time allocations are not counted.
    for _ in 0..50 {
        client.once(t.addr).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procstat::rss_bytes(pid).unwrap_or(0);
    let conns = tls_load::open_idle(t.addr, client, idle).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procstat::rss_bytes(pid).unwrap_or(0);
    drop(conns);
    Ok(Some(after.saturating_sub(before) as f64 / idle as f64))
}

/// Runs the comparison and prints one table per certificate.
pub(crate) async fn compare_tls(o: Opts) -> io::Result<()> {
    let upstream = server::spawn_local().await?;
    let dir = std::env::temp_dir().join(format!("ferry-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = match &o.callgrind {
        Some(cg) => crate::tls_callgrind::run(&o.proxies, &o.certs, o.kx, upstream, &dir, cg).await,
        None => compare_in(&o, upstream, &dir).await,
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn compare_in(o: &Opts, upstream: SocketAddr, dir: &Path) -> io::Result<()> {
    let commands = commands(&o.proxies)?;
    let mut tables = Vec::new();
    for &kind in &o.certs {
        let (cert, key) = make_cert(dir, kind)?;
        // Clients per terminator: session stores are keyed by server name, and every
        // terminator is `localhost`, so a shared store would offer one terminator's sessions to
        // another.
        let mut targets = Vec::new();
        for (name, cmd) in &commands {
            let clients = Clients::new(&cert, o.workers, o.kx)?;
            let t = start_tls(name, cmd, upstream, &cert, &key, clients.probe()).await?;
            targets.push((t, clients));
        }
        let mut figs = vec![Figures::default(); targets.len()];
        for r in 0..o.rounds {
            // Every other round in reverse order, so that no terminator always runs first.
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let (t, clients) = &targets[i];
                eprintln!("{}: round {}/{}: {}", kind.label(), r + 1, o.rounds, t.name);
                round(t, &mut figs[i], clients, o).await?;
            }
        }
        drop(targets);
        let clients = Clients::new(&cert, 1, o.kx)?;
        for ((name, cmd), f) in commands.iter().zip(figs.iter_mut()) {
            eprintln!(
                "{}: idle memory: {name} with {} connections",
                kind.label(),
                o.idle
            );
            f.idle_bytes =
                idle_memory(name, cmd, upstream, (&cert, &key), clients.probe(), o.idle).await?;
        }
        tables.push((kind, figs));
    }
    let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "\nmedians of {} rounds; clients offer {} only (TLS 1.3; TLS 1.2 uses X25519); {} \
         workers per handshake run of {:.1} s; bulk {} MiB over one connection; idle memory \
         with {} connections on a fresh instance\n",
        o.rounds,
        o.kx.label(),
        o.workers,
        o.seconds.as_secs_f64(),
        o.bytes >> 20,
        o.idle
    );
    for (kind, figs) in &tables {
        print_table(kind.label(), &names, figs);
    }
    Ok(())
}
