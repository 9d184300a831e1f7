//! `ferry-bench compare-tunnel`: Ferry's reverse tunnel (`ferry-gateway` + `ferry-agent`)
//! against the direct path and rathole, in the same run.
//!
//! Paths (all on loopback, the bench upstream in-process as the private service):
//!
//! - `direct`: the bench upstream itself;
//! - `rathole`: a rathole server and client with the plain TCP transport (no encryption);
//! - `rathole-noise`: the same with the Noise transport (`Noise_NK_25519_ChaChaPoly_BLAKE2s`),
//!   when a rathole built with the `noise` feature is given;
//! - `ferry`: `ferry-gateway` and `ferry-agent` (QUIC/TLS 1.3 between them, an ECDSA P-256
//!   certificate, static tokens made with `ferry-gateway token new`); every client connection
//!   starts with `CONNECT` and `Proxy-Authorization: Basic`, counted in its cost.
//! - `ferry-service` (with `--service`): the same programs, the gateway exposing the upstream
//!   as a TCP port service (`[[service]]`): clients connect straight to the service port and
//!   send no `CONNECT`, exactly what rathole's visitors do.
//! - `ferry/T`, `ferry-service/T` (with `--transport T`, repeatable, `quic` or `tcp`): the
//!   same with `ferry-agent --transport T` (`tcp`: TLS 1.3 + HTTP/2 over TCP between them).
//!
//! - UDP services (with `--udp-service`): the bench's UDP echo upstream directly, through a
//!   rathole `type = "udp"` service (on both rathole paths) and through a gateway UDP port
//!   service (`protocol = "udp"`, on every `ferry-service` path); the datagram workload is
//!   `udp_load`'s (a bounded window of outstanding datagrams on a few client sockets, figures
//!   on what is echoed, loss reported). `--udp-only` measures only that.
//!
//! - `quic-bare` (with `--quic-bare`): the barest tunnel on quinn, this program's
//!   `quic-relay-public` and `quic-relay-private` (see `quic_relay`): what QUIC itself costs
//!   here, without any of the tunnel's features.
//! - `haproxy-one-hop`, `nginx-one-hop` (with `--haproxy PATH`, `--nginx PATH`): HAProxy
//!   (`mode tcp`) or nginx's stream module relaying from a port straight to the upstream, one
//!   thread or worker per core. No tunnel: the work a tunnel does for a connection at its two
//!   ends (accept the client, dial the upstream, relay both ways) in one process.
//! - `haproxy-two-hops`, `nginx-two-hops` (the same options): two such relays chained, the
//!   first dialing the second over plain TCP, so that every connection crosses two processes
//!   as in a tunnel (with a fresh TCP connection between them, as rathole's data channel).
//!   Their ratios to rathole are printed with the others'; not measured under `--callgrind`.
//!
//! Figures: bulk throughput (1 and 4 streams), 64-byte request/response rate, connection rate,
//! and the CPU time of the tunnel's two processes (from `/proc`): per GB relayed during the bulk
//! runs and per connection during the connection-rate run, in total and split into the public
//! side (gateway, rathole server) and the private side (agent, rathole client); and the UDP
//! datagrams the host dropped for full socket receive buffers during the bulk runs (Ferry's
//! tunnel is the only path on UDP: losses there make QUIC's congestion control back off).
//! With `--udp-service`, per path: 1,200-byte and 64-byte datagrams echoed per second, MiB/s
//! echoed and loss, and the tunnel's CPU per GB echoed (every echoed byte crossed the tunnel
//! both ways) and per echoed datagram.
//! Medians of `--rounds` rounds, the paths interleaved within each round. Every child process
//! is killed when the command ends, on error and on SIGINT/SIGTERM too.
//!
//! With `--callgrind`, instead of timed figures: user-space instructions per connection of each
//! tunnel process, counted by running the tunnel's two processes under
//! `valgrind --tool=callgrind` for two amounts of connections (`--cg-conns` and 4x + 100, one
//! after another, each with one 64-byte echo and a half-close) and dividing the difference in
//! instructions by the difference in connections (as `compare --callgrind` does for proxies).
//! UDP services are not measured in that mode.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::compare_hop::{spawn, wait_listening};
use crate::compare_tls::{CertKind, make_cert};
use crate::load::Dest;
use crate::peers::Peer;
use crate::udp_load::{self, UdpRun, free_udp_port};
use crate::{
    Target, free_port, load, median_of, procstat, server, stop, wait_ready, wait_ready_within,
};

/// Options of `compare-tunnel`.
pub(crate) struct Opts {
    pub(crate) gateway: Option<PathBuf>,
    pub(crate) agent: Option<PathBuf>,
    pub(crate) rathole: Option<PathBuf>,
    pub(crate) rathole_noise: Option<PathBuf>,
    pub(crate) quic_bare: bool,
    /// `--haproxy`, `--nginx`: one-hop relays measured beside the tunnels.
    pub(crate) haproxy: Option<PathBuf>,
    pub(crate) nginx: Option<PathBuf>,
    pub(crate) service: bool,
    pub(crate) udp_service: bool,
    pub(crate) udp_only: bool,
    pub(crate) udp_sockets: usize,
    pub(crate) udp_window: usize,
    pub(crate) transports: Vec<String>,
    pub(crate) bytes: u64,
    pub(crate) seconds: Duration,
    pub(crate) rounds: usize,
    /// `--callgrind`: connections in the smaller run (the larger has 4x + 100).
    pub(crate) callgrind: Option<u64>,
    /// `--callgrind`: keep callgrind's output files under this directory.
    pub(crate) cg_keep: Option<PathBuf>,
    /// `--callgrind`: only the paths of these names (all when empty).
    pub(crate) cg_only: Vec<String>,
}

/// Where the tunnel's processes write callgrind output (one subdirectory per side), when they
/// run under callgrind; how long they are given to become ready.
#[derive(Clone, Copy)]
struct Run<'a> {
    callgrind: Option<&'a Path>,
}

impl Run<'_> {
    const PLAIN: Run<'static> = Run { callgrind: None };

    /// Starts `bin` with `args`, under callgrind writing to `dir/side/` when asked.
    fn spawn(self, side: &str, bin: &Path, args: &[String]) -> io::Result<Child> {
        let Some(dir) = self.callgrind else {
            return spawn(bin, args);
        };
        let dir = dir.join(side);
        std::fs::create_dir_all(&dir)?;
        let mut full = crate::callgrind::args(&dir).to_vec();
        full.push(bin.display().to_string());
        full.extend_from_slice(args);
        spawn(Path::new("valgrind"), &full)
    }

    async fn listening(self, addr: SocketAddr) -> io::Result<()> {
        // Under valgrind start-up takes several times longer.
        let tries = if self.callgrind.is_some() { 12 } else { 1 };
        let mut last = Ok(());
        for _ in 0..tries {
            last = wait_listening(addr).await;
            if last.is_ok() {
                break;
            }
        }
        last
    }

    async fn ready(self, dest: Dest) -> io::Result<()> {
        if self.callgrind.is_some() {
            wait_ready_within(dest, Duration::from_secs(180)).await
        } else {
            wait_ready(dest).await
        }
    }
}

/// A path under test: where clients connect, and the tunnel's processes (public side first;
/// killed on drop).
struct TunnelPath {
    name: String,
    dest: Dest,
    /// Where datagrams go (`--udp-service`): the echo upstream or the tunnel's UDP service.
    udp: Option<SocketAddr>,
    procs: Vec<Target>,
}

impl TunnelPath {
    fn pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter_map(|t| t.child.as_ref().map(Child::id))
            .collect()
    }
}

/// Per-round figures of one path; CPU vectors hold one entry per tunnel process.
#[derive(Default)]
struct Figures {
    bulk1: Vec<f64>,
    bulk4: Vec<f64>,
    rr: Vec<f64>,
    rr_p50: Vec<f64>,
    rr_p99: Vec<f64>,
    conn_rate: Vec<f64>,
    /// CPU seconds per GB, 1-stream bulk: total, then per process.
    gb1: Split,
    /// CPU seconds per GB, 4-stream bulk.
    gb4: Split,
    /// CPU microseconds per connection in the connection-rate run.
    conn_us: Split,
    /// Of `conn_us.total`, the kernel's share (system time of both processes).
    conn_sys_us: Vec<f64>,
    /// Cores of the machine kept busy (every process, the bench's clients and upstream
    /// included) during the 1-stream and 4-stream bulk runs and the connection-rate run.
    busy1: Vec<f64>,
    busy4: Vec<f64>,
    busy_conn: Vec<f64>,
    /// UDP datagrams dropped for a full receive buffer during the two bulk runs, host-wide
    /// (only Ferry's tunnel uses UDP; other processes on the host may add to it).
    udp_drops: Vec<f64>,
    /// `--udp-service`, 1,200-byte datagrams: echoed per second, bytes echoed per second, loss
    /// (%), tunnel CPU seconds per GB echoed.
    udp_big: UdpFigures,
    /// The same with 64-byte datagrams.
    udp_small: UdpFigures,
    /// UDP datagrams dropped for a full receive buffer during the UDP runs, host-wide.
    udp_run_drops: Vec<f64>,
}

/// Per-round figures of one datagram size.
#[derive(Default)]
struct UdpFigures {
    per_sec: Vec<f64>,
    bytes_per_sec: Vec<f64>,
    loss: Vec<f64>,
    /// CPU seconds per GB echoed.
    gb: Split,
    /// CPU microseconds per echoed datagram.
    us: Split,
}

impl UdpFigures {
    fn push(&mut self, run: &UdpRun, before: &[Option<Duration>], after: &[Option<Duration>]) {
        self.per_sec.push(run.datagrams_per_sec());
        self.bytes_per_sec.push(run.bytes_per_sec());
        self.loss.push(run.loss_percent());
        if run.echoed > 0 {
            self.gb.push(before, after, run.echoed_bytes as f64 / 1e9);
            self.us.push(before, after, run.echoed as f64 / 1e6);
        }
    }
}

/// One CPU figure over the rounds: the tunnel's total and each process's share.
#[derive(Default)]
struct Split {
    total: Vec<f64>,
    public: Vec<f64>,
    private: Vec<f64>,
}

impl Split {
    /// Records the CPU used between `before` and `after` (per process), divided by `per`.
    fn push(&mut self, before: &[Option<Duration>], after: &[Option<Duration>], per: f64) {
        let used: Option<Vec<f64>> = before
            .iter()
            .zip(after)
            .map(|(a, b)| Some((b.as_ref()?.saturating_sub(*a.as_ref()?)).as_secs_f64() / per))
            .collect();
        match used.as_deref() {
            Some(&[public, private]) => {
                self.total.push(public + private);
                self.public.push(public);
                self.private.push(private);
            }
            // A one-hop relay: one process, no sides.
            Some(&[only]) => self.total.push(only),
            _ => {}
        }
    }
}

/// The CPU time of each of `pids`, with its children's (nginx relays in the workers its
/// master forks).
fn cpu(pids: &[u32]) -> Vec<Option<Duration>> {
    pids.iter().map(|&p| procstat::tree_cpu_time(p)).collect()
}

/// The system (kernel) CPU time of all of `pids` and their live children together.
fn sys(pids: &[u32]) -> Option<Duration> {
    pids.iter()
        .flat_map(|&p| procstat::tree(p))
        .map(|p| procstat::cpu_times(p).map(|(_, s)| s))
        .sum()
}

/// Runs `command` and returns its standard output, failing on a non-zero exit.
fn output(bin: &Path, args: &[&str]) -> io::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} {} failed: {}",
            bin.display(),
            args.join(" "),
            out.status
        )));
    }
    String::from_utf8(out.stdout).map_err(io::Error::other)
}

fn process(name: &str, addr: SocketAddr, child: Child) -> Target {
    Target {
        name: name.to_owned(),
        addr,
        child: Some(child),
    }
}

/// Where a rathole pair listens and relays to.
struct RatholeAddrs {
    /// The server's control (and data channel) address.
    control: SocketAddr,
    /// The TCP service's public address, relayed to `upstream`.
    service: SocketAddr,
    upstream: SocketAddr,
    /// A UDP service (`type = "udp"`): its public address and the UDP upstream.
    udp: Option<(SocketAddr, SocketAddr)>,
}

/// The server's and the client's config: one TCP service `bench` (and with `a.udp` a UDP
/// service `bench-udp`), the transport sections `server_tx` and `client_tx` (empty for plain
/// TCP).
fn rathole_configs(
    a: &RatholeAddrs,
    token: &str,
    server_tx: &str,
    client_tx: &str,
) -> (String, String) {
    let RatholeAddrs {
        control,
        service,
        upstream,
        ..
    } = a;
    let mut server = format!(
        "[server]\nbind_addr = \"{control}\"\n{server_tx}\
         [server.services.bench]\ntoken = \"{token}\"\nbind_addr = \"{service}\"\n"
    );
    let mut client = format!(
        "[client]\nremote_addr = \"{control}\"\n{client_tx}\
         [client.services.bench]\ntoken = \"{token}\"\nlocal_addr = \"{upstream}\"\n"
    );
    if let Some((bind, udp_upstream)) = a.udp {
        server.push_str(&format!(
            "[server.services.bench-udp]\ntype = \"udp\"\ntoken = \"{token}\"\n\
             bind_addr = \"{bind}\"\n"
        ));
        client.push_str(&format!(
            "[client.services.bench-udp]\ntype = \"udp\"\ntoken = \"{token}\"\n\
             local_addr = \"{udp_upstream}\"\n"
        ));
    }
    (server, client)
}

/// A rathole server and client relaying to `upstream` (and with `udp_upstream`, a UDP service
/// relaying to it); with `noise`, over the Noise transport with a key pair from
/// `rathole --genkey`.
async fn rathole(
    name: &str,
    bin: &Path,
    noise: bool,
    dir: &Path,
    upstream: SocketAddr,
    udp_upstream: Option<SocketAddr>,
    run: Run<'_>,
) -> io::Result<TunnelPath> {
    let (server_tx, client_tx) = if noise {
        let keys = output(bin, &["--genkey"])?;
        let mut lines = keys.lines().map(str::trim).filter(|l| !l.is_empty());
        let (Some("Private Key:"), Some(private), Some("Public Key:"), Some(public)) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(io::Error::other(format!(
                "unexpected `rathole --genkey` output: {keys:?}"
            )));
        };
        (
            format!(
                "[server.transport]\ntype = \"noise\"\n[server.transport.noise]\n\
                 local_private_key = \"{private}\"\n"
            ),
            format!(
                "[client.transport]\ntype = \"noise\"\n[client.transport.noise]\n\
                 remote_public_key = \"{public}\"\n"
            ),
        )
    } else {
        (String::new(), String::new())
    };
    let (control, service) = (free_port().await?, free_port().await?);
    let udp = match udp_upstream {
        Some(u) => Some((free_udp_port().await?, u)),
        None => None,
    };
    let addrs = RatholeAddrs {
        control,
        service,
        upstream,
        udp,
    };
    let token = format!("bench-{}", std::process::id());
    let (server_text, client_text) = rathole_configs(&addrs, &token, &server_tx, &client_tx);
    let server_cfg = dir.join(format!("{name}-server.toml"));
    std::fs::write(&server_cfg, server_text)?;
    let client_cfg = dir.join(format!("{name}-client.toml"));
    std::fs::write(&client_cfg, client_text)?;
    let server = process(
        "server",
        control,
        run.spawn(
            "public",
            bin,
            &["-s".into(), server_cfg.display().to_string()],
        )?,
    );
    run.listening(control).await?;
    let client = process(
        "client",
        service,
        run.spawn(
            "private",
            bin,
            &["-c".into(), client_cfg.display().to_string()],
        )?,
    );
    let path = TunnelPath {
        name: name.to_owned(),
        dest: service.into(),
        udp: udp.map(|(bind, _)| bind),
        procs: vec![server, client],
    };
    run.ready(path.dest.clone()).await?;
    if let Some(u) = path.udp {
        udp_load::wait_ready(u).await?;
    }
    Ok(path)
}

/// The name of a relay path in the tables: `haproxy-one-hop`, `nginx-two-hops`.
fn relays_name(peer: &Peer, hops: Hops) -> String {
    match hops {
        Hops::One => format!("{}-one-hop", peer.name()),
        Hops::Two => format!("{}-two-hops", peer.name()),
    }
}

/// How many relays a relay path chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hops {
    /// One relay from the client straight to the upstream: the work every tunnel does for a
    /// connection at its two ends (accept the client, dial the upstream, relay both ways) and
    /// nothing more, in one process.
    One,
    /// Two relays, the first dialing the second over plain TCP: a connection crosses two
    /// processes as it does in a tunnel, with a fresh TCP connection between them (as
    /// rathole's data channel) instead of a stream on a shared one.
    Two,
}

/// `hops` relays of `peer` (HAProxy or nginx) chained from a port of the first to `upstream`,
/// each with one thread or worker per core as the tunnel's programs have; the first relay is
/// the public side, the second the private side.
async fn relays(
    peer: &Peer,
    hops: Hops,
    dir: &Path,
    upstream: SocketAddr,
) -> io::Result<TunnelPath> {
    let name = relays_name(peer, hops);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let count = match hops {
        Hops::One => 1,
        Hops::Two => 2,
    };
    // From the upstream's side: each relay forwards to the one started before it.
    let mut next = upstream;
    let mut procs = Vec::with_capacity(count);
    for i in (0..count).rev() {
        let dir = dir.join(format!("{name}-{i}"));
        std::fs::create_dir_all(&dir)?;
        let listen = free_port().await?;
        let command = peer.command(&dir, listen, next, cores)?;
        procs.push(crate::peers::spawn(&name, listen, &[], &command, &[])?);
        wait_listening(listen).await?;
        next = listen;
    }
    procs.reverse();
    let path = TunnelPath {
        name,
        dest: next.into(),
        udp: None,
        procs,
    };
    wait_ready(path.dest.clone()).await?;
    Ok(path)
}

/// The bare-QUIC baseline (`quic_relay`): this program as the public and the private side.
async fn quic_bare(dir: &Path, upstream: SocketAddr) -> io::Result<TunnelPath> {
    let dir = dir.join("quic-bare");
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = make_cert(&dir, CertKind::Ecdsa)?;
    let bin = std::env::current_exe()?;
    let (listen, quic) = (free_port().await?, free_port().await?);
    let public = process(
        "public",
        listen,
        spawn(
            &bin,
            &[
                "quic-relay-public".into(),
                "--listen".into(),
                listen.to_string(),
                "--quic".into(),
                quic.to_string(),
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                key.display().to_string(),
            ],
        )?,
    );
    wait_listening(listen).await?;
    let private = process(
        "private",
        quic,
        spawn(
            &bin,
            &[
                "quic-relay-private".into(),
                "--quic".into(),
                quic.to_string(),
                "--ca".into(),
                cert.display().to_string(),
                "--upstream".into(),
                upstream.to_string(),
            ],
        )?,
    );
    let path = TunnelPath {
        name: "quic-bare".into(),
        dest: listen.into(),
        udp: None,
        procs: vec![public, private],
    };
    wait_ready(path.dest.clone()).await?;
    Ok(path)
}

/// How clients reach the upstream through `ferry-gateway`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// `CONNECT` with a client token on the client front.
    Connect,
    /// A TCP port service: no `CONNECT`, no credential.
    Service,
}

fn ferry_name(entry: Entry, transport: Option<&str>) -> String {
    let name = match entry {
        Entry::Connect => "ferry",
        Entry::Service => "ferry-service",
    };
    match transport {
        Some(t) => format!("{name}/{t}"),
        None => name.to_owned(),
    }
}

/// Where a gateway listens and what it relays to.
struct GatewayAddrs {
    listen: SocketAddr,
    agent_listen: SocketAddr,
    upstream: SocketAddr,
    /// The TCP port service's address (`Entry::Service`).
    service: Option<SocketAddr>,
    /// A UDP port service: its address and the UDP upstream.
    udp: Option<(SocketAddr, SocketAddr)>,
}

/// The gateway's config: limits off (the per-source and per-agent limits would cap the rate
/// runs; the bench measures the tunnel, not its limiters), the upstreams allowed, and the port
/// services of `a`.
fn gateway_config(a: &GatewayAddrs, cert: &Path, key: &Path, tokens: &Path) -> String {
    let GatewayAddrs {
        listen,
        agent_listen,
        upstream,
        ..
    } = a;
    let mut allow = format!("\"{upstream}\"");
    let mut services = String::new();
    if let Some(service) = a.service {
        services.push_str(&format!(
            "[[service]]\nname = \"bench\"\nbind = \"{service}\"\nagent = \"bench\"\n\
             destination = \"{upstream}\"\nmax_connections_per_client = 1000000\n\
             client_rate = \"off\"\n"
        ));
    }
    if let Some((bind, udp_upstream)) = a.udp {
        if udp_upstream != *upstream {
            allow.push_str(&format!(", \"{udp_upstream}\""));
        }
        services.push_str(&format!(
            "[[service]]\nname = \"bench-udp\"\nbind = \"{bind}\"\nprotocol = \"udp\"\n\
             agent = \"bench\"\ndestination = \"{udp_upstream}\"\n\
             max_connections_per_client = 1000000\nclient_rate = \"off\"\n"
        ));
    }
    format!(
        "listen = \"{listen}\"\nagent_listen = \"{agent_listen}\"\nallow = [{allow}]\n\
         allow_special_addresses = true\n\
         [tls]\ncert = {cert:?}\nkey = {key:?}\n[auth]\ntokens = {tokens:?}\n\
         [limits]\nmax_tunnels = 1000000\nmax_tunnels_per_client = 1000000\n\
         max_tunnels_per_agent = 1000000\nclient_rate = \"off\"\nagent_rate = \"off\"\n\
         {services}",
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        tokens = tokens.display().to_string(),
    )
}

/// `ferry-gateway` (limits off, the upstream allowed) and one `ferry-agent` for it; with
/// `udp_upstream` (service entry only), a UDP port service relaying to it too.
#[allow(clippy::too_many_arguments)]
async fn ferry(
    gateway: &Path,
    agent: &Path,
    dir: &Path,
    upstream: SocketAddr,
    udp_upstream: Option<SocketAddr>,
    entry: Entry,
    transport: Option<&str>,
    run: Run<'_>,
) -> io::Result<TunnelPath> {
    let name = ferry_name(entry, transport);
    let dir = dir.join(name.replace('/', "-"));
    let dir = dir.as_path();
    std::fs::create_dir_all(dir)?;
    let (cert, key) = make_cert(dir, CertKind::Ecdsa)?;
    let tokens = dir.join("tokens");
    let tokens_arg = tokens.display().to_string();
    let new_token = |role| {
        output(
            gateway,
            &[
                "token",
                "new",
                "--role",
                role,
                "--agent-id",
                "bench",
                "--token-file",
                &tokens_arg,
            ],
        )
        .map(|t| t.trim().to_owned())
    };
    let agent_token = new_token("agent")?;
    let client_token = new_token("client")?;
    let agent_token_file = dir.join("agent.token");
    std::fs::write(&agent_token_file, &agent_token)?;
    let (listen, agent_listen) = (free_port().await?, free_port().await?);
    let service = free_port().await?;
    let udp = match (entry, udp_upstream) {
        (Entry::Service, Some(u)) => Some((free_udp_port().await?, u)),
        _ => None,
    };
    let addrs = GatewayAddrs {
        listen,
        agent_listen,
        upstream,
        service: (entry == Entry::Service).then_some(service),
        udp,
    };
    let config = dir.join("gateway.toml");
    std::fs::write(&config, gateway_config(&addrs, &cert, &key, &tokens))?;
    let agent_allow: Vec<String> = std::iter::once(upstream)
        .chain(udp.map(|(_, u)| u).filter(|&u| u != upstream))
        .flat_map(|a| ["--allow".to_owned(), a.to_string()])
        .collect();
    let gw = process(
        "gateway",
        listen,
        run.spawn(
            "public",
            gateway,
            &[
                "--config".into(),
                config.display().to_string(),
                "--log".into(),
                "warn".into(),
            ],
        )?,
    );
    run.listening(listen).await?;
    let ag = process(
        "agent",
        agent_listen,
        run.spawn(
            "private",
            agent,
            &[
                "--gateway".into(),
                agent_listen.to_string(),
                "--server-name".into(),
                "localhost".into(),
                "--tls-ca".into(),
                cert.display().to_string(),
                "--agent-id".into(),
                "bench".into(),
                "--token-file".into(),
                agent_token_file.display().to_string(),
                "--allow-special-addresses".into(),
                "--log".into(),
                "warn".into(),
            ]
            .into_iter()
            .chain(agent_allow)
            .chain(
                transport
                    .map(|t| ["--transport".into(), t.into()])
                    .into_iter()
                    .flatten(),
            )
            .collect::<Vec<String>>(),
        )?,
    );
    let dest = match entry {
        Entry::Connect => Dest::http_connect(listen, upstream, "bench", &client_token),
        Entry::Service => service.into(),
    };
    let path = TunnelPath {
        name,
        dest,
        udp: udp.map(|(bind, _)| bind),
        procs: vec![gw, ag],
    };
    // Ready once the agent is registered and a tunnel carries an echo.
    run.ready(path.dest.clone()).await?;
    if let Some(u) = path.udp {
        udp_load::wait_ready(u).await?;
    }
    Ok(path)
}

/// Runs the comparison and prints the table; the temporary directory and every child process
/// go away on success, error and interruption alike.
pub(crate) async fn compare_tunnel(o: Opts) -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("ferry-bench-tunnel-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = tokio::select! {
        r = compare_in(&o, &dir) => r,
        r = interrupted() => Err(r.err().unwrap_or_else(|| io::Error::other("interrupted"))),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn interrupted() -> io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// A tunnel path to start (the direct path needs none).
enum Spec<'a> {
    Rathole {
        name: &'static str,
        bin: &'a Path,
        noise: bool,
    },
    QuicBare,
    /// HAProxy or nginx relays, no tunnel (see [`relays`]).
    Relays(Peer, Hops),
    Ferry {
        entry: Entry,
        transport: Option<&'a str>,
    },
}

/// The tunnel paths `o` asks for, in table order (with `--udp-only`, only the paths that can
/// carry a UDP service: no `CONNECT` paths, no quic-bare).
fn specs(o: &Opts) -> Vec<Spec<'_>> {
    let mut specs = Vec::new();
    if let Some(bin) = &o.rathole {
        specs.push(Spec::Rathole {
            name: "rathole",
            bin,
            noise: false,
        });
    }
    if let Some(bin) = &o.rathole_noise {
        specs.push(Spec::Rathole {
            name: "rathole-noise",
            bin,
            noise: true,
        });
    }
    if o.quic_bare && !o.udp_only {
        specs.push(Spec::QuicBare);
    }
    if !o.udp_only {
        let haproxy = o.haproxy.as_ref().map(|path| Peer::Haproxy {
            path: path.clone(),
            splice: false,
        });
        let nginx = o
            .nginx
            .as_ref()
            .map(|path| Peer::Nginx { path: path.clone() });
        for peer in [haproxy, nginx].into_iter().flatten() {
            specs.push(Spec::Relays(peer.clone(), Hops::One));
            specs.push(Spec::Relays(peer, Hops::Two));
        }
    }
    if o.gateway.is_some() && o.agent.is_some() {
        let transports: Vec<Option<&str>> = if o.transports.is_empty() {
            vec![None]
        } else {
            o.transports.iter().map(|t| Some(t.as_str())).collect()
        };
        for transport in transports {
            if !o.udp_only {
                specs.push(Spec::Ferry {
                    entry: Entry::Connect,
                    transport,
                });
            }
            if o.service || o.udp_service {
                specs.push(Spec::Ferry {
                    entry: Entry::Service,
                    transport,
                });
            }
        }
    }
    specs
}

/// Starts the path `spec` relaying to `upstream` (and with `udp_upstream`, a UDP service
/// relaying to it where the path has one: rathole and `ferry-service`).
async fn start(
    spec: &Spec<'_>,
    o: &Opts,
    dir: &Path,
    upstream: SocketAddr,
    udp_upstream: Option<SocketAddr>,
    run: Run<'_>,
) -> io::Result<TunnelPath> {
    match *spec {
        Spec::Rathole { name, bin, noise } => {
            rathole(name, bin, noise, dir, upstream, udp_upstream, run).await
        }
        Spec::QuicBare => quic_bare(dir, upstream).await,
        Spec::Relays(ref peer, hops) => relays(peer, hops, dir, upstream).await,
        Spec::Ferry { entry, transport } => {
            let (Some(gateway), Some(agent)) = (&o.gateway, &o.agent) else {
                return Err(io::Error::other("ferry paths need --gateway and --agent"));
            };
            let udp = match entry {
                Entry::Connect => None,
                Entry::Service => udp_upstream,
            };
            ferry(gateway, agent, dir, upstream, udp, entry, transport, run).await
        }
    }
}

async fn compare_in(o: &Opts, dir: &Path) -> io::Result<()> {
    let upstream = server::spawn_local().await?;
    if let Some(conns) = o.callgrind {
        return callgrind(o, dir, upstream, conns).await;
    }
    let udp_upstream = if o.udp_service {
        Some(udp_load::spawn_echo().await?)
    } else {
        None
    };
    let mut paths = vec![TunnelPath {
        name: "direct".into(),
        dest: upstream.into(),
        udp: udp_upstream,
        procs: Vec::new(),
    }];
    for spec in specs(o) {
        paths.push(start(&spec, o, dir, upstream, udp_upstream, Run::PLAIN).await?);
    }
    let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut figs: Vec<Figures> = paths.iter().map(|_| Figures::default()).collect();
    let gb = o.bytes as f64 / 1e9;
    for round in 0..o.rounds {
        for (p, f) in paths.iter().zip(figs.iter_mut()) {
            eprintln!("round {}/{}: {}", round + 1, o.rounds, p.name);
            let pids = p.pids();
            if let Some(udp) = p.udp {
                udp_runs(o, udp, &pids, f).await?;
            }
            if o.udp_only {
                continue;
            }
            let drops0 = procstat::udp_rcvbuf_errors();
            let c0 = cpu(&pids);
            let m0 = procstat::machine_ticks();
            f.bulk1.push(load::bulk(p.dest.clone(), 1, o.bytes).await?);
            let c1 = cpu(&pids);
            let m1 = procstat::machine_ticks();
            f.gb1.push(&c0, &c1, gb);
            f.bulk4.push(load::bulk(p.dest.clone(), 4, o.bytes).await?);
            f.gb4.push(&c1, &cpu(&pids), gb);
            push_busy(&mut f.busy1, m0, m1);
            push_busy(&mut f.busy4, m1, procstat::machine_ticks());
            if let (Some(a), Some(b)) = (drops0, procstat::udp_rcvbuf_errors()) {
                f.udp_drops.push(b.saturating_sub(a) as f64);
            }
            let rr = load::request_response(p.dest.clone(), 64, o.seconds).await?;
            f.rr.push(rr.per_sec);
            f.rr_p50.push(rr.p50_us as f64);
            f.rr_p99.push(rr.p99_us as f64);
            let c0 = cpu(&pids);
            let s0 = sys(&pids);
            let m0 = procstat::machine_ticks();
            let start = tokio::time::Instant::now();
            let rate = load::connection_rate(p.dest.clone(), 16, o.seconds).await?;
            push_busy(&mut f.busy_conn, m0, procstat::machine_ticks());
            let conns = rate * start.elapsed().as_secs_f64();
            f.conn_rate.push(rate);
            f.conn_us.push(&c0, &cpu(&pids), conns / 1e6);
            if let (Some(a), Some(b), false) = (s0, sys(&pids), pids.is_empty()) {
                f.conn_sys_us
                    .push(b.saturating_sub(a).as_secs_f64() / (conns / 1e6));
            }
        }
    }
    let load1 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nmedians of {} rounds; bulk {} MiB per run; rate runs {:.1} s; \
         /proc/loadavg before: {}, after: {}\n",
        o.rounds,
        o.bytes >> 20,
        o.seconds.as_secs_f64(),
        load0.trim(),
        load1.trim()
    );
    print_table(&paths, &figs);
    Ok(())
}

/// Records the machine's busy cores between `a` and `b`, when `/proc/stat` gave both.
fn push_busy(
    to: &mut Vec<f64>,
    a: Option<procstat::MachineTicks>,
    b: Option<procstat::MachineTicks>,
) {
    if let (Some(a), Some(b)) = (a, b)
        && let Some(busy) = a.cores_busy(b)
    {
        to.push(busy);
    }
}

/// The datagram runs of one round through `udp`: 1,200-byte then 64-byte datagrams.
async fn udp_runs(o: &Opts, udp: SocketAddr, pids: &[u32], f: &mut Figures) -> io::Result<()> {
    let drops0 = procstat::udp_rcvbuf_errors();
    for (size, figs) in [(1200, &mut f.udp_big), (64, &mut f.udp_small)] {
        let c0 = cpu(pids);
        let run = udp_load::echo_load(udp, size, o.udp_sockets, o.udp_window, o.seconds).await?;
        figs.push(&run, &c0, &cpu(pids));
        eprintln!(
            "  udp {size} B: sent {}, echoed {} ({:.2} % lost), {:.0} datagrams/s",
            run.sent,
            run.echoed,
            run.loss_percent(),
            run.datagrams_per_sec()
        );
    }
    if let (Some(a), Some(b)) = (drops0, procstat::udp_rcvbuf_errors()) {
        f.udp_run_drops.push(b.saturating_sub(a) as f64);
    }
    Ok(())
}

type Get = fn(&Figures) -> Option<f64>;

const ROWS: [(&str, Get); 20] = [
    ("bulk 1 stream (MiB/s)", |f| {
        median_of(&f.bulk1).map(|v| v / 1_048_576.0)
    }),
    ("bulk 4 streams (MiB/s)", |f| {
        median_of(&f.bulk4).map(|v| v / 1_048_576.0)
    }),
    ("64 B req/resp, 64 conns (req/s)", |f| median_of(&f.rr)),
    ("req/resp p50 (us)", |f| median_of(&f.rr_p50)),
    ("req/resp p99 (us)", |f| median_of(&f.rr_p99)),
    ("connections/s (16 workers)", |f| median_of(&f.conn_rate)),
    ("tunnel CPU per connection (us)", |f| {
        median_of(&f.conn_us.total)
    }),
    ("  public side: gateway / server (us)", |f| {
        median_of(&f.conn_us.public)
    }),
    ("  private side: agent / client (us)", |f| {
        median_of(&f.conn_us.private)
    }),
    ("  of the total, kernel (system time) (us)", |f| {
        median_of(&f.conn_sys_us)
    }),
    ("tunnel CPU per GB, 1 stream (s)", |f| {
        median_of(&f.gb1.total)
    }),
    ("  public side: gateway / server (s)", |f| {
        median_of(&f.gb1.public)
    }),
    ("  private side: agent / client (s)", |f| {
        median_of(&f.gb1.private)
    }),
    ("tunnel CPU per GB, 4 streams (s)", |f| {
        median_of(&f.gb4.total)
    }),
    ("  public side: gateway / server (s)", |f| {
        median_of(&f.gb4.public)
    }),
    ("  private side: agent / client (s)", |f| {
        median_of(&f.gb4.private)
    }),
    ("UDP receive-buffer drops, bulk runs (host)", |f| {
        median_of(&f.udp_drops)
    }),
    ("machine cores busy, bulk 1 stream", |f| median_of(&f.busy1)),
    ("machine cores busy, bulk 4 streams", |f| {
        median_of(&f.busy4)
    }),
    ("machine cores busy, connection rate", |f| {
        median_of(&f.busy_conn)
    }),
];

const UDP_ROWS: [(&str, Get); 13] = [
    ("UDP 1200 B echoed (datagrams/s)", |f| {
        median_of(&f.udp_big.per_sec)
    }),
    ("UDP 1200 B echoed (MiB/s)", |f| {
        median_of(&f.udp_big.bytes_per_sec).map(|v| v / 1_048_576.0)
    }),
    ("UDP 1200 B loss (%)", |f| median_of(&f.udp_big.loss)),
    ("tunnel CPU per GB echoed, 1200 B (s)", |f| {
        median_of(&f.udp_big.gb.total)
    }),
    ("  public side: gateway / server (s)", |f| {
        median_of(&f.udp_big.gb.public)
    }),
    ("  private side: agent / client (s)", |f| {
        median_of(&f.udp_big.gb.private)
    }),
    ("UDP 64 B echoed (datagrams/s)", |f| {
        median_of(&f.udp_small.per_sec)
    }),
    ("UDP 64 B loss (%)", |f| median_of(&f.udp_small.loss)),
    ("tunnel CPU per echoed datagram, 64 B (us)", |f| {
        median_of(&f.udp_small.us.total)
    }),
    ("  public side: gateway / server (us)", |f| {
        median_of(&f.udp_small.us.public)
    }),
    ("  private side: agent / client (us)", |f| {
        median_of(&f.udp_small.us.private)
    }),
    ("tunnel CPU per echoed datagram, 1200 B (us)", |f| {
        median_of(&f.udp_big.us.total)
    }),
    ("UDP receive-buffer drops, UDP runs (host)", |f| {
        median_of(&f.udp_run_drops)
    }),
];

/// Prints one table: a row per `(label, get)`, a column per path (`-`: not measured).
fn print_rows(names: &[&str], figs: &[&Figures], rows: &[(&str, Get)]) {
    println!("| metric | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for (label, get) in rows {
        let cells: Vec<String> = figs
            .iter()
            .map(|f| get(f).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

fn print_table(paths: &[TunnelPath], figs: &[Figures]) {
    let names: Vec<&str> = paths.iter().map(|p| p.name.as_str()).collect();
    if figs.iter().any(|f| !f.bulk1.is_empty()) {
        let all: Vec<&Figures> = figs.iter().collect();
        print_rows(&names, &all, &ROWS);
    }
    if paths.iter().any(|p| p.udp.is_some()) {
        // Only the paths with a UDP service.
        let udp: Vec<usize> = (0..paths.len())
            .filter(|&i| paths[i].udp.is_some())
            .collect();
        let udp_names: Vec<&str> = udp.iter().map(|&i| names[i]).collect();
        let udp_figs: Vec<&Figures> = udp.iter().map(|&i| &figs[i]).collect();
        println!("\nUDP services (datagrams echoed through the path):\n");
        print_udp(&udp_names, &udp_figs);
    }
    if !figs.iter().any(|f| !f.bulk1.is_empty()) {
        return;
    }
    if let Some(ferry) = names.iter().position(|&n| n == "ferry") {
        let others: Vec<usize> = (0..names.len()).filter(|&i| i != ferry).collect();
        print_ratios(&names, figs, ferry, &others);
    }
    // What relays with no tunnel reach against rathole: what a tunnel's work costs here.
    for relay in (0..names.len())
        .filter(|&i| names[i].ends_with("-one-hop") || names[i].ends_with("-two-hops"))
    {
        let others: Vec<usize> = (0..names.len())
            .filter(|&i| names[i].starts_with("rathole"))
            .collect();
        if !others.is_empty() {
            print_ratios(&names, figs, relay, &others);
        }
    }
    // The bare QUIC tunnel against rathole: what the transport alone reaches here.
    if let Some(bare) = names.iter().position(|&n| n == "quic-bare") {
        let others: Vec<usize> = (0..names.len())
            .filter(|&i| names[i].starts_with("rathole"))
            .collect();
        if !others.is_empty() {
            print_ratios(&names, figs, bare, &others);
        }
    }
}

/// The UDP table, then each `ferry-service` path against each rathole path.
fn print_udp(names: &[&str], figs: &[&Figures]) {
    print_rows(names, figs, &UDP_ROWS);
    let others: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].starts_with("rathole"))
        .collect();
    if others.is_empty() {
        return;
    }
    let header: Vec<&str> = others.iter().map(|&i| names[i]).collect();
    for subject in (0..names.len()).filter(|&i| names[i].starts_with("ferry-service")) {
        println!("\n{} / other, UDP (x):\n", names[subject]);
        println!("| metric | {} |", header.join(" | "));
        println!("|---|{}", "---|".repeat(others.len()));
        let targets = [
            (3, " (target <= 1 vs rathole-noise)"),
            (0, ""),
            (6, ""),
            (8, ""),
        ];
        for (row, note) in targets {
            let get = UDP_ROWS[row].1;
            let cells: Vec<String> = others
                .iter()
                .map(|&o| match (get(figs[subject]), get(figs[o])) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "-".to_owned(),
                })
                .collect();
            println!("| {}{note} | {} |", UDP_ROWS[row].0, cells.join(" | "));
        }
    }
}

/// Prints `names[subject] / names[other]` for the headline rows, one column per other path.
fn print_ratios(names: &[&str], figs: &[Figures], subject: usize, others: &[usize]) {
    let ratio = |a: usize, b: usize, row: usize| {
        let get = ROWS[row].1;
        match (figs.get(a).and_then(get), figs.get(b).and_then(get)) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        }
    };
    println!("\n{} / other (x):\n", names[subject]);
    let header: Vec<&str> = others.iter().map(|&i| names[i]).collect();
    println!("| metric | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(others.len()));
    let targets = [
        (5, " (target >= 1.5 vs rathole)"),
        (10, " (target <= 1 vs rathole)"),
        (13, ""),
        (0, ""),
        (1, ""),
        (2, ""),
        (6, ""),
    ];
    for (row, note) in targets {
        let cells: Vec<String> = others.iter().map(|&i| ratio(subject, i, row)).collect();
        println!("| {}{note} | {} |", ROWS[row].0, cells.join(" | "));
    }
}

/// `--callgrind`: instructions per connection of each side of every path (quic-bare aside;
/// UDP services are not started or measured).
async fn callgrind(o: &Opts, dir: &Path, upstream: SocketAddr, small: u64) -> io::Result<()> {
    let large = small * 4 + 100;
    let mut rows = Vec::new();
    for spec in specs(o) {
        let name = match &spec {
            Spec::Rathole { name, .. } => (*name).to_owned(),
            Spec::QuicBare | Spec::Relays(..) => continue,
            Spec::Ferry { entry, transport } => ferry_name(*entry, *transport),
        };
        if !o.cg_only.is_empty() && !o.cg_only.contains(&name) {
            continue;
        }
        let mut counts = Vec::new();
        for n in [small, large] {
            let out = dir.join(format!("callgrind-{}-{n}", rows.len()));
            std::fs::create_dir_all(&out)?;
            let run = Run {
                callgrind: Some(&out),
            };
            // No UDP service under callgrind: only connections are counted.
            let mut path = start(&spec, o, dir, upstream, None, run).await?;
            eprintln!("callgrind: {name}, {n} connections");
            for _ in 0..n {
                let mut s = path.dest.dial().await?;
                s.set_nodelay(true)?;
                crate::callgrind::echo(&mut s, 1).await?;
                crate::callgrind::close(s).await?;
            }
            // The private side first, so that the public side does not see it reconnect.
            for t in path.procs.iter_mut().rev() {
                stop(t, Duration::from_secs(120)).await?;
            }
            let public = crate::callgrind::instructions(&out.join("public"))?;
            let private = crate::callgrind::instructions(&out.join("private"))?;
            eprintln!("  public {public}, private {private} instructions");
            counts.push((public, private));
            let kept = format!("{}-{n}", name.replace('/', "-"));
            crate::callgrind::keep_as(&out, o.cg_keep.as_deref(), &kept)?;
        }
        let per = |a: u64, b: u64| (b as f64 - a as f64) / (large - small) as f64;
        let (public, private) = (per(counts[0].0, counts[1].0), per(counts[0].1, counts[1].1));
        rows.push((name, public, private));
    }
    println!(
        "\nuser-space instructions per connection (callgrind; {small} and {large} connections, \
         each with one 64 B echo; difference between the two runs)\n"
    );
    println!("| path | public side (gateway / server) | private side (agent / client) | total |");
    println!("|---|---|---|---|");
    for (name, public, private) in rows {
        println!(
            "| {name} | {public:.0} | {private:.0} | {:.0} |",
            public + private
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn names(o: &Opts) -> Vec<String> {
        specs(o)
            .iter()
            .map(|s| match s {
                Spec::Rathole { name, .. } => (*name).to_owned(),
                Spec::QuicBare => "quic-bare".to_owned(),
                Spec::Relays(peer, hops) => relays_name(peer, *hops),
                Spec::Ferry { entry, transport } => ferry_name(*entry, *transport),
            })
            .collect()
    }

    #[test]
    fn specs_with_udp_only_keep_just_the_paths_with_a_udp_service() {
        // One-hop relays carry no UDP service: --udp-only leaves them out.
        let mut o = Opts {
            gateway: Some("gw".into()),
            agent: Some("ag".into()),
            rathole: Some("rh".into()),
            rathole_noise: None,
            quic_bare: true,
            haproxy: Some("haproxy".into()),
            nginx: Some("nginx".into()),
            service: false,
            udp_service: false,
            udp_only: false,
            udp_sockets: 4,
            udp_window: 16,
            transports: vec!["quic".into(), "tcp".into()],
            bytes: 1,
            seconds: Duration::from_secs(1),
            rounds: 1,
            callgrind: None,
            cg_keep: None,
            cg_only: Vec::new(),
        };
        assert_eq!(
            names(&o),
            [
                "rathole",
                "quic-bare",
                "haproxy-one-hop",
                "haproxy-two-hops",
                "nginx-one-hop",
                "nginx-two-hops",
                "ferry/quic",
                "ferry/tcp"
            ]
        );
        o.udp_service = true;
        assert_eq!(
            names(&o),
            [
                "rathole",
                "quic-bare",
                "haproxy-one-hop",
                "haproxy-two-hops",
                "nginx-one-hop",
                "nginx-two-hops",
                "ferry/quic",
                "ferry-service/quic",
                "ferry/tcp",
                "ferry-service/tcp"
            ]
        );
        o.udp_only = true;
        assert_eq!(
            names(&o),
            ["rathole", "ferry-service/quic", "ferry-service/tcp"]
        );
    }

    #[test]
    fn rathole_configs_add_a_udp_service_only_when_asked() {
        let mut a = RatholeAddrs {
            control: addr("127.0.0.1:1000"),
            service: addr("127.0.0.1:1001"),
            upstream: addr("127.0.0.1:2000"),
            udp: None,
        };
        let (server, client) = rathole_configs(&a, "t", "", "");
        assert!(!server.contains("udp") && !client.contains("udp"));
        assert!(
            server
                .contains("[server.services.bench]\ntoken = \"t\"\nbind_addr = \"127.0.0.1:1001\"")
        );
        assert!(client.contains("local_addr = \"127.0.0.1:2000\""));

        a.udp = Some((addr("127.0.0.1:1002"), addr("127.0.0.1:2001")));
        let (server, client) = rathole_configs(&a, "t", "", "");
        assert!(server.contains(
            "[server.services.bench-udp]\ntype = \"udp\"\ntoken = \"t\"\nbind_addr = \"127.0.0.1:1002\"\n"
        ));
        assert!(client.contains(
            "[client.services.bench-udp]\ntype = \"udp\"\ntoken = \"t\"\nlocal_addr = \"127.0.0.1:2001\"\n"
        ));
        // The TCP service stays as it was.
        assert!(
            client.contains(
                "[client.services.bench]\ntoken = \"t\"\nlocal_addr = \"127.0.0.1:2000\""
            )
        );
    }

    #[test]
    fn gateway_config_allows_and_serves_the_udp_upstream() {
        let mut a = GatewayAddrs {
            listen: addr("127.0.0.1:1000"),
            agent_listen: addr("127.0.0.1:1001"),
            upstream: addr("127.0.0.1:2000"),
            service: None,
            udp: None,
        };
        let (cert, key, tokens) = (Path::new("c"), Path::new("k"), Path::new("t"));
        let connect = gateway_config(&a, cert, key, tokens);
        assert!(connect.contains("allow = [\"127.0.0.1:2000\"]\n"));
        assert!(!connect.contains("[[service]]"));

        a.service = Some(addr("127.0.0.1:1002"));
        a.udp = Some((addr("127.0.0.1:1003"), addr("127.0.0.1:2001")));
        let both = gateway_config(&a, cert, key, tokens);
        assert!(both.contains("allow = [\"127.0.0.1:2000\", \"127.0.0.1:2001\"]\n"));
        assert!(both.contains(
            "[[service]]\nname = \"bench\"\nbind = \"127.0.0.1:1002\"\nagent = \"bench\"\n\
             destination = \"127.0.0.1:2000\"\n"
        ));
        assert!(both.contains(
            "[[service]]\nname = \"bench-udp\"\nbind = \"127.0.0.1:1003\"\nprotocol = \"udp\"\n\
             agent = \"bench\"\ndestination = \"127.0.0.1:2001\"\n"
        ));
        assert!(both.contains("tokens = \"t\"") && both.contains("cert = \"c\""));
    }
}
