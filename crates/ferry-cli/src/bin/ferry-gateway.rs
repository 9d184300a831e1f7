//! `ferry-gateway`: the reverse tunnel's gateway (agents over QUIC, clients over HTTP
//! CONNECT), and the `token` / `jwt` credential tools. See `ferry-gateway --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_app_core::AppError;
use ferry_app_tunnel::config::{GatewayConfig, GatewayFlags};
use ferry_app_tunnel::gateway::Reloader;
use ferry_cli::credentials::{JwtCommand, TokenCommand, run_jwt, run_token};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, LogArgs, ProgramRun, fail};

const PROGRAM: &str = "ferry-gateway";

/// Reverse-tunnel gateway: agents inside private networks connect to --agent-listen (QUIC)
/// and authenticate; clients send `CONNECT host:port` to --listen with
/// `Proxy-Authorization: Basic` (username = agent id, password = client token or JWT) and are
/// tunnelled through that agent. SIGTERM or SIGINT drains and exits 0. SIGHUP reloads the
/// config file (validated first; a bad file keeps the running config), or with flags only the
/// files they name (token file, JWT public keys, certificates).
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// QUIC (UDP) address agents connect to, e.g. 0.0.0.0:4433.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    agent_listen: Option<String>,
    /// Client address (HTTP CONNECT), e.g. 127.0.0.1:8080.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    listen: Option<String>,
    /// Certificate chain agents verify (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with_all = ["config", "tls_self_signed"])]
    tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Use a generated self-signed certificate for localhost, 127.0.0.1 and ::1 (development
    /// only: agents must trust exactly this certificate, which changes at every start).
    #[arg(long, conflicts_with = "config")]
    tls_self_signed: bool,
    /// Token file (hash lines from `ferry-gateway token new`).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    tokens: Option<PathBuf>,
    /// JWT public key (SPKI PEM from `ferry-gateway jwt keygen`); repeatable.
    #[arg(long, value_name = "PEM", conflicts_with = "config")]
    jwt_public_key: Vec<PathBuf>,
    /// Required `aud` claim in JWTs (default: not checked).
    #[arg(long, value_name = "AUD", requires = "jwt_public_key")]
    jwt_audience: Option<String>,
    /// Destinations clients may ask for, comma-separated or repeated (e.g.
    /// "*.internal:443,10.0.0.0/8:22"). Required: an empty list would deny everything.
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    allow: Vec<String>,
    /// Let the --allow rules alone decide for loopback, private, link-local and metadata
    /// addresses (denied by default unless a rule names an address inside them).
    #[arg(long, conflicts_with = "config")]
    allow_special_addresses: bool,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by
    /// default; overrides `metrics` in the config file).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// TOML config file (covers everything the flags do, and more: limits, timeouts, client
    /// TLS, cluster).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file (reading its token file, keys and certificates) and print it
    /// with every default filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Create static tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Create JWT signing keys and sign JWTs.
    Jwt {
        #[command(subcommand)]
        command: JwtCommand,
    },
}

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match &args.command {
        Some(Command::Token { command }) => {
            let result = run_token(command, &mut std::io::stdout(), &mut std::io::stderr());
            return result.map_or_else(|e| fail(PROGRAM, &e, EXIT_FAILURE), |()| ExitCode::SUCCESS);
        }
        Some(Command::Jwt { command }) => {
            let result = run_jwt(command, &mut std::io::stdout());
            return result.map_or_else(|e| fail(PROGRAM, &e, EXIT_FAILURE), |()| ExitCode::SUCCESS);
        }
        Some(Command::Check { file }) => return check(file),
        None => {}
    }
    ferry_cli::init_logging(&args.log, args.config.as_deref());
    let config = match &args.config {
        Some(file) => GatewayConfig::from_file(file),
        None => GatewayConfig::from_flags(&flags(&args)),
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => return fail(PROGRAM, &AppError::from(e), EXIT_USAGE),
    };
    if args.metrics.is_some() {
        config.metrics = args.metrics;
    }
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        // A config file is read again on SIGHUP; with flags, the files they name. Both are
        // validated first, logged and counted. The gateway starts its own admin endpoint in
        // `bind` (from `metrics` in the file or the flag).
        let (file, flags) = (args.config.clone(), flags(&args));
        let reload = move |r: &Reloader| {
            let _ = match &file {
                Some(path) => r.reload_file(path),
                None => r.reload_flags(&flags),
            };
        };
        let mut run = match ProgramRun::start(PROGRAM, None, || {}, reload) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let gateway = match ferry_app_tunnel::gateway::bind(&config) {
            Ok(g) => g,
            Err(e) => return run.finish(Err(e)).await,
        };
        run.ready(gateway.reloader().metrics_override(args.metrics));
        gateway.run(run.shutdown()).await;
        run.finish(Ok(())).await
    })
}

/// `ferry-gateway check FILE`: validate, load every file, explain.
fn check(file: &std::path::Path) -> ExitCode {
    let result = GatewayConfig::from_file(file)
        .and_then(|c| ferry_app_tunnel::gateway::check(&c))
        .map_err(AppError::from);
    ferry_cli::report_check(
        PROGRAM,
        result,
        "token file, keys and certificates loaded; SIGHUP reloads this file (listen, agent_listen, metrics, the registry, turning [client_tls] or [cluster] on or off, other [cluster] settings, agent QUIC timers and limits.max_tunnels_per_agent need a restart)",
    )
}

fn flags(args: &Args) -> GatewayFlags {
    GatewayFlags {
        listen: args.listen.clone().unwrap_or_default(),
        agent_listen: args.agent_listen.clone().unwrap_or_default(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        tls_self_signed: args.tls_self_signed,
        tokens: args.tokens.clone(),
        jwt_public_keys: args.jwt_public_key.clone(),
        jwt_audience: args.jwt_audience.clone(),
        allow: args.allow.clone(),
        allow_special_addresses: args.allow_special_addresses,
        metrics: None,
    }
}
