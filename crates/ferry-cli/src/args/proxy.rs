//! `ferry-proxy`'s command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::LogArgs;

/// The program's name.
pub const PROGRAM: &str = "ferry-proxy";

/// TCP reverse proxy: forwards every connection on a listener to an upstream from a pool,
/// optionally terminating TLS. SIGHUP reloads the config file (validated first; a bad file
/// keeps the running config), or with flags only the TLS certificates.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `check FILE`, or none to run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "upstream",
        conflicts_with = "config"
    )]
    pub listen: Option<String>,
    /// Upstream address (HOST:PORT); repeat for round robin over several.
    #[arg(long, value_name = "ADDR", requires = "listen")]
    pub upstream: Vec<String>,
    /// Terminate TLS with this certificate chain (PEM, leaf first).
    #[arg(
        long,
        value_name = "PEM",
        requires_all = ["tls_key", "listen"],
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM; PKCS#8, PKCS#1 or SEC1; not encrypted).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Terminate TLS with a generated self-signed certificate for localhost, 127.0.0.1 and
    /// ::1 (development and demos only: clients cannot verify it).
    #[arg(long, requires = "listen")]
    pub tls_self_signed: bool,
    /// TOML config file (covers everything the flags do, and more).
    #[arg(long, value_name = "FILE", env = "FERRY_PROXY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by default).
    #[arg(long, value_name = "ADDR", env = "FERRY_PROXY_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// `--log`, `--log-format`.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ferry-proxy` subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a config file (loading its certificates) and print it with every default
    /// filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

/// The command [`Args`] parses (for man pages and completions).
#[must_use]
pub fn command() -> clap::Command {
    Args::command()
}
