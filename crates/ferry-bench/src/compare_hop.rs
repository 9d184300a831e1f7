//! `ferry-bench compare-hop`: chains of `ferry-hop` against the direct path and a plain TCP
//! forward, in the same run.
//!
//! Paths (all on loopback, the bench upstream in-process):
//!
//! - `direct`: the bench upstream itself;
//! - `forward`: a plain TCP forward (`ferry-proxy --listen --upstream`, or the naive proxy
//!   when no `--proxy` is given);
//! - `hop1`: a `ferry-hop access` TCP listener (the chain client) over one `ferry-hop serve`;
//! - `hop3`: the same over three hops;
//! - `fwd2`, `fwd3`, `fwd4`: controls, 2, 3 and 4 plain forwards chained (forward -> forward
//!   -> ... -> upstream). `fwd3 / forward` next to `hop3 / hop1` tells what chaining costs on
//!   this machine whatever the relay; since a chained path also runs the access process,
//!   `hop1` relays through 2 processes and `hop3` through 4, so `fwd4 / fwd2` is the control
//!   with the same number of relaying processes.
//!
//! Figures: bulk throughput (1 and 4 streams), 64-byte request/response rate, connection rate,
//! and CPU time per connection during the connection-rate run: of the forward process, of each
//! hop process or chained forward (averaged over the processes of a path) and of the access
//! process. Medians of
//! `--rounds` rounds.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::{Target, free_port, load, median, median_of, procstat, server, start, wait_ready};

/// Indices of the paths, in table order.
const FORWARD: usize = 1;
const HOP1: usize = 2;
const HOP3: usize = 3;
const FWD2: usize = 4;
const FWD3: usize = 5;
const FWD4: usize = 6;

/// Options of `compare-hop`.
pub(crate) struct Opts {
    pub(crate) hop: PathBuf,
    pub(crate) proxy: Option<PathBuf>,
    pub(crate) bytes: u64,
    pub(crate) seconds: Duration,
    pub(crate) rounds: usize,
}

/// A path under test: its entry target, and the processes whose CPU is counted as hops.
struct PathUnderTest {
    target: Target,
    hops: Vec<Child>,
    /// The `ferry-hop access` process, for chained paths.
    access: Option<u32>,
}

impl Drop for PathUnderTest {
    fn drop(&mut self) {
        for c in &mut self.hops {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Default)]
struct Figures {
    bulk1: Vec<f64>,
    bulk4: Vec<f64>,
    rr: Vec<f64>,
    conn_rate: Vec<f64>,
    /// CPU microseconds per connection of the forward process or of one hop (average).
    hop_cpu_us: Vec<f64>,
    /// CPU microseconds per connection of the access process.
    access_cpu_us: Vec<f64>,
    /// CPU seconds per GB relayed (1-stream bulk) of the forward process or of one hop.
    hop_cpu_per_gb: Vec<f64>,
}

fn temp_file(name: &str, text: &str) -> io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("ferry-bench-{}-{name}", std::process::id()));
    std::fs::write(&path, text)?;
    Ok(path)
}

pub(crate) async fn wait_listening(addr: SocketAddr) -> io::Result<()> {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(io::Error::other(format!("{addr} did not start listening")))
}

pub(crate) fn spawn(bin: &Path, args: &[String]) -> io::Result<Child> {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()
}

/// Starts `n` hops and an access listener whose chain runs through them to `upstream`.
async fn chained(
    name: &str,
    n: u8,
    o: &Opts,
    keys: &Path,
    upstream: SocketAddr,
) -> io::Result<PathUnderTest> {
    let mut hops = Vec::new();
    let mut addrs = Vec::new();
    for i in 1..=n {
        let addr = free_port().await?;
        // Limits sized for a load test from one address; replay memory for the whole run.
        let cfg = temp_file(
            &format!("{name}-hop{i}.toml"),
            &format!(
                "listen = \"{addr}\"\nallow = [\"127.0.0.0/8\"]\nper_client_rate = 0\n\
                 per_client_connections = 1000000\nper_client_handshakes = 100000\n\
                 max_connections = 1000000\nmax_handshakes = 100000\n\
                 replay_window = \"30s\"\nreplay_capacity = 4000000\n[keys]\nfile = {:?}\n",
                keys.display().to_string()
            ),
        )?;
        hops.push(spawn(
            &o.hop,
            &["serve".into(), "--config".into(), cfg.display().to_string()],
        )?);
        wait_listening(addr).await?;
        addrs.push((addr, i));
    }
    let listen = free_port().await?;
    let chain: Vec<String> = addrs
        .iter()
        .map(|(a, k)| format!("{{ address = \"{a}\", key_id = {k} }}"))
        .collect();
    let cfg = temp_file(
        &format!("{name}-access.toml"),
        &format!(
            "max_connections = 1000000\n[keys]\nfile = {:?}\n[[chain]]\nname = \"c\"\nhops = [{}]\n\
             [[listener]]\nmode = \"tcp\"\nbind = \"{listen}\"\ndestination = \"{upstream}\"\n",
            keys.display().to_string(),
            chain.join(", ")
        ),
    )?;
    let access = spawn(
        &o.hop,
        &[
            "access".into(),
            "--config".into(),
            cfg.display().to_string(),
        ],
    )?;
    let access_pid = access.id();
    let target = Target {
        name: name.to_owned(),
        addr: listen,
        child: Some(access),
    };
    wait_ready(listen).await?;
    Ok(PathUnderTest {
        target,
        hops,
        access: Some(access_pid),
    })
}

/// Starts `n` plain forwards chained in front of `upstream`; the first is the entry.
async fn forwards(
    name: &str,
    n: usize,
    cmd: &[String],
    upstream: SocketAddr,
) -> io::Result<PathUnderTest> {
    let mut next = upstream;
    let mut hops = Vec::new();
    for i in 0..n {
        let mut t = start(&format!("{name}-{i}"), cmd, next).await?;
        next = t.addr;
        if let Some(c) = t.child.take() {
            hops.push(c);
        }
    }
    Ok(PathUnderTest {
        target: Target {
            name: name.to_owned(),
            addr: next,
            child: None,
        },
        hops,
        access: None,
    })
}

fn cpu_of(pids: &[u32]) -> Option<Duration> {
    pids.iter().map(|&p| procstat::cpu_time(p)).sum()
}

/// Runs the comparison and prints the table.
pub(crate) async fn compare_hop(o: Opts) -> io::Result<()> {
    let upstream = server::spawn_local().await?;
    let keys = temp_file(
        "hop.keys",
        &(1..=3u8)
            .map(|k| format!("{k} {}\n", format!("{k:02x}").repeat(32)))
            .collect::<String>(),
    )?;
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let forward_cmd = match &o.proxy {
        Some(p) => vec![p.display().to_string()],
        None => vec![me, "naive".into()],
    };
    let forward = start("forward", &forward_cmd, upstream).await?;
    let forward_pid = forward.child.as_ref().map(Child::id);
    let mut paths = vec![
        PathUnderTest {
            target: Target {
                name: "direct".into(),
                addr: upstream,
                child: None,
            },
            hops: Vec::new(),
            access: None,
        },
        PathUnderTest {
            target: forward,
            hops: Vec::new(),
            access: None,
        },
        chained("hop1", 1, &o, &keys, upstream).await?,
        chained("hop3", 3, &o, &keys, upstream).await?,
        forwards("fwd2", 2, &forward_cmd, upstream).await?,
        forwards("fwd3", 3, &forward_cmd, upstream).await?,
        forwards("fwd4", 4, &forward_cmd, upstream).await?,
    ];
    let mut figs: Vec<Figures> = paths.iter().map(|_| Figures::default()).collect();
    for round in 0..o.rounds {
        for (i, (p, f)) in paths.iter_mut().zip(figs.iter_mut()).enumerate() {
            eprintln!("round {}/{}: {}", round + 1, o.rounds, p.target.name);
            let addr = p.target.addr;
            let hop_pids: Vec<u32> = if i == FORWARD {
                forward_pid.into_iter().collect()
            } else {
                p.hops.iter().map(Child::id).collect()
            };
            let c0 = cpu_of(&hop_pids);
            f.bulk1.push(load::bulk(addr, 1, o.bytes).await?);
            if let (Some(a), Some(b)) = (c0, cpu_of(&hop_pids))
                && !hop_pids.is_empty()
            {
                f.hop_cpu_per_gb.push(
                    b.saturating_sub(a).as_secs_f64()
                        / (o.bytes as f64 / 1e9)
                        / hop_pids.len() as f64,
                );
            }
            f.bulk4.push(load::bulk(addr, 4, o.bytes).await?);
            f.rr.push(load::request_response(addr, 64, o.seconds).await?.per_sec);
            let access_pid: Vec<u32> = p.access.into_iter().collect();
            let (h0, a0) = (cpu_of(&hop_pids), cpu_of(&access_pid));
            let start = tokio::time::Instant::now();
            let rate = load::connection_rate(addr, 16, o.seconds).await?;
            let conns = rate * start.elapsed().as_secs_f64();
            f.conn_rate.push(rate);
            if let (Some(a), Some(b)) = (h0, cpu_of(&hop_pids))
                && !hop_pids.is_empty()
            {
                f.hop_cpu_us
                    .push(b.saturating_sub(a).as_secs_f64() * 1e6 / conns / hop_pids.len() as f64);
            }
            if let (Some(a), Some(b)) = (a0, cpu_of(&access_pid))
                && !access_pid.is_empty()
            {
                f.access_cpu_us
                    .push(b.saturating_sub(a).as_secs_f64() * 1e6 / conns);
            }
        }
    }
    let _ = std::fs::remove_file(&keys);
    print_table(&paths, &figs, &o);
    Ok(())
}

fn print_table(paths: &[PathUnderTest], figs: &[Figures], o: &Opts) {
    println!(
        "\nmedians of {} rounds; bulk {} MiB per run; rate runs {:.1} s\n",
        o.rounds,
        o.bytes >> 20,
        o.seconds.as_secs_f64()
    );
    let names: Vec<&str> = paths.iter().map(|p| p.target.name.as_str()).collect();
    println!("| metric | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    type Get = fn(&Figures) -> Option<f64>;
    let rows: [(&str, Get); 7] = [
        ("bulk 1 stream (MiB/s)", |f| {
            Some(median(&f.bulk1) / 1_048_576.0)
        }),
        ("bulk 4 streams (MiB/s)", |f| {
            Some(median(&f.bulk4) / 1_048_576.0)
        }),
        ("64 B req/resp, 64 conns (req/s)", |f| Some(median(&f.rr))),
        ("connections/s (16 workers)", |f| Some(median(&f.conn_rate))),
        ("CPU per connection, forward or each hop (us)", |f| {
            median_of(&f.hop_cpu_us)
        }),
        ("CPU per connection, access client (us)", |f| {
            median_of(&f.access_cpu_us)
        }),
        ("CPU per GB, forward or each hop, 1 stream (s)", |f| {
            median_of(&f.hop_cpu_per_gb)
        }),
    ];
    for (label, get) in rows {
        let cells: Vec<String> = figs
            .iter()
            .map(|f| get(f).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    let get = |i: usize, g: Get| figs.get(i).and_then(g);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    let (bulk1, bulk4, cpu, per_gb) = (rows[0].1, rows[1].1, rows[4].1, rows[6].1);
    let lines: [(&str, usize, usize, Get); 10] = [
        (
            "hop3 / hop1 bulk, 1 stream (target >= 0.8)",
            HOP3,
            HOP1,
            bulk1,
        ),
        ("hop3 / hop1 bulk, 4 streams", HOP3, HOP1, bulk4),
        (
            "control: fwd3 / forward bulk, 1 stream",
            FWD3,
            FORWARD,
            bulk1,
        ),
        (
            "control: fwd3 / forward bulk, 4 streams",
            FWD3,
            FORWARD,
            bulk4,
        ),
        (
            "control, same relay count: fwd4 / fwd2 bulk, 1 stream",
            FWD4,
            FWD2,
            bulk1,
        ),
        (
            "control, same relay count: fwd4 / fwd2 bulk, 4 streams",
            FWD4,
            FWD2,
            bulk4,
        ),
        (
            "hop1 / fwd2 bulk, 1 stream (2 relays each)",
            HOP1,
            FWD2,
            bulk1,
        ),
        (
            "hop3 / fwd4 bulk, 1 stream (4 relays each)",
            HOP3,
            FWD4,
            bulk1,
        ),
        (
            "hop CPU per connection / forward's (target <= 2)",
            HOP1,
            FORWARD,
            cpu,
        ),
        ("hop CPU per GB / forward's", HOP1, FORWARD, per_gb),
    ];
    println!("\n| ratio | value |\n|---|---|");
    for (label, a, b, g) in lines {
        println!("| {label} | {} |", ratio(get(a, g), get(b, g)));
    }
    println!(
        "| hop3 per-hop CPU per connection / forward's | {} |",
        ratio(get(HOP3, cpu), get(FORWARD, cpu))
    );
}
