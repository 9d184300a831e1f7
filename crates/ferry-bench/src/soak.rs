//! `ferry-bench soak`: a modest, mixed load kept going for a duration through all four
//! programs, every byte verified (`scripts/soak.sh` starts the programs and runs this).
//!
//! The driver runs the echo backends itself (TCP on `--echo`, UDP on `--udp-echo`) and starts
//! `--rate` sessions per second (default 30), at most `--max-live` at once, each on a route
//! picked at random among those given: plain and TLS through ferry-proxy, SOCKS5 CONNECT and
//! SOCKS5 UDP ASSOCIATE through `ferry-hop access` and its chain, HTTP CONNECT with
//! Proxy-Authorization through ferry-gateway and ferry-agent. A TCP session follows a random
//! [`Plan`] (short, idle mid-stream or long-lived; random sizes up to 512 KiB; half-close,
//! close or reset); a UDP session sends 5-30 numbered datagrams. Every echo must be byte-exact.
//!
//! Every `--report` seconds it prints one line of `key=value` fields starting with `SOAK`, and
//! `SOAK-FINAL` at the end:
//!
//! `SOAK t=SECS live=N started=N skipped=N ok=N failed=N tolerated=N corrupt=N bytes=N
//! udp_sent=N udp_lost=N plain=OK/FAILED/TOLERATED tls=... socks=... udp=... connect=...`
//!
//! Failures: a corrupted byte always fails the soak. A failed session (refused, closed early,
//! stalled for 20 s) fails it too, except on the tunnel route around agent restarts: the script
//! appends `kill N` to the file `--restarts` before it kills the agent and `connected N` once
//! the new agent is connected; tunnel failures are tolerated while the last line is a kill and
//! for `--grace` after any change of the file (default 20 s: tunnels cut by the kill end as the
//! gateway notices, at the latest after its QUIC idle timeout). The file is read again at every
//! tunnel failure, so a failure is judged on the file as it is, however busy the machine. Lost
//! datagrams are counted, not failures.
//! The exit status is 1 when anything failed.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::load::Dest;
use crate::soak_plan::{Plan, Route};
use crate::soak_tcp::Failure;
use crate::soak_udp::UdpCounts;
use crate::{soak_tcp, soak_udp, tls_load};

/// Options of `ferry-bench soak`.
#[derive(clap::Args, Debug)]
pub(crate) struct SoakArgs {
    /// How long to keep the load going, in seconds.
    #[arg(long, default_value_t = 3600.0)]
    seconds: f64,
    /// Sessions started per second, all routes together.
    #[arg(long, default_value_t = 30.0)]
    rate: f64,
    /// Sessions alive at once at most (a start over it is skipped and counted).
    #[arg(long, default_value_t = 400)]
    max_live: usize,
    /// Seconds between two report lines.
    #[arg(long, default_value_t = 10.0)]
    report: f64,
    /// Where the driver's TCP echo backend listens (every TCP route's destination).
    #[arg(long)]
    echo: SocketAddr,
    /// Where the driver's UDP echo backend listens (the UDP route's destination).
    #[arg(long)]
    udp_echo: SocketAddr,
    /// ferry-proxy's plain listener.
    #[arg(long)]
    plain: Option<SocketAddr>,
    /// ferry-proxy's TLS listener (with --tls-ca).
    #[arg(long, requires = "tls_ca")]
    tls: Option<SocketAddr>,
    /// The certificate the TLS listener presents (issued for `localhost`).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// `ferry-hop access`'s SOCKS5 listener (no authentication): CONNECT and UDP ASSOCIATE.
    #[arg(long)]
    socks: Option<SocketAddr>,
    /// ferry-gateway's client listener (HTTP CONNECT; with --agent-id and --token-file).
    #[arg(long, requires_all = ["agent_id", "token_file"])]
    connect: Option<SocketAddr>,
    /// The agent id (the CONNECT username).
    #[arg(long)]
    agent_id: Option<String>,
    /// A file holding the client token (the CONNECT password).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The agent restart log: `kill N` and `connected N` lines appended by the script; tunnel
    /// failures are tolerated while its last line is a kill and for --grace after any change.
    #[arg(long)]
    restarts: Option<PathBuf>,
    /// Seconds tunnel failures stay tolerated after the restart log changed.
    #[arg(long, default_value_t = 20.0)]
    grace: f64,
}

/// Where each route goes.
struct Targets {
    echo: SocketAddr,
    udp_echo: SocketAddr,
    plain: Option<SocketAddr>,
    tls: Option<(SocketAddr, tls_load::Client)>,
    socks: Option<SocketAddr>,
    connect: Option<Dest>,
}

impl Targets {
    fn routes(&self) -> Vec<Route> {
        Route::ALL
            .into_iter()
            .filter(|r| match r {
                Route::Plain => self.plain.is_some(),
                Route::Tls => self.tls.is_some(),
                Route::Socks | Route::Udp => self.socks.is_some(),
                Route::Connect => self.connect.is_some(),
            })
            .collect()
    }
}

/// Outcomes of one route.
#[derive(Default)]
struct RouteCounts {
    ok: AtomicU64,
    failed: AtomicU64,
    tolerated: AtomicU64,
}

/// Everything counted.
#[derive(Default)]
struct Counts {
    routes: [RouteCounts; Route::ALL.len()],
    started: AtomicU64,
    skipped: AtomicU64,
    corrupt: AtomicU64,
    bytes: AtomicU64,
    udp: UdpCounts,
}

/// State shared by every session.
struct Shared {
    targets: Targets,
    counts: Counts,
    stop: AtomicBool,
    start: Instant,
    /// When tunnel failures are tolerated.
    restarts: Restarts,
    /// Failure messages printed so far (the first 50, then every 1000th).
    messages: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn record(&self, route: Route, result: Result<u64, Failure>) {
        let counts = &self.counts.routes[route.index()];
        let (kind, message) = match result {
            Ok(bytes) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                self.counts.bytes.fetch_add(bytes, Ordering::Relaxed);
                return;
            }
            Err(Failure::Corrupt(m)) => {
                self.counts.corrupt.fetch_add(1, Ordering::Relaxed);
                counts.failed.fetch_add(1, Ordering::Relaxed);
                ("CORRUPT", m)
            }
            Err(Failure::Io(m)) => {
                let tolerated = route == Route::Connect && self.restarts.tolerates(self.now_ms());
                if tolerated {
                    counts.tolerated.fetch_add(1, Ordering::Relaxed);
                    ("tolerated", m)
                } else {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    ("failed", m)
                }
            }
        };
        let n = self.messages.fetch_add(1, Ordering::Relaxed);
        if n < 50 || n.is_multiple_of(1000) {
            eprintln!(
                "soak t={:.1} {} {kind}: {message}",
                self.start.elapsed().as_secs_f64(),
                route.name()
            );
        }
    }

    /// The report line.
    fn line(&self, label: &str, live: usize) -> String {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sum =
            |f: fn(&RouteCounts) -> &AtomicU64| c.routes.iter().map(|r| get(f(r))).sum::<u64>();
        let mut line = format!(
            "{label} t={} live={live} started={} skipped={} ok={} failed={} tolerated={} corrupt={} bytes={} udp_sent={} udp_lost={}",
            self.start.elapsed().as_secs(),
            get(&c.started),
            get(&c.skipped),
            sum(|r| &r.ok),
            sum(|r| &r.failed),
            sum(|r| &r.tolerated),
            get(&c.corrupt),
            get(&c.bytes),
            get(&c.udp.sent),
            get(&c.udp.lost),
        );
        for route in Route::ALL {
            let r = &c.routes[route.index()];
            line.push_str(&format!(
                " {}={}/{}/{}",
                route.name(),
                get(&r.ok),
                get(&r.failed),
                get(&r.tolerated)
            ));
        }
        line
    }

    fn failed(&self) -> bool {
        let c = &self.counts;
        c.corrupt.load(Ordering::Relaxed) > 0
            || c.routes
                .iter()
                .any(|r| r.failed.load(Ordering::Relaxed) > 0)
    }
}

/// One session on `route` with a plan of its own.
async fn session(shared: &Shared, route: Route, plan: &Plan) -> Result<u64, Failure> {
    let t = &shared.targets;
    let stop = &shared.stop;
    let missing = || Failure::Io(format!("route {} is not configured", route.name()));
    match route {
        Route::Plain => soak_tcp::plain(t.plain.ok_or_else(missing)?, plan, stop).await,
        Route::Tls => {
            let (addr, client) = t.tls.as_ref().ok_or_else(missing)?;
            soak_tcp::tls(client, *addr, plan, stop).await
        }
        Route::Socks => soak_tcp::socks(t.socks.ok_or_else(missing)?, t.echo, plan, stop).await,
        Route::Udp => {
            let socks = t.socks.ok_or_else(missing)?;
            soak_udp::session(socks, t.udp_echo, &shared.counts.udp, stop).await
        }
        Route::Connect => {
            soak_tcp::http_connect(t.connect.as_ref().ok_or_else(missing)?, plan, stop).await
        }
    }
}

/// Runs the soak; fails when a byte was corrupted or a session failed outside a tolerated
/// window.
pub(crate) async fn run(args: SoakArgs) -> io::Result<()> {
    let echo = TcpListener::bind(args.echo).await?;
    tokio::spawn(crate::echo_on(echo));
    tokio::spawn(soak_udp::echo(UdpSocket::bind(args.udp_echo).await?));
    let tls = match (args.tls, &args.tls_ca) {
        (Some(addr), Some(ca)) => Some((
            addr,
            tls_load::Client::new(
                ca,
                tls_load::Version::Tls13,
                true,
                crate::naive_tls::Kx::X25519mlkem768,
            )?,
        )),
        _ => None,
    };
    let connect = match (args.connect, &args.agent_id, &args.token_file) {
        (Some(gateway), Some(agent), Some(file)) => {
            let token = std::fs::read_to_string(file)?;
            Some(Dest::http_connect(gateway, args.echo, agent, token.trim()))
        }
        _ => None,
    };
    let targets = Targets {
        echo: args.echo,
        udp_echo: args.udp_echo,
        plain: args.plain,
        tls,
        socks: args.socks,
        connect,
    };
    let routes = targets.routes();
    if routes.is_empty() {
        return Err(io::Error::other(
            "soak: no route given (--plain, --tls, --socks, --connect)",
        ));
    }
    let shared = Arc::new(Shared {
        targets,
        counts: Counts::default(),
        stop: AtomicBool::new(false),
        start: Instant::now(),
        restarts: Restarts {
            file: args.restarts.clone(),
            grace_ms: u64::try_from(Duration::from_secs_f64(args.grace).as_millis())
                .unwrap_or(u64::MAX),
            seen: std::sync::Mutex::new(String::new()),
            until_ms: AtomicU64::new(0),
        },
        messages: AtomicU64::new(0),
    });
    for &route in &routes {
        wait_route(&shared, route).await?;
    }
    eprintln!(
        "soak: routes {} ready; {} s at {} sessions/s",
        routes
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", "),
        args.seconds,
        args.rate
    );
    if shared.restarts.file.is_some() {
        tokio::spawn(watch_restarts(Arc::clone(&shared)));
    }
    let live = Arc::new(Semaphore::new(args.max_live));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let report = Duration::from_secs_f64(args.report);
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut next_report = Instant::now() + report;
    let live_now = |live: &Semaphore| args.max_live - live.available_permits();
    while Instant::now() < end {
        tick.tick().await;
        if Instant::now() >= next_report {
            println!("{}", shared.line("SOAK", live_now(&live)));
            next_report += report;
        }
        let Ok(permit) = Arc::clone(&live).try_acquire_owned() else {
            shared.counts.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        shared.counts.started.fetch_add(1, Ordering::Relaxed);
        let (route, plan) = {
            let mut rng = rand::rng();
            (
                routes[rng.random_range(0..routes.len())],
                Plan::random(&mut rng),
            )
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let result = session(&shared, route, &plan).await;
            shared.record(route, result);
            drop(permit);
        });
    }
    // Sessions skip their remaining rounds; every step is bounded by the stall deadline.
    shared.stop.store(true, Ordering::Relaxed);
    let all = u32::try_from(args.max_live).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(120), live.acquire_many(all)).await;
    println!("{}", shared.line("SOAK-FINAL", live_now(&live)));
    if shared.failed() {
        return Err(io::Error::other(
            "soak failed: corrupted bytes or failed sessions",
        ));
    }
    Ok(())
}

/// Probes `route` with one-byte sessions until one succeeds (10 s).
async fn wait_route(shared: &Shared, route: Route) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let error = match session(shared, route, &Plan::probe()).await {
            Ok(_) => return Ok(()),
            Err(Failure::Corrupt(m) | Failure::Io(m)) => m,
        };
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "soak: route {} is not ready: {error}",
                route.name()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads the restart log every 100 ms, so that the grace starts when it changes even if no
/// tunnel fails meanwhile.
async fn watch_restarts(shared: Arc<Shared>) {
    loop {
        shared.restarts.tolerates(shared.now_ms());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The agent restart log and the tolerance window it opens.
struct Restarts {
    file: Option<PathBuf>,
    grace_ms: u64,
    /// The log's text when last read.
    seen: std::sync::Mutex<String>,
    /// Tunnel failures are tolerated until this many milliseconds after the start.
    until_ms: AtomicU64,
}

impl Restarts {
    /// Reads the log; whether a tunnel failure at `now_ms` is tolerated.
    fn tolerates(&self, now_ms: u64) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let restarting = text.lines().last().is_some_and(|l| l.starts_with("kill"));
        let changed = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = *seen != text;
            *seen = text;
            changed
        };
        if restarting || changed {
            self.until_ms
                .fetch_max(now_ms.saturating_add(self.grace_ms), Ordering::Relaxed);
        }
        now_ms < self.until_ms.load(Ordering::Relaxed)
    }
}
