//! `ferry-agent`: the reverse tunnel's agent. See `ferry-agent --help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_app_core::AppError;
use ferry_app_tunnel::agent::{self, AgentApp, AgentReloader};
use ferry_app_tunnel::config::{AgentConfig, AgentFlags};
use ferry_cli::{EXIT_USAGE, LogArgs, ProgramRun, fail};

const PROGRAM: &str = "ferry-agent";

/// Reverse-tunnel agent: holds one authenticated QUIC connection to the gateway (reconnecting
/// with back-off and jitter) and connects to the destinations the gateway asks for when
/// --allow permits them. Fails closed: without --token-file or --token-env it refuses to
/// start unless --insecure-no-auth is given. SIGTERM or SIGINT drains and exits 0. SIGHUP
/// reloads the config file (validated first; a bad file keeps the running config), or with
/// flags only re-reads the CA and token files; the live connection is kept.
#[derive(Parser, Debug)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The gateway's QUIC address, HOST:PORT.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    gateway: Option<String>,
    /// Name the gateway's certificate must carry (default: the host of --gateway).
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    server_name: Option<String>,
    /// CA certificates (PEM) the gateway's certificate must chain to.
    #[arg(
        long,
        value_name = "PEM",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    ca: Option<PathBuf>,
    /// The agent id clients address this agent by.
    #[arg(
        long,
        value_name = "AGENT_ID",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    id: Option<String>,
    /// File holding the agent's token or JWT (used as given, whitespace trimmed).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "token_env"])]
    token_file: Option<PathBuf>,
    /// Environment variable holding the agent's token or JWT.
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    token_env: Option<String>,
    /// Connect without a credential (only for a gateway that does not check; Ferry's always
    /// does).
    #[arg(long, conflicts_with_all = ["config", "token_file", "token_env"])]
    insecure_no_auth: bool,
    /// Destinations this agent may connect to, comma-separated or repeated (e.g.
    /// "10.0.0.0/8:22,*.internal:443").
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    allow: Vec<String>,
    /// Let the --allow rules alone decide for loopback, private, link-local and metadata
    /// addresses.
    #[arg(long, conflicts_with = "config")]
    allow_special_addresses: bool,
    /// TOML config file (covers everything the flags do, and more: timeouts, back-off).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by
    /// default; overrides `metrics` in the config file).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file (reading the token file or variable and the CA file; the
    /// gateway's name is looked up but need not resolve) and print it with every default
    /// filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    ferry_cli::init_logging(&args.log, args.config.as_deref());
    if let Some(Command::Check { file }) = &args.command {
        return check(file);
    }
    let config = match &args.config {
        Some(file) => AgentConfig::from_file(file),
        None => AgentConfig::from_flags(&AgentFlags {
            gateway: args.gateway.clone().unwrap_or_default(),
            server_name: args.server_name.clone(),
            ca: args.ca.clone().unwrap_or_default(),
            id: args.id.clone().unwrap_or_default(),
            token_file: args.token_file.clone(),
            token_env: args.token_env.clone(),
            insecure_no_auth: args.insecure_no_auth,
            allow: args.allow.clone(),
            allow_special_addresses: args.allow_special_addresses,
        }),
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => return fail(PROGRAM, &AppError::from(e), EXIT_USAGE),
    };
    if args.metrics.is_some() {
        config.metrics = args.metrics;
    }
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(serve(config, args.config, args.metrics))
}

async fn serve(
    config: AgentConfig,
    file: Option<PathBuf>,
    metrics_flag: Option<SocketAddr>,
) -> ExitCode {
    // SIGHUP re-reads the config file, or with flags the files they name (CA, token).
    let reload = move |r: &AgentReloader| {
        let _ = match &file {
            Some(path) => r.reload_file(path),
            None => r.reload_files(),
        };
    };
    let describe = agent::describe_metrics;
    let mut run = match ProgramRun::start(PROGRAM, config.metrics, describe, reload) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let app = match AgentApp::load(&config, |name| std::env::var(name).ok()).await {
        Ok(a) => a,
        Err(e) => return run.finish(Err(e)).await,
    };
    run.ready(
        app.reloader(|name| std::env::var(name).ok())
            .with_metrics_flag(metrics_flag),
    );
    let shutdown = run.shutdown();
    let result = app.run(shutdown).await;
    run.finish(result).await
}

/// `ferry-agent check FILE`: validate, load the files, explain.
fn check(file: &Path) -> ExitCode {
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let config = AgentConfig::from_file(file)?;
        agent::check(&config, |name| std::env::var(name).ok()).await
    });
    ferry_cli::report_check(
        PROGRAM,
        result,
        "SIGHUP reloads this file: allow, allow_special_addresses and connect_timeout apply to the next tunnel; ca, the token, keep_alive and idle_timeout to the next connection; reconnect_min/max to the next delay; the live connection is kept. gateway, server_name and agent_id need a restart (such a reload is refused); a new metrics address is kept until a restart",
    )
}
