//! `ferry-hop`: one hop of a forward proxy chain (`serve`), local fronts over chains
//! (`access`), and a chain probe (`trace`). See `ferry-hop --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_app_core::admin::Health;
use ferry_app_hop::{AccessConfig, AppError, ConfigError, KeySource, ServeConfig, access, serve};
use ferry_chain::client::ClientConfig;
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, LogArgs, fail};
use tokio_util::sync::CancellationToken;

const PROGRAM: &str = "ferry-hop";

/// Forward proxy chains: every hop opens only its own sealed record of the chain header and
/// learns only its next address. Keys come from a file or an environment variable, never from
/// the command line.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by default).
    #[arg(long, value_name = "ADDR", global = true)]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one hop: open the client's record, check the next address against the allowlist,
    /// connect, answer with a sealed status, relay. Secure default: without --allow (or
    /// `allow` in the config) every next address is denied.
    Serve {
        /// Address to listen on (TCP, and UDP with --udp), e.g. 0.0.0.0:7000.
        #[arg(
            long,
            value_name = "ADDR",
            conflicts_with = "config",
            required_unless_present = "config"
        )]
        listen: Option<String>,
        /// File of `KEY_ID HEX` keys this hop accepts.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "key_env"])]
        key_file: Option<PathBuf>,
        /// Environment variable holding the keys (instead of --key-file).
        #[arg(long, value_name = "VAR", conflicts_with = "config")]
        key_env: Option<String>,
        /// Where this hop may connect next: comma-separated ferry-allow patterns, e.g.
        /// `*.example.com:443,hop2.example.net:7000`. Not given: deny everything.
        #[arg(long, value_name = "PATTERNS", conflicts_with = "config")]
        allow: Option<String>,
        /// Also serve datagram chains over UDP on the same address.
        #[arg(long, conflicts_with = "config")]
        udp: bool,
        /// TLS on the listener: PEM certificate chain, leaf first (with --tls-key). Clients
        /// (the access side's `tls_ca`, or the previous hop's --next-hop-tls-ca) must speak TLS.
        #[arg(
            long,
            value_name = "PEM",
            requires = "tls_key",
            conflicts_with = "config"
        )]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(
            long,
            value_name = "PEM",
            requires = "tls_cert",
            conflicts_with = "config"
        )]
        tls_key: Option<PathBuf>,
        /// TLS to the next hop (not to the destination), verifying its certificate against
        /// this PEM CA file (repeatable); verification is never skipped.
        #[arg(long, value_name = "PEM", conflicts_with = "config")]
        next_hop_tls_ca: Vec<PathBuf>,
        /// TOML config file (covers everything the flags do, and more).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run local listeners (tcp, udp, socks5, http) that send traffic over the chains of a
    /// config file.
    Access {
        /// TOML config file with `[keys]`, `[[chain]]`, `[[listener]]` and `[[route]]`.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Probe a chain: print each hop's status and the time its answer took. Exits non-zero
    /// when a hop did not answer `ok`.
    Trace {
        /// The access config file naming the chains.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The chain to probe (default: the first).
        #[arg(long, value_name = "NAME")]
        chain: Option<String>,
        /// The destination the last hop connects to (it must allow it), HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        destination: String,
        /// How long to wait for every answer, e.g. 10s.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        timeout: String,
    },
}

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    ferry_cli::init_logging(&args.log);
    let mode = match prepare(args.command) {
        Ok(m) => m,
        Err(e) => return fail(PROGRAM, &e, EXIT_USAGE),
    };
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run(mode, args.metrics))
}

/// A mode with its validated config.
enum Mode {
    Serve(Box<ServeConfig>),
    Access(Box<AccessConfig>),
    Trace {
        chain: ferry_chain::Chain,
        destination: ferry_chain::Address,
        timeout: std::time::Duration,
    },
}

/// Reads and validates everything before a socket is bound.
fn prepare(command: Command) -> Result<Mode, ConfigError> {
    match command {
        Command::Serve {
            config: Some(file), ..
        } => Ok(Mode::Serve(Box::new(ServeConfig::from_file(&file)?))),
        Command::Serve {
            listen,
            key_file,
            key_env,
            allow,
            udp,
            tls_cert,
            tls_key,
            next_hop_tls_ca,
            config: None,
        } => {
            let keys = match (key_file, key_env) {
                (Some(f), _) => KeySource::File(f),
                (None, Some(v)) => KeySource::Env(v),
                (None, None) => {
                    return Err(ConfigError::invalid(
                        "--key-file",
                        "required (or --key-env VAR); keys are never taken on the command line",
                    ));
                }
            };
            let listen = listen.unwrap_or_default();
            let mut config = ServeConfig::from_flags(&listen, &keys, allow.as_deref())?;
            config.udp = udp;
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                config.set_tls_files(&cert, &key, "--tls-cert")?;
            }
            if !next_hop_tls_ca.is_empty() {
                config.set_next_hop_tls_cas(&next_hop_tls_ca, "--next-hop-tls-ca")?;
            }
            Ok(Mode::Serve(Box::new(config)))
        }
        Command::Access { config } => {
            let config = AccessConfig::from_file(&config)?;
            if config.listeners.is_empty() {
                return Err(ConfigError::invalid(
                    "listener",
                    "at least one [[listener]] is required",
                ));
            }
            Ok(Mode::Access(Box::new(config)))
        }
        Command::Trace {
            config,
            chain,
            destination,
            timeout,
        } => {
            let config = AccessConfig::from_file(&config)?;
            let picked = match &chain {
                Some(name) => config.chain(name).ok_or_else(|| {
                    ConfigError::invalid("--chain", format!("no [[chain]] named {name:?}"))
                })?,
                None => config.chains.first().ok_or_else(|| {
                    ConfigError::invalid("chain", "the config defines no [[chain]]")
                })?,
            };
            let destination = destination.parse().map_err(|e| {
                ConfigError::invalid("--destination", format!("{destination:?}: {e}"))
            })?;
            let timeout = ferry_app_core::duration::parse_duration(&timeout)
                .map_err(|e| ConfigError::invalid("--timeout", e))?;
            Ok(Mode::Trace {
                chain: picked.chain.clone(),
                destination,
                timeout,
            })
        }
    }
}

async fn run(mode: Mode, metrics: Option<SocketAddr>) -> ExitCode {
    if let Mode::Trace {
        chain,
        destination,
        timeout,
    } = &mode
    {
        return trace(chain, destination, *timeout).await;
    }
    let shutdown = match ferry_cli::shutdown_signal() {
        Ok(s) => s,
        Err(e) => return fail(PROGRAM, &e, EXIT_FAILURE),
    };
    let admin = match metrics.map(start_admin).transpose() {
        Ok(a) => a,
        Err(e) => return ferry_cli::fail_app(PROGRAM, &e),
    };
    let health = admin.as_ref().map(|(h, _)| h.clone());
    let shutdown = async move {
        shutdown.await;
        if let Some(h) = health {
            h.set_draining();
        }
    };
    let result = match mode {
        Mode::Serve(config) => match serve::bind(&config) {
            Ok((listener, udp)) => serve(*config, listener, udp, shutdown).await.map(drop),
            Err(e) => Err(e),
        },
        Mode::Access(config) => match access::bind(&config) {
            Ok(sockets) => access(*config, sockets, shutdown).await.map(drop),
            Err(e) => Err(e),
        },
        Mode::Trace { .. } => Ok(()),
    };
    if let Some((_, stop)) = admin {
        stop.cancel();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ferry_cli::fail_app(PROGRAM, &e),
    }
}

async fn trace(
    chain: &ferry_chain::Chain,
    destination: &ferry_chain::Address,
    timeout: std::time::Duration,
) -> ExitCode {
    let config = ClientConfig {
        handshake_timeout: timeout,
        ..ClientConfig::default()
    };
    match ferry_app_hop::trace(chain, destination, &config).await {
        Ok(hops) => {
            for h in &hops {
                println!("{h}");
            }
            if hops
                .iter()
                .all(|h| h.status.is_some_and(ferry_chain::Status::is_ok))
            {
                println!("destination {destination} reached");
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(e) => fail(PROGRAM, &e, EXIT_FAILURE),
    }
}

/// Binds the admin endpoint and serves it until the returned token is cancelled.
fn start_admin(addr: SocketAddr) -> Result<(Health, CancellationToken), AppError> {
    let listener = ferry_app_core::listen::bind_tcp(addr)?;
    let handle = match ferry_app_core::admin::install_prometheus() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    };
    if let Ok(local) = listener.local_addr() {
        tracing::info!(metrics_addr = %local, "metrics endpoint: /metrics and /healthz");
    }
    let health = Health::new();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(ferry_app_core::admin::serve(
        listener,
        handle,
        health.clone(),
        async move {
            token.cancelled().await;
        },
    ));
    Ok((health, stop))
}
