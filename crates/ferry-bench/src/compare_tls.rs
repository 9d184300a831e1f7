//! `ferry-bench compare-tls`: TLS termination through each proxy against the naive tokio-rustls
//! terminator, measured in the same run, for an ECDSA P-256 and an RSA-2048 certificate.
//! `--haproxy PATH` and `--nginx PATH` add HAProxy and nginx's stream module as terminators,
//! each with a config written for the run (see [`crate::peers::TlsPeer`]), measured with the same
//! clients, certificates and rows.
//!
//! Per certificate and round: full and resumed handshakes per second for TLS 1.3 and TLS 1.2
//! (every connection is a handshake, one echoed byte through the upstream, and a close) with
//! the terminator's CPU per connection read from `/proc` (the started process and its
//! children: nginx relays in workers its master forks); TLS bulk throughput over one stream
//! with CPU per GB. Then, on a fresh instance of each terminator, the RSS growth per idle TLS
//! connection. Figures are medians of the rounds.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::naive_tls::Kx;
use crate::peers::{TempDir, TlsPeer, spawn};
use crate::tls_load::{self, Client, Version};
use crate::tls_table::print_table;
use crate::{Target, free_port, procstat, server};

/// What `compare-tls` was asked to do.
pub(crate) struct Opts {
    pub(crate) proxies: Vec<String>,
    /// HAProxy, measured as `haproxy`.
    pub(crate) haproxy: Option<PathBuf>,
    /// nginx with the stream module, measured as `nginx`.
    pub(crate) nginx: Option<PathBuf>,
    /// Workers of every terminator: `TOKIO_WORKER_THREADS` for the Rust ones, `nbthread` and
    /// `worker_processes` for the peers; `None`: tokio's default (one per core), and one per
    /// core for the peers.
    pub(crate) threads: Option<usize>,
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

/// One terminator of a run.
#[derive(Clone, Debug)]
enum Terminator {
    /// `COMMAND --listen ADDR --upstream ADDR --tls-cert PEM --tls-key PEM` (the naive
    /// terminator, `--proxy`).
    Args { name: String, command: Vec<String> },
    /// HAProxy or nginx with a config written for the run.
    Peer(TlsPeer),
}

impl Terminator {
    fn name(&self) -> &str {
        match self {
            Self::Args { name, .. } => name,
            Self::Peer(p) => p.name(),
        }
    }
}

/// A started terminator; the process is stopped before its directory is removed.
struct Started {
    target: Target,
    _dir: TempDir,
}

/// What a terminator started as `COMMAND` gets appended: `--listen ADDR --upstream ADDR
/// --tls-cert PEM --tls-key PEM`.
pub(crate) fn terminator_flags(
    listen: SocketAddr,
    upstream: SocketAddr,
    (cert, key): (&Path, &Path),
) -> Vec<String> {
    [
        ("--listen", listen.to_string()),
        ("--upstream", upstream.to_string()),
        ("--tls-cert", cert.display().to_string()),
        ("--tls-key", key.display().to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

/// How long a terminator may take to answer: `within` in all, `per_try` for each probe
/// connection (valgrind makes both longer).
pub(crate) struct Readiness {
    pub(crate) within: Duration,
    pub(crate) per_try: Duration,
}

impl Readiness {
    /// A terminator run as it is.
    const PLAIN: Self = Self {
        within: Duration::from_secs(10),
        per_try: Duration::from_secs(2),
    };
}

/// Polls until one connection through `addr` succeeds, within `r`. A TLS error (the listener
/// answered, the handshake failed) is final.
pub(crate) async fn wait_ready_tls(
    name: &str,
    addr: SocketAddr,
    client: &Client,
    kx: Kx,
    r: &Readiness,
) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + r.within;
    loop {
        let e = match tokio::time::timeout(r.per_try, client.once(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                let hint = if kx == Kx::X25519 {
                    ""
                } else {
                    " (the clients offer only X25519MLKEM768 in TLS 1.3, which OpenSSL before \
                     3.5 does not have: run with --kx x25519)"
                };
                return Err(io::Error::other(format!(
                    "{name}: TLS handshake failed: {e}{hint}"
                )));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_elapsed) => format!("no echo within {:?}", r.per_try),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "{name} on {addr} did not become ready: {e}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_tls(
    term: &Terminator,
    upstream: SocketAddr,
    (cert, key): (&Path, &Path),
    o: &Opts,
    probe: &Client,
) -> io::Result<Started> {
    let addr = free_port().await?;
    let dir = TempDir::new(term.name())?;
    let (command, env) = match term {
        Terminator::Args { command, .. } => {
            let mut c = command.clone();
            c.extend(terminator_flags(addr, upstream, (cert, key)));
            let env: Vec<(String, String)> = o
                .threads
                .map(|n| ("TOKIO_WORKER_THREADS".to_owned(), n.to_string()))
                .into_iter()
                .collect();
            (c, env)
        }
        Terminator::Peer(p) => {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            let threads = o.threads.unwrap_or(cores);
            (
                p.command(&dir.0, addr, upstream, threads, cert, key)?,
                Vec::new(),
            )
        }
    };
    let target = spawn(term.name(), addr, &[], &command, &env)?;
    let started = Started { target, _dir: dir };
    wait_ready_tls(term.name(), addr, probe, o.kx, &Readiness::PLAIN).await?;
    Ok(started)
}

/// `(name, command)` of the Rust terminators: the naive one first, then `--proxy` (what
/// `--callgrind` measures; the peers are not run under valgrind).
pub(crate) fn commands(proxies: &[String]) -> io::Result<Vec<(String, Vec<String>)>> {
    Ok(terminators(proxies, None, None)?
        .into_iter()
        .filter_map(|t| match t {
            Terminator::Args { name, command } => Some((name, command)),
            Terminator::Peer(_) => None,
        })
        .collect())
}

/// Every terminator: the naive one first, then `--proxy`, then the peers.
fn terminators(
    proxies: &[String],
    haproxy: Option<&PathBuf>,
    nginx: Option<&PathBuf>,
) -> io::Result<Vec<Terminator>> {
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let mut out = vec![Terminator::Args {
        name: "naive-tls".to_owned(),
        command: vec![me, "naive-tls".to_owned()],
    }];
    for p in proxies {
        let (name, cmd) = p
            .split_once('=')
            .ok_or_else(|| io::Error::other(format!("--proxy {p:?} is not NAME=COMMAND")))?;
        let command: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if command.is_empty() {
            return Err(io::Error::other(format!("--proxy {p:?} has no command")));
        }
        out.push(Terminator::Args {
            name: name.to_owned(),
            command,
        });
    }
    if let Some(path) = haproxy {
        out.push(Terminator::Peer(TlsPeer::Haproxy { path: path.clone() }));
    }
    if let Some(path) = nginx {
        out.push(Terminator::Peer(TlsPeer::Nginx { path: path.clone() }));
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
    let cpu0 = pid.and_then(procstat::tree_cpu_time);
    let rate = tls_load::handshake_rate(t.addr, clients, seconds).await?;
    let cpu1 = pid.and_then(procstat::tree_cpu_time);
    let per = match (cpu0, cpu1) {
        (Some(a), Some(b)) if rate.count > 0 => {
            Some(b.saturating_sub(a).as_secs_f64() * 1e6 / rate.count as f64)
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
    let cpu0 = pid.and_then(procstat::tree_cpu_time);
    f.bulk
        .push(tls_load::bulk(t.addr, clients.probe(), o.bytes).await?);
    let cpu1 = pid.and_then(procstat::tree_cpu_time);
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        f.cpu_per_gb
            .push(b.saturating_sub(a).as_secs_f64() / (o.bytes as f64 / 1e9));
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
/// runs cannot hide what idle connections take); the RSS of the started process and its
/// children.
async fn idle_memory(
    term: &Terminator,
    upstream: SocketAddr,
    cert: (&Path, &Path),
    o: &Opts,
    client: &Client,
) -> io::Result<Option<f64>> {
    let s = start_tls(term, upstream, cert, o, client).await?;
    let t = &s.target;
    let Some(pid) = t.child.as_ref().map(Child::id) else {
        return Ok(None);
    };
    // A few connections first, so one-time allocations are not counted.
    for _ in 0..50 {
        client.once(t.addr).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procstat::tree_rss_bytes(pid).unwrap_or(0);
    let conns = tls_load::open_idle(t.addr, client, o.idle).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procstat::tree_rss_bytes(pid).unwrap_or(0);
    drop(conns);
    Ok(Some(after.saturating_sub(before) as f64 / o.idle as f64))
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
    let terms = terminators(&o.proxies, o.haproxy.as_ref(), o.nginx.as_ref())?;
    let mut tables = Vec::new();
    let mut negotiated = Vec::new();
    for &kind in &o.certs {
        let (cert, key) = make_cert(dir, kind)?;
        // Clients per terminator: session stores are keyed by server name, and every
        // terminator is `localhost`, so a shared store would offer one terminator's sessions to
        // another.
        let mut targets = Vec::new();
        for term in &terms {
            let clients = Clients::new(&cert, o.workers, o.kx)?;
            let s = start_tls(term, upstream, (&cert, &key), o, clients.probe()).await?;
            let mut what = Vec::new();
            for (v, version) in VERSIONS.iter().enumerate() {
                let n = clients.full[v][0]
                    .negotiated(s.target.addr)
                    .await
                    .map_err(|e| {
                        io::Error::other(format!("{}, {}: {e}", term.name(), version.label()))
                    })?;
                what.push(format!("{} {n}", version.label()));
            }
            negotiated.push(format!(
                "- {}, {}: {}",
                kind.label(),
                term.name(),
                what.join("; ")
            ));
            targets.push((s, clients));
        }
        let mut figs = vec![Figures::default(); targets.len()];
        for r in 0..o.rounds {
            // Every other round in reverse order, so that no terminator always runs first.
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let (s, clients) = &targets[i];
                let t = &s.target;
                eprintln!("{}: round {}/{}: {}", kind.label(), r + 1, o.rounds, t.name);
                round(t, &mut figs[i], clients, o)
                    .await
                    .map_err(|e| io::Error::other(format!("{}: {e}", t.name)))?;
            }
        }
        drop(targets);
        let clients = Clients::new(&cert, 1, o.kx)?;
        for (term, f) in terms.iter().zip(figs.iter_mut()) {
            eprintln!(
                "{}: idle memory: {} with {} connections",
                kind.label(),
                term.name(),
                o.idle
            );
            f.idle_bytes = idle_memory(term, upstream, (&cert, &key), o, clients.probe()).await?;
        }
        tables.push((kind, figs));
    }
    let names: Vec<&str> = terms.iter().map(Terminator::name).collect();
    let threads = o
        .threads
        .map_or_else(|| "each program's default".to_owned(), |n| n.to_string());
    println!(
        "\nmedians of {} rounds; clients offer {} only (TLS 1.3; TLS 1.2: X25519, then P-256 for \
         OpenSSL's certificate check); {} \
         client loops per handshake run of {:.1} s; bulk {} MiB over one connection; idle memory \
         with {} connections on a fresh instance; workers per terminator: {threads}\n",
        o.rounds,
        o.kx.label(),
        o.workers,
        o.seconds.as_secs_f64(),
        o.bytes >> 20,
        o.idle
    );
    println!(
        "negotiated (cipher suite, key exchange):\n\n{}\n",
        negotiated.join("\n")
    );
    for (kind, figs) in &tables {
        print_table(kind.label(), &names, figs);
    }
    Ok(())
}
