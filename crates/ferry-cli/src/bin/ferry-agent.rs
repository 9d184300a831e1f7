//! `ferry-agent`: the reverse tunnel's agent. See `ferry-agent --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferry_app_core::AppError;
use ferry_app_tunnel::agent::AgentApp;
use ferry_app_tunnel::config::{AgentConfig, AgentFlags};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, LogArgs, fail};

const PROGRAM: &str = "ferry-agent";

/// Reverse-tunnel agent: holds one authenticated QUIC connection to the gateway (reconnecting
/// with back-off and jitter) and connects to the destinations the gateway asks for when
/// --allow permits them. Fails closed: without --token-file or --token-env it refuses to
/// start unless --insecure-no-auth is given. SIGTERM or SIGINT drains and exits 0.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
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
    #[command(flatten)]
    log: LogArgs,
}

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    ferry_cli::init_logging(&args.log);
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
    let config = match config {
        Ok(c) => c,
        Err(e) => return fail(PROGRAM, &AppError::from(e), EXIT_USAGE),
    };
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let shutdown = match ferry_cli::shutdown_signal() {
            Ok(s) => s,
            Err(e) => return fail(PROGRAM, &e, EXIT_FAILURE),
        };
        let agent = match AgentApp::load(&config, |name| std::env::var(name).ok()).await {
            Ok(a) => a,
            Err(e) => return ferry_cli::fail_app(PROGRAM, &e),
        };
        match agent.run(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => ferry_cli::fail_app(PROGRAM, &e),
        }
    })
}
