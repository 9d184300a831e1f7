//! `ferry-hop`'s command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::LogArgs;

/// The program's name.
pub const PROGRAM: &str = "ferry-hop";

/// Forward proxy chains: every hop opens only its own sealed record of the chain header and
/// learns only its next address. Keys come from a file or an environment variable, never from
/// the command line. SIGHUP reloads `serve` and `access` (validated first; a bad file keeps
/// the running config; live connections keep theirs).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version)]
pub struct Args {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by default;
    /// overrides `metrics` in the config file).
    #[arg(long, value_name = "ADDR", global = true, env = "FERRY_HOP_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// `--log`, `--log-format`.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ferry-hop` subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one hop: open the client's record, check the next address against the allowlist,
    /// connect, answer with a sealed status, relay. Secure default: without --allow (or
    /// `allow` in the config) every next address is denied.
    Serve(Serve),
    /// Run local listeners (tcp, udp, socks5, http) that send traffic over the chains of a
    /// config file, or, from flags alone, SOCKS5 / HTTP listeners over one chain:
    /// `ferry-hop access --listen socks5://127.0.0.1:1080 --hop hop1:7000#1 --hop hop2:7000#2
    /// --key-file client.keys`.
    Access {
        /// TOML config file with `[keys]`, `[[chain]]`, `[[listener]]` and `[[route]]`.
        #[arg(
            long,
            value_name = "FILE",
            env = "FERRY_HOP_ACCESS_CONFIG",
            required_unless_present = "hop"
        )]
        config: Option<PathBuf>,
        /// A listener, `socks5://ADDR` or `http://ADDR` (repeatable; without --config).
        #[arg(long, value_name = "URL", conflicts_with = "config", requires = "hop")]
        listen: Vec<String>,
        /// The chain's next hop, in order, `HOST:PORT#KEY_ID` (repeatable; without --config).
        #[arg(long, value_name = "HOST:PORT#KEY_ID", conflicts_with = "config")]
        hop: Vec<String>,
        /// File of the chain's `KEY_ID HEX` keys (without --config).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "key_env"])]
        key_file: Option<PathBuf>,
        /// Environment variable holding the chain's keys (instead of --key-file).
        #[arg(long, value_name = "VAR", conflicts_with = "config")]
        key_env: Option<String>,
    },
    /// Probe a chain: print each hop's status and the time its answer took. Exits non-zero
    /// when a hop did not answer `ok`.
    Trace {
        /// The access config file naming the chains.
        #[arg(long, value_name = "FILE", env = "FERRY_HOP_ACCESS_CONFIG")]
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
    /// Explain what the allowlist of a `serve` config file decides for one next address and
    /// why: allowed or denied, by which rule, what a name resolves to, and which address rule
    /// or special range decided each address. Exits 0 when allowed, 1 when denied, 64 for a
    /// bad file or destination.
    Explain(super::ExplainArgs),
    /// Validate a config file (loading its keys, certificates and CA files, compiling its
    /// patterns) and print it with every default filled in; never prints key material. Exits
    /// 0, or 64 naming the key or file at fault.
    Check {
        /// `serve FILE` or `access FILE`.
        #[command(subcommand)]
        what: Check,
    },
}

/// `ferry-hop serve`'s flags.
#[derive(clap::Args, Debug)]
pub struct Serve {
    /// Address to listen on (TCP, and UDP with --udp), e.g. 0.0.0.0:7000.
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "config",
        required_unless_present = "config"
    )]
    pub listen: Option<String>,
    /// File of `KEY_ID HEX` keys this hop accepts.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "key_env"])]
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the keys (instead of --key-file).
    #[arg(long, value_name = "VAR", conflicts_with = "config")]
    pub key_env: Option<String>,
    /// Where this hop may connect next: comma-separated ferry-allow patterns, e.g.
    /// `*.example.com:443,hop2.example.net:7000`. Not given: deny everything.
    #[arg(long, value_name = "PATTERNS", conflicts_with = "config")]
    pub allow: Option<String>,
    /// Also serve datagram chains over UDP on the same address.
    #[arg(long, conflicts_with = "config")]
    pub udp: bool,
    /// TLS on the listener: PEM certificate chain, leaf first (with --tls-key). Clients
    /// (the access side's `tls_ca`, or the previous hop's --tls-ca) must speak TLS.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        conflicts_with = "config"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_cert",
        conflicts_with = "config"
    )]
    pub tls_key: Option<PathBuf>,
    /// TLS to the next hop (not to the destination), verifying its certificate against
    /// this PEM CA file (repeatable); verification is never skipped.
    #[arg(
        long,
        value_name = "PEM",
        alias = "next-hop-tls-ca",
        conflicts_with = "config"
    )]
    pub tls_ca: Vec<PathBuf>,
    /// TOML config file (covers everything the flags do, and more).
    #[arg(long, value_name = "FILE", env = "FERRY_HOP_SERVE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `ferry-hop check` subcommands.
#[derive(Subcommand, Debug)]
pub enum Check {
    /// A `ferry-hop serve --config` file.
    Serve {
        /// The config file.
        file: PathBuf,
    },
    /// A `ferry-hop access --config` file.
    Access {
        /// The config file.
        file: PathBuf,
    },
}

/// The command [`Args`] parses (for man pages and completions).
#[must_use]
pub fn command() -> clap::Command {
    Args::command()
}
