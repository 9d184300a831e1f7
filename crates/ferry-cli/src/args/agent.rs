//! `ferry-agent`'s command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::LogArgs;

/// The program's name.
pub const PROGRAM: &str = "ferry-agent";

/// Reverse-tunnel agent: holds one authenticated QUIC connection to the gateway (reconnecting
/// with back-off and jitter) and connects to the destinations the gateway asks for when
/// --allow permits them. Fails closed: without --token-file or --token-env it refuses to
/// start unless --insecure-no-auth is given. SIGTERM or SIGINT drains and exits 0. SIGHUP
/// reloads the config file (validated first; a bad file keeps the running config), or with
/// flags only re-reads the CA and token files; the live connection is kept.
#[derive(Parser, Debug)]
#[command(
    name = PROGRAM,
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    /// `check FILE`, or none to run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The gateway's QUIC address, HOST:PORT.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub gateway: Option<String>,
    /// Name the gateway's certificate must carry (default: the host of --gateway).
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    pub server_name: Option<String>,
    /// CA certificates (PEM) the gateway's certificate must chain to.
    #[arg(
        long,
        value_name = "PEM",
        alias = "ca",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub tls_ca: Option<PathBuf>,
    /// TLS client certificate (PEM chain) presented to a gateway that requires one (mTLS):
    /// its one DNS subjectAltName must be the agent id (`ferry-gateway cert --client
    /// --agent-id ID` makes one).
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "config"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_cert",
        conflicts_with = "config"
    )]
    pub tls_key: Option<PathBuf>,
    /// The agent id clients address this agent by.
    #[arg(
        long,
        value_name = "AGENT_ID",
        alias = "id",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub agent_id: Option<String>,
    /// File holding the agent's token or JWT (used as given, whitespace trimmed).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "token_env"])]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the agent's token or JWT.
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    pub token_env: Option<String>,
    /// Connect without a credential (only for a gateway that does not check; Ferry's always
    /// does).
    #[arg(long, conflicts_with_all = ["config", "token_file", "token_env"])]
    pub insecure_no_auth: bool,
    /// Destinations this agent may connect to, comma-separated or repeated (e.g.
    /// "10.0.0.0/8:22,*.internal:443").
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub allow: Vec<String>,
    /// Let the --allow rules alone decide for loopback, private, link-local and metadata
    /// addresses.
    #[arg(long, conflicts_with = "config")]
    pub allow_special_addresses: bool,
    /// Transport to the gateway: auto (QUIC, then TLS + HTTP/2 over TCP if QUIC does not
    /// connect within 3 s), quic, or tcp. Default: auto.
    #[arg(long, value_name = "auto|quic|tcp", conflicts_with = "config")]
    pub transport: Option<String>,
    /// Egress proxy to the gateway: http://USER:PASS@HOST:PORT (HTTP CONNECT, Basic;
    /// credentials optional), socks5://... or socks5h://... (the proxy resolves the gateway's
    /// name). Uses the TCP
    /// transport. Default: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY from the
    /// environment. A password here shows in the process list: prefer the config file.
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    pub proxy: Option<String>,
    /// Gateways reached without the proxy (curl's NO_PROXY rules, plus ports), e.g.
    /// "localhost,.internal,10.0.0.0/8". Default: no_proxy, NO_PROXY from the environment.
    #[arg(long, value_name = "LIST", conflicts_with = "config")]
    pub no_proxy: Option<String>,
    /// Connections held to the gateway (1-16), as one group: the gateway spreads tunnels
    /// over them so bulk through the agent uses more than one core. Default: 4 on the TCP
    /// transport, 1 on QUIC.
    #[arg(long, value_name = "N", conflicts_with = "config")]
    pub connections: Option<u8>,
    /// TOML config file (covers everything the flags do, and more: timeouts, back-off).
    #[arg(long, value_name = "FILE", env = "FERRY_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by
    /// default; overrides `metrics` in the config file).
    #[arg(long, value_name = "ADDR", env = "FERRY_AGENT_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// `--log`, `--log-format`.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ferry-agent` subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a config file (reading the token file or variable and the CA file; the
    /// gateway's name is looked up but need not resolve) and print it with every default
    /// filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Explain what the allowlist of a config file decides for one destination and why: allowed
    /// or denied, by which rule, what a name resolves to, and which address rule or special
    /// range decided each address. Exits 0 when allowed, 1 when denied, 64 for a bad file or
    /// destination.
    Explain(super::ExplainArgs),
}

/// The command [`Args`] parses (for man pages and completions).
#[must_use]
pub fn command() -> clap::Command {
    Args::command()
}
