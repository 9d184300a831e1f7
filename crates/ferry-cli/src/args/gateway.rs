//! `ferry-gateway`'s command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::LogArgs;
use crate::credentials::{JwtCommand, TokenCommand};

/// The program's name.
pub const PROGRAM: &str = "ferry-gateway";

/// Reverse-tunnel gateway: agents inside private networks connect to --agent-listen (QUIC)
/// and authenticate; clients send `CONNECT host:port` to --listen with
/// `Proxy-Authorization: Basic` (username = agent id, password = client token or JWT) and are
/// tunnelled through that agent. SIGTERM or SIGINT drains and exits 0. SIGHUP reloads the
/// config file (validated first; a bad file keeps the running config), or with flags only the
/// files they name (token file, JWT public keys, certificates).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `check`, `explain`, `cert`, `token` or `jwt`, or none to run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// QUIC (UDP) address agents connect to, e.g. 0.0.0.0:4433.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub agent_listen: Option<String>,
    /// TCP address for agents on the TCP transport (TLS + HTTP/2, when UDP is blocked), or
    /// `off`. Default: the --agent-listen address, on TCP.
    #[arg(long, value_name = "ADDR|off", conflicts_with = "config")]
    pub agent_listen_tcp: Option<String>,
    /// Client address (HTTP CONNECT), e.g. 127.0.0.1:8080.
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub listen: Option<String>,
    /// Certificate chain agents verify (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with_all = ["config", "tls_self_signed"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Use a generated self-signed certificate for localhost, 127.0.0.1 and ::1 (development
    /// only: agents must trust exactly this certificate, which changes at every start).
    #[arg(long, conflicts_with = "config")]
    pub tls_self_signed: bool,
    /// Token file (hash lines from `ferry-gateway token new`).
    #[arg(long, value_name = "FILE", alias = "tokens", conflicts_with = "config")]
    pub token_file: Option<PathBuf>,
    /// JWT public key (SPKI PEM from `ferry-gateway jwt keygen`); repeatable.
    #[arg(long, value_name = "PEM", conflicts_with = "config")]
    pub jwt_public_key: Vec<PathBuf>,
    /// Required `aud` claim in JWTs (default: not checked).
    #[arg(long, value_name = "AUD", requires = "jwt_public_key")]
    pub jwt_audience: Option<String>,
    /// Destinations clients may ask for, comma-separated or repeated (e.g.
    /// "*.internal:443,10.0.0.0/8:22"). Required: an empty list would deny everything.
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    pub allow: Vec<String>,
    /// Let the --allow rules alone decide for loopback, private, link-local and metadata
    /// addresses (denied by default unless a rule names an address inside them).
    #[arg(long, conflicts_with = "config")]
    pub allow_special_addresses: bool,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by
    /// default; overrides `metrics` in the config file).
    #[arg(long, value_name = "ADDR", env = "FERRY_GATEWAY_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// TOML config file (covers everything the flags do, and more: limits, timeouts, client
    /// TLS, cluster).
    #[arg(long, value_name = "FILE", env = "FERRY_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// `--log`, `--log-format`.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ferry-gateway` subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a config file (reading its token file, keys and certificates) and print it
    /// with every default filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Explain what the allowlist of a config file decides for one destination and why: allowed
    /// or denied, and by which rule. The gateway matches names as names (the agent resolves
    /// and checks every address again). Exits 0 when allowed, 1 when denied, 64 for a bad file
    /// or destination.
    Explain(super::ExplainArgs),
    /// Make a private CA and a certificate for the gateway: writes ca.pem (the CA agents and
    /// peer gateways trust, --tls-ca), ca.key (mode 0600, to issue more certificates later
    /// with --ca-cert/--ca-key), gateway.pem (the certificate for the given names and IPs,
    /// then the CA) and gateway.key (mode 0600), and prints the flags to pass to the gateway,
    /// the agents and peer gateways. ECDSA P-256; the certificate has the names as
    /// subjectAltNames, CA:FALSE and serverAuth, and is valid for 825 days (--days), the CA
    /// for 10 years (--ca-days). Existing files are kept unless --force is given.
    Cert(crate::certificate::CertArgs),
    /// Create static tokens.
    Token {
        /// `new`.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Create JWT signing keys and sign JWTs.
    Jwt {
        /// `keygen` or `sign`.
        #[command(subcommand)]
        command: JwtCommand,
    },
}

/// The command [`Args`] parses (for man pages and completions).
#[must_use]
pub fn command() -> clap::Command {
    Args::command()
}
