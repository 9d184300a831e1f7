//! `ferry-bench`: Ferry's end-to-end load tool.
//!
//! `ferry-bench compare --proxy ferry=PATH_TO_FERRY_PROXY` starts the bench upstream in-process,
//! starts each proxy as a child process in front of it, and measures on loopback, against the
//! direct path and a naive `copy_bidirectional` proxy measured in the same run: bulk throughput
//! (1 and 4 streams) with the proxy's CPU per GB, 64-byte request/response rate over 64
//! connections, connection rate with the proxy's CPU and wake-ups (voluntary context switches of
//! its threads) per connection, and resident memory per idle proxied connection. Every figure is
//! the median of `--rounds` rounds; ratios to the direct path and against the naive proxy are
//! printed last. `--haproxy PATH` and `--nginx PATH` add HAProxy (with and without splicing) and
//! nginx's stream module as peers, with configs written for the run (see `peers`); `--threads`
//! (default 1) gives every proxy the same number of workers. `--callgrind` counts user-space
//! instructions per connection, per request/response and per MiB instead (see `callgrind`).
//!
//! `ferry-bench compare-hop --hop PATH_TO_FERRY_HOP --proxy PATH_TO_FERRY_PROXY` measures
//! `ferry-hop` chains of 1 and 3 hops against the direct path and a plain TCP forward in the
//! same run (see `compare_hop`).
//! `--proxy-config NAME=TEMPLATE=COMMAND` adds a proxy started with `--config FILE`, FILE being
//! the TOML template with `{listen}`, `{upstream1}` and `{upstream2}` filled in, in front of
//! two bench upstreams (see `crates/ferry-bench/configs/`).
//!
//! `ferry-bench compare-tls --proxy ferry=PATH_TO_FERRY_PROXY` does the same for TLS
//! termination against a naive tokio-rustls terminator (`ferry-bench naive-tls`): full and
//! resumed handshakes per second (TLS 1.3 and 1.2), the terminator's CPU per connection, TLS
//! bulk throughput and memory per idle TLS connection, with an ECDSA P-256 and an RSA-2048
//! certificate. `--haproxy PATH` and `--nginx PATH` add HAProxy and nginx as TLS terminators
//! (see `peers::TlsPeer`). The CPU and memory of every proxy started are read for its whole
//! process tree (nginx relays in workers its master forks; see `procstat`).
//! `--callgrind` counts instructions per TLS connection instead (see `tls_callgrind`).
//!
//! `ferry-bench compare-tunnel --gateway PATH --agent PATH --rathole PATH` measures Ferry's
//! reverse tunnel (clients speaking HTTP CONNECT to `ferry-gateway`, relayed through
//! `ferry-agent`) against the direct path and rathole in the same run (see `compare_tunnel`).

mod callgrind;
mod compare_hop;
mod compare_tls;
mod compare_tunnel;
mod config_proxy;
mod launch;
mod load;
mod naive;
mod naive_tls;
mod peers;
mod procstat;
mod quic_relay;
mod server;
mod soak;
mod soak_plan;
mod soak_tcp;
mod soak_udp;
mod tls_callgrind;
mod tls_load;
mod tls_table;
mod udp_load;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(version, about = "Ferry's end-to-end load tool")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the two-mode bench upstream (first byte S = sink, E = echo).
    Server {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Run a plain echo server (used by the demo).
    Echo {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Run the naive copy_bidirectional proxy (the baseline).
    Naive {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Run the naive tokio-rustls TLS terminator (the TLS baseline).
    NaiveTls {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
        #[arg(long)]
        tls_cert: PathBuf,
        #[arg(long)]
        tls_key: PathBuf,
    },
    /// Run the public side of the bare-QUIC baseline tunnel (see `compare-tunnel --quic-bare`).
    QuicRelayPublic {
        /// TCP address clients connect to.
        #[arg(long)]
        listen: SocketAddr,
        /// UDP address the private side connects to.
        #[arg(long)]
        quic: SocketAddr,
        #[arg(long)]
        tls_cert: PathBuf,
        #[arg(long)]
        tls_key: PathBuf,
    },
    /// Run the private side of the bare-QUIC baseline tunnel.
    QuicRelayPrivate {
        /// The public side's UDP address.
        #[arg(long)]
        quic: SocketAddr,
        /// The certificate the public side presents (trusted as a root, name `localhost`).
        #[arg(long)]
        ca: PathBuf,
        /// Where every stream is relayed.
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Measure TLS terminators against the naive tokio-rustls terminator.
    CompareTls {
        /// A TLS terminator to measure, as NAME=COMMAND; the command gets `--listen ADDR
        /// --upstream ADDR --tls-cert PEM --tls-key PEM` appended. Repeatable.
        #[arg(long = "proxy", value_name = "NAME=COMMAND")]
        proxies: Vec<String>,
        /// Also measure HAProxy terminating TLS (`bind ... ssl crt`, its default session cache
        /// and tickets); the config is written for the run.
        #[arg(long, value_name = "PATH")]
        haproxy: Option<PathBuf>,
        /// Also measure nginx's stream module terminating TLS (`listen ... ssl`,
        /// `ssl_session_cache shared:SSL:10m`, `ssl_session_tickets on`); the config is
        /// written for the run.
        #[arg(long, value_name = "PATH")]
        nginx: Option<PathBuf>,
        /// Workers of every terminator: `TOKIO_WORKER_THREADS`, `nbthread`,
        /// `worker_processes`. 0 (the default) leaves each Rust terminator tokio's default
        /// (one per core) and gives the peers one per core.
        #[arg(long, value_name = "N", default_value_t = 0)]
        threads: usize,
        /// Bytes per bulk run.
        #[arg(long, default_value_t = 256 << 20)]
        bytes: u64,
        /// Seconds per handshake-rate run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Idle TLS connections for the memory figure.
        #[arg(long, default_value_t = 5000)]
        idle: usize,
        /// Rounds; each figure is the median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Concurrent client loops in handshake-rate runs.
        #[arg(long, default_value_t = 16)]
        workers: usize,
        /// Certificate types to measure; repeatable.
        #[arg(long = "cert", value_enum, default_values = ["ecdsa", "rsa"])]
        certs: Vec<compare_tls::CertKind>,
        /// The one key-exchange group the clients offer (every terminator then negotiates it;
        /// TLS 1.2 has no hybrid group and uses X25519 whatever this says).
        #[arg(long, value_enum, default_value = "x25519mlkem768")]
        kx: naive_tls::Kx,
        /// Instead of timed figures, count each terminator's user-space instructions per TLS
        /// connection (full and resumed, TLS 1.3 and 1.2) under `valgrind --tool=callgrind`
        /// (two runs of `--cg-conns` and 4x connections; the difference divided by the
        /// difference in connections).
        #[arg(long)]
        callgrind: bool,
        /// `--callgrind`: connections in the smaller run (the larger has 4x).
        #[arg(long, default_value_t = 100)]
        cg_conns: u64,
        /// `--callgrind`: keep callgrind's output files under this directory (one directory
        /// per terminator, certificate, work and amount), for `callgrind_annotate`.
        #[arg(long, value_name = "DIR")]
        cg_keep: Option<PathBuf>,
        /// `--callgrind`: measure only the terminator of this name (repeatable; default: all;
        /// the naive one is `naive-tls`).
        #[arg(long, value_name = "NAME")]
        cg_only: Vec<String>,
        /// `--callgrind`: `TOKIO_WORKER_THREADS` of every terminator (ferry-proxy's connection
        /// workers, the naive terminator's runtime threads).
        #[arg(long, default_value_t = 1)]
        cg_threads: usize,
    },
    /// Measure ferry-hop chains (1 and 3 hops) against the direct path and a plain forward.
    CompareHop {
        /// The ferry-hop binary.
        #[arg(long, value_name = "PATH")]
        hop: PathBuf,
        /// The plain forward to compare with (ferry-proxy; gets `--listen --upstream`).
        /// Default: the naive proxy.
        #[arg(long, value_name = "PATH")]
        proxy: Option<PathBuf>,
        /// Bytes per bulk run.
        #[arg(long, default_value_t = 512 << 20)]
        bytes: u64,
        /// Seconds per rate run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds; each figure is the median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Measure the reverse tunnel (ferry-gateway + ferry-agent) against the direct path and
    /// rathole.
    CompareTunnel {
        /// The ferry-gateway binary (with --agent).
        #[arg(long, value_name = "PATH", requires = "agent")]
        gateway: Option<PathBuf>,
        /// The ferry-agent binary (with --gateway).
        #[arg(long, value_name = "PATH", requires = "gateway")]
        agent: Option<PathBuf>,
        /// A rathole binary, run with the plain TCP transport.
        #[arg(long, value_name = "PATH")]
        rathole: Option<PathBuf>,
        /// A rathole binary built with the `noise` feature, run with the Noise transport.
        #[arg(long, value_name = "PATH")]
        rathole_noise: Option<PathBuf>,
        /// Also measure `quic-bare`: the barest tunnel on quinn (this program's
        /// `quic-relay-public` and `quic-relay-private`), what QUIC itself costs here.
        #[arg(long)]
        quic_bare: bool,
        /// Also measure HAProxy (`mode tcp`, `nbthread` one per core) as `haproxy-one-hop`: one
        /// relay from the client straight to the upstream, no tunnel (a tunnel does that
        /// relay's work and more); and as `haproxy-two-hops`: two relays chained over plain
        /// TCP, every connection crossing two processes as in a tunnel.
        #[arg(long, value_name = "PATH")]
        haproxy: Option<PathBuf>,
        /// Also measure nginx's stream module as `nginx-one-hop` and `nginx-two-hops`
        /// (`worker_processes` one per core), as `--haproxy`.
        #[arg(long, value_name = "PATH")]
        nginx: Option<PathBuf>,
        /// Also measure `ferry-service`: the gateway exposing the upstream as a TCP port
        /// service (`[[service]]`, no CONNECT), what rathole's visitors do (needs --gateway).
        #[arg(long, requires = "gateway")]
        service: bool,
        /// Also measure UDP services: the bench's UDP echo upstream directly, through a rathole
        /// `type = "udp"` service (each rathole path) and through a gateway UDP port service
        /// (`protocol = "udp"`, on `ferry-service` paths, added when --gateway is given):
        /// 1,200-byte and 64-byte datagrams echoed, loss, and the tunnel's CPU per GB echoed.
        #[arg(long)]
        udp_service: bool,
        /// Measure only the UDP services (no TCP workloads, no CONNECT or quic-bare paths).
        #[arg(long, requires = "udp_service")]
        udp_only: bool,
        /// Client sockets (flows) of the UDP runs.
        #[arg(long, default_value_t = 4)]
        udp_sockets: usize,
        /// Datagrams each UDP client socket keeps outstanding.
        #[arg(long, default_value_t = 16)]
        udp_window: usize,
        /// Measure the agent on these transports (`quic`, `tcp`; repeatable): one `ferry/T`
        /// (and `ferry-service/T`) path each. Default: the agent's default (`auto`).
        #[arg(long = "transport", value_name = "TRANSPORT")]
        transports: Vec<String>,
        /// Bytes per bulk run.
        #[arg(long, default_value_t = 512 << 20)]
        bytes: u64,
        /// Seconds per rate run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds; each figure is the median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Instead of timed figures, count each tunnel process's user-space instructions per
        /// connection under `valgrind --tool=callgrind` (two runs of `--cg-conns` and 4x + 100
        /// connections; the difference divided by the difference in connections). UDP services
        /// are not measured in this mode (--udp-service starts no UDP service; not with
        /// --udp-only).
        #[arg(long, conflicts_with = "udp_only")]
        callgrind: bool,
        /// `--callgrind`: connections in the smaller run (the larger has 4x + 100).
        #[arg(long, default_value_t = 300)]
        cg_conns: u64,
        /// `--callgrind`: keep callgrind's output files under this directory (one directory
        /// per path and amount, `public/` and `private/` in each), for `callgrind_annotate`.
        #[arg(long, value_name = "DIR")]
        cg_keep: Option<PathBuf>,
        /// `--callgrind`: measure only the path of this name (repeatable; default: all).
        #[arg(long, value_name = "NAME")]
        cg_only: Vec<String>,
    },
    /// Keep a mixed, byte-verified load going through the four programs (scripts/soak.sh).
    Soak(Box<soak::SoakArgs>),
    /// Measure proxies against the direct path and the naive proxy.
    Compare {
        /// A proxy to measure, as NAME=COMMAND; the command gets `--listen ADDR --upstream ADDR`
        /// appended. Repeatable.
        #[arg(long = "proxy", value_name = "NAME=COMMAND")]
        proxies: Vec<String>,
        /// A proxy to measure with a config file, as NAME=TEMPLATE=COMMAND: the command gets
        /// `--config FILE` appended, FILE being TEMPLATE with `{listen}`, `{upstream1}` and
        /// `{upstream2}` replaced (two bench upstreams). Repeatable.
        #[arg(long = "proxy-config", value_name = "NAME=TEMPLATE=COMMAND")]
        config_proxies: Vec<String>,
        /// Bytes per bulk run.
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        /// Seconds per rate run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Idle connections for the memory figure.
        #[arg(long, default_value_t = 8000)]
        idle: usize,
        /// Rounds; each figure is the median.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also measure HAProxy (`mode tcp`, as `haproxy` and, with `option splice-auto`, as
        /// `haproxy-splice`); the config is written for the run.
        #[arg(long, value_name = "PATH")]
        haproxy: Option<PathBuf>,
        /// Also measure nginx's stream module (`proxy_half_close on`; Debian's
        /// `libnginx-mod-stream`); the config is written for the run.
        #[arg(long, value_name = "PATH")]
        nginx: Option<PathBuf>,
        /// Worker threads of every proxy: `TOKIO_WORKER_THREADS` for ferry-proxy and the
        /// naive proxy, `nbthread` for HAProxy, `worker_processes` for nginx. The default, 1,
        /// compares the proxies per core; 0 leaves each program's own default (tokio: one
        /// per core) and gives the peers one per core.
        #[arg(long, value_name = "N", default_value_t = 1)]
        threads: usize,
        /// Instead of timed figures, count user-space instructions per connection, per
        /// request/response and per MiB under `valgrind --tool=callgrind` (two runs each;
        /// the difference divided by the difference in work).
        #[arg(long)]
        callgrind: bool,
        /// `--callgrind`: connections in the smaller run (the larger has 4x + 100).
        #[arg(long, default_value_t = 300)]
        cg_conns: u64,
        /// `--callgrind`: request/responses in the smaller run (the larger has 5x).
        #[arg(long, default_value_t = 2000)]
        cg_requests: u64,
        /// `--callgrind`: MiB of bulk in the smaller run (the larger has 4x).
        #[arg(long, default_value_t = 16)]
        cg_mib: u64,
        /// `--callgrind`: keep callgrind's output files under this directory (one directory
        /// per proxy, work and amount), for `callgrind_annotate`.
        #[arg(long, value_name = "DIR")]
        cg_keep: Option<PathBuf>,
        /// `--callgrind`: measure only the proxy of this name (repeatable; default: all).
        #[arg(long, value_name = "NAME")]
        cg_only: Vec<String>,
    },
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.command {
            Cmd::Server { listen } => {
                server::serve(TcpListener::bind(listen).await?).await;
                Ok(())
            }
            Cmd::Echo { listen } => echo(listen).await,
            Cmd::Soak(args) => soak::run(*args).await,
            Cmd::Naive { listen, upstream } => naive::run(listen, upstream).await,
            Cmd::NaiveTls {
                listen,
                upstream,
                tls_cert,
                tls_key,
            } => naive_tls::run(listen, upstream, &tls_cert, &tls_key).await,
            Cmd::QuicRelayPublic {
                listen,
                quic,
                tls_cert,
                tls_key,
            } => quic_relay::public(listen, quic, &tls_cert, &tls_key).await,
            Cmd::QuicRelayPrivate { quic, ca, upstream } => {
                quic_relay::private(quic, &ca, upstream).await
            }
            Cmd::CompareTls {
                proxies,
                haproxy,
                nginx,
                threads,
                bytes,
                seconds,
                idle,
                rounds,
                workers,
                certs,
                kx,
                callgrind,
                cg_conns,
                cg_keep,
                cg_only,
                cg_threads,
            } => {
                compare_tls::compare_tls(compare_tls::Opts {
                    proxies,
                    haproxy,
                    nginx,
                    threads: (threads > 0).then_some(threads),
                    bytes,
                    seconds: Duration::from_secs_f64(seconds),
                    idle,
                    rounds,
                    workers,
                    certs,
                    kx,
                    callgrind: callgrind.then_some(tls_callgrind::Opts {
                        conns: cg_conns,
                        keep: cg_keep,
                        only: cg_only,
                        threads: cg_threads,
                    }),
                })
                .await
            }
            Cmd::CompareHop {
                hop,
                proxy,
                bytes,
                seconds,
                rounds,
            } => {
                compare_hop::compare_hop(compare_hop::Opts {
                    hop,
                    proxy,
                    bytes,
                    seconds: Duration::from_secs_f64(seconds),
                    rounds,
                })
                .await
            }
            Cmd::CompareTunnel {
                gateway,
                agent,
                rathole,
                rathole_noise,
                quic_bare,
                haproxy,
                nginx,
                service,
                udp_service,
                udp_only,
                udp_sockets,
                udp_window,
                transports,
                bytes,
                seconds,
                rounds,
                callgrind,
                cg_conns,
                cg_keep,
                cg_only,
            } => {
                compare_tunnel::compare_tunnel(compare_tunnel::Opts {
                    gateway,
                    agent,
                    rathole,
                    rathole_noise,
                    quic_bare,
                    haproxy,
                    nginx,
                    service,
                    udp_service,
                    udp_only,
                    udp_sockets: udp_sockets.max(1),
                    udp_window: udp_window.max(1),
                    transports,
                    bytes,
                    seconds: Duration::from_secs_f64(seconds),
                    rounds,
                    callgrind: callgrind.then_some(cg_conns),
                    cg_keep,
                    cg_only,
                })
                .await
            }
            Cmd::Compare {
                proxies,
                config_proxies,
                bytes,
                seconds,
                idle,
                rounds,
                haproxy,
                nginx,
                threads,
                callgrind,
                cg_conns,
                cg_requests,
                cg_mib,
                cg_keep,
                cg_only,
            } => {
                compare(CompareOpts {
                    proxies,
                    config_proxies,
                    haproxy,
                    nginx,
                    threads: (threads > 0).then_some(threads),
                    bytes,
                    seconds: Duration::from_secs_f64(seconds),
                    idle,
                    rounds,
                    callgrind: callgrind.then_some(callgrind::Amounts {
                        conns: cg_conns,
                        requests: cg_requests,
                        mib: cg_mib,
                    }),
                    cg_keep,
                    cg_only,
                })
                .await
            }
        }
    })
}

fn raise_nofile() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
}

async fn echo(listen: SocketAddr) -> io::Result<()> {
    echo_on(TcpListener::bind(listen).await?).await;
    Ok(())
}

/// Echoes every connection on `listener` until its peer's EOF, then closes it; forever (a
/// failed accept, such as EMFILE, is logged and retried).
pub(crate) async fn echo_on(listener: TcpListener) {
    loop {
        let mut s = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("echo: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

struct Target {
    name: String,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Drop for Target {
    // A drop cannot await: it waits (briefly, polling) on the calling thread.
    #[allow(clippy::disallowed_methods)]
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            // SIGTERM first: nginx's workers outlive a killed master.
            let _ = terminate(c);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends SIGTERM to `c`.
fn terminate(c: &Child) -> io::Result<()> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(c.id()).map_err(io::Error::other)?)
        .ok_or_else(|| io::Error::other("child pid 0"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
}

/// Stops `t`'s process with SIGTERM and waits up to `grace` for it to exit (every proxy here
/// exits on SIGTERM, so valgrind writes its output); then kills it.
pub(crate) async fn stop(t: &mut Target, grace: Duration) -> io::Result<()> {
    let Some(mut c) = t.child.take() else {
        return Ok(());
    };
    terminate(&c)?;
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        if c.try_wait()?.is_some() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = c.kill();
            let _ = c.wait();
            return Err(io::Error::other(format!(
                "{} did not exit within {grace:?} of SIGTERM",
                t.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Default, Clone)]
struct Figures {
    bulk1: Vec<f64>,
    bulk4: Vec<f64>,
    cpu_per_gb: Vec<f64>,
    rr: Vec<f64>,
    rr_p50: Vec<f64>,
    rr_p99: Vec<f64>,
    conn_rate: Vec<f64>,
    /// In the connection-rate run, per connection: the proxy's CPU (µs) and its threads'
    /// voluntary context switches (each a sleep and a wake-up).
    conn_us: Vec<f64>,
    conn_wakeups: Vec<f64>,
    idle_bytes: Option<f64>,
}

async fn free_port() -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    l.local_addr()
}

/// Polls until one byte is echoed through `dest` (10 s deadline, 2 s per attempt).
async fn wait_ready(dest: impl Into<load::Dest>) -> io::Result<()> {
    wait_ready_within(dest, Duration::from_secs(10)).await
}

/// Polls until one byte is echoed through `dest` (`within` deadline, 2 s per attempt).
async fn wait_ready_within(dest: impl Into<load::Dest>, within: Duration) -> io::Result<()> {
    let dest = dest.into();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match tokio::time::timeout(Duration::from_secs(2), echo_once(&dest)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_elapsed) => "no echo within 2 s".to_owned(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "{} did not become ready: {last}",
                dest.addr()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn echo_once(dest: &load::Dest) -> io::Result<()> {
    let mut s = dest.dial().await?;
    s.write_all(b"Ex").await?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.map(drop)
}

async fn start(name: &str, command: &[String], upstream: SocketAddr) -> io::Result<Target> {
    let addr = free_port().await?;
    let child = Command::new(&command[0])
        .args(&command[1..])
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--upstream")
        .arg(upstream.to_string())
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
    wait_ready(addr).await?;
    Ok(target)
}

/// The median, `None` for no values.
fn median_of(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| median(v))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

struct CompareOpts {
    proxies: Vec<String>,
    config_proxies: Vec<String>,
    haproxy: Option<PathBuf>,
    nginx: Option<PathBuf>,
    threads: Option<usize>,
    bytes: u64,
    seconds: Duration,
    idle: usize,
    rounds: usize,
    callgrind: Option<callgrind::Amounts>,
    cg_keep: Option<PathBuf>,
    cg_only: Vec<String>,
}

async fn compare(o: CompareOpts) -> io::Result<()> {
    let CompareOpts {
        bytes,
        seconds,
        idle,
        rounds,
        threads,
        ..
    } = o;
    let upstream = server::spawn_local().await?;
    let second = server::spawn_local().await?;
    let me = std::env::current_exe()?.to_string_lossy().into_owned();
    let mut launches = vec![launch::Launch::Args {
        name: "naive".into(),
        command: vec![me, "naive".into()],
    }];
    for p in &o.proxies {
        let (name, cmd) = p
            .split_once('=')
            .ok_or_else(|| io::Error::other(format!("--proxy {p:?} is not NAME=COMMAND")))?;
        let command: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if command.is_empty() {
            return Err(io::Error::other(format!("--proxy {p:?} has no command")));
        }
        launches.push(launch::Launch::Args {
            name: name.to_owned(),
            command,
        });
    }
    for spec in &o.config_proxies {
        let (name, template, command) = config_proxy::parse(spec)?;
        launches.push(launch::Launch::Config {
            name,
            template,
            command,
        });
    }
    if let Some(path) = &o.haproxy {
        for splice in [false, true] {
            launches.push(launch::Launch::Peer(peers::Peer::Haproxy {
                path: path.clone(),
                splice,
            }));
        }
    }
    if let Some(path) = &o.nginx {
        launches.push(launch::Launch::Peer(peers::Peer::Nginx {
            path: path.clone(),
        }));
    }
    if let Some(amounts) = o.callgrind {
        return callgrind::run(
            &launches,
            [upstream, second],
            threads,
            amounts,
            o.cg_keep.as_deref(),
            &o.cg_only,
        )
        .await;
    }
    let mut targets = vec![Target {
        name: "direct".into(),
        addr: upstream,
        child: None,
    }];
    let mut dirs = Vec::new();
    for l in &launches {
        let mut running = l
            .start([upstream, second], threads, &[], Duration::from_secs(10))
            .await?;
        targets.push(Target {
            name: running.target.name.clone(),
            addr: running.target.addr,
            child: running.target.child.take(),
        });
        dirs.push(running.dir);
    }
    let mut figs = vec![Figures::default(); targets.len()];
    for round in 0..rounds {
        for (t, f) in targets.iter().zip(figs.iter_mut()) {
            eprintln!("round {}/{rounds}: {}", round + 1, t.name);
            let pid = t.child.as_ref().map(Child::id);
            let cpu0 = pid.and_then(procstat::tree_cpu_time);
            f.bulk1.push(load::bulk(t.addr, 1, bytes).await?);
            let cpu1 = pid.and_then(procstat::tree_cpu_time);
            if let (Some(a), Some(b)) = (cpu0, cpu1) {
                f.cpu_per_gb
                    .push(b.saturating_sub(a).as_secs_f64() / (bytes as f64 / 1e9));
            }
            f.bulk4.push(load::bulk(t.addr, 4, bytes).await?);
            let rr = load::request_response(t.addr, 64, seconds).await?;
            f.rr.push(rr.per_sec);
            f.rr_p50.push(rr.p50_us as f64);
            f.rr_p99.push(rr.p99_us as f64);
            let cpu0 = pid.and_then(procstat::tree_cpu_time);
            let wake0 = pid.and_then(procstat::tree_wakeups);
            let start = tokio::time::Instant::now();
            let rate = load::connection_rate(t.addr, 16, seconds).await?;
            let conns = rate * start.elapsed().as_secs_f64();
            f.conn_rate.push(rate);
            let cpu1 = pid.and_then(procstat::tree_cpu_time);
            let wake1 = pid.and_then(procstat::tree_wakeups);
            if let (Some(a), Some(b), true) = (cpu0, cpu1, conns > 0.0) {
                f.conn_us
                    .push(b.saturating_sub(a).as_secs_f64() * 1e6 / conns);
            }
            if let (Some(a), Some(b), true) = (wake0, wake1, conns > 0.0) {
                f.conn_wakeups.push(b.saturating_sub(a) as f64 / conns);
            }
        }
    }
    for (t, f) in targets.iter().zip(figs.iter_mut()) {
        let Some(pid) = t.child.as_ref().map(Child::id) else {
            continue;
        };
        eprintln!("idle memory: {} with {idle} connections", t.name);
        let before = procstat::tree_rss_bytes(pid).unwrap_or(0);
        let conns = load::open_idle(t.addr, idle).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = procstat::tree_rss_bytes(pid).unwrap_or(0);
        f.idle_bytes = Some(after.saturating_sub(before) as f64 / idle as f64);
        drop(conns);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    print_table(&targets, &figs, bytes, seconds, idle, rounds);
    drop(targets);
    drop(dirs);
    Ok(())
}

fn print_table(
    targets: &[Target],
    figs: &[Figures],
    bytes: u64,
    seconds: Duration,
    idle: usize,
    rounds: usize,
) {
    println!(
        "\nmedians of {rounds} rounds; bulk {} MiB per run; rate runs {:.1} s; idle memory with {idle} connections\n",
        bytes >> 20,
        seconds.as_secs_f64()
    );
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    println!("| metric | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    type Get = fn(&Figures) -> Option<f64>;
    let rows: [(&str, Get); 10] = [
        ("bulk 1 stream (MiB/s)", |f| {
            Some(median(&f.bulk1) / 1_048_576.0)
        }),
        ("bulk 4 streams (MiB/s)", |f| {
            Some(median(&f.bulk4) / 1_048_576.0)
        }),
        ("proxy CPU per GB, 1 stream (s)", |f| {
            median_of(&f.cpu_per_gb)
        }),
        ("64 B req/resp, 64 conns (req/s)", |f| Some(median(&f.rr))),
        ("req/resp p50 (us)", |f| Some(median(&f.rr_p50))),
        ("req/resp p99 (us)", |f| Some(median(&f.rr_p99))),
        ("connections/s (16 workers)", |f| Some(median(&f.conn_rate))),
        ("proxy CPU per connection (us)", |f| median_of(&f.conn_us)),
        ("proxy wake-ups per connection", |f| {
            median_of(&f.conn_wakeups)
        }),
        ("RSS per idle connection (bytes)", |f| f.idle_bytes),
    ];
    for (label, get) in rows {
        let cells: Vec<String> = figs
            .iter()
            .map(|f| get(f).map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    if let Some(direct) = figs.first() {
        println!("\nratios to direct, same run (x):\n");
        println!("| metric | {} |", names[1..].join(" | "));
        println!("|---|{}", "---|".repeat(names.len().saturating_sub(1)));
        for (label, get) in rows {
            if get(direct).is_none() {
                continue;
            }
            let cells: Vec<String> = figs[1..]
                .iter()
                .map(|f| match (get(f), get(direct)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "-".to_owned(),
                })
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    if let Some(naive) = figs.get(1) {
        println!("\nratios against naive (x):\n");
        println!("| metric | {} |", names[2..].join(" | "));
        println!("|---|{}", "---|".repeat(names.len().saturating_sub(2)));
        for (label, get) in rows {
            let cells: Vec<String> = figs[2..]
                .iter()
                .map(|f| match (get(f), get(naive)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "-".to_owned(),
                })
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    // With several proxies (e.g. one config with limits): each against the first proxy.
    if let (Some(first), Some(rest)) = (figs.get(2), figs.get(3..))
        && !rest.is_empty()
    {
        println!("\nratios against {} (x):\n", names[2]);
        println!("| metric | {} |", names[3..].join(" | "));
        println!("|---|{}", "---|".repeat(rest.len()));
        for (label, get) in rows {
            let cells: Vec<String> = rest
                .iter()
                .map(|f| match (get(f), get(first)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "-".to_owned(),
                })
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
}
