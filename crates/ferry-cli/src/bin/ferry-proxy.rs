//! `ferry-proxy`: TCP reverse proxy. See `ferry-proxy --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_app_proxy::{self as proxy, ProxyConfig};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, fail};

/// TCP reverse proxy: forwards every connection on a listener to an upstream from a pool.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "upstream",
        conflicts_with = "config"
    )]
    listen: Option<String>,
    /// Upstream address (HOST:PORT); repeat for round robin over several.
    #[arg(long, value_name = "ADDR", requires = "listen")]
    upstream: Vec<String>,
    /// TOML config file (covers everything the flags do, and more).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file and print it with every default filled in.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    ferry_cli::init_tracing(&args.log);
    let config = match (&args.command, &args.config, &args.listen) {
        (Some(Command::Check { file }), _, _) => {
            return match ProxyConfig::from_file(file) {
                Ok(c) => {
                    print!("{}", c.explain());
                    println!("config ok");
                    ExitCode::SUCCESS
                }
                Err(e) => fail("ferry-proxy", &e, EXIT_USAGE),
            };
        }
        (None, Some(file), _) => ProxyConfig::from_file(file),
        (None, None, Some(listen)) => ProxyConfig::from_flags(listen, &args.upstream),
        (None, None, None) => {
            eprintln!(
                "ferry-proxy: give --listen ADDR --upstream ADDR, or --config FILE (see --help)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => return fail("ferry-proxy", &e, EXIT_USAGE),
    };
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail("ferry-proxy", &e, EXIT_FAILURE),
    };
    let result = runtime.block_on(async {
        let shutdown = match ferry_cli::shutdown_signal() {
            Ok(s) => s,
            Err(e) => return Err(fail("ferry-proxy", &e, EXIT_FAILURE)),
        };
        let listeners = proxy::bind_all(&config).map_err(|e| report(&e))?;
        proxy::run(config, listeners, shutdown)
            .await
            .map_err(|e| report(&e))
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn report(e: &ferry_app_proxy::AppError) -> ExitCode {
    let code = match e {
        ferry_app_proxy::AppError::Config(_) => EXIT_USAGE,
        _ => EXIT_FAILURE,
    };
    fail("ferry-proxy", e, code)
}
