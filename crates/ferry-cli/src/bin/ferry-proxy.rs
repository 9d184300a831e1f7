//! `ferry-proxy`: TCP reverse proxy with optional TLS termination. See `ferry-proxy --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_app_core::admin::Health;
use ferry_app_proxy::{self as proxy, CertFiles, Proxy, ProxyConfig, Reloader};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, fail};

/// TCP reverse proxy: forwards every connection on a listener to an upstream from a pool,
/// optionally terminating TLS. SIGHUP reloads the config file (validated first; a bad file
/// keeps the running config), or with flags only the TLS certificates.
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
    /// Terminate TLS with this certificate chain (PEM, leaf first).
    #[arg(
        long,
        value_name = "PEM",
        requires_all = ["tls_key", "listen"],
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM; PKCS#8, PKCS#1 or SEC1; not encrypted).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Terminate TLS with a generated self-signed certificate for localhost, 127.0.0.1 and
    /// ::1 (development and demos only: clients cannot verify it).
    #[arg(long, requires = "listen")]
    tls_self_signed: bool,
    /// TOML config file (covers everything the flags do, and more).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    /// Serve Prometheus metrics at `/metrics` and `/healthz` on this address (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    #[arg(long, default_value = "info")]
    log: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file (loading its certificates) and print it with every default
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
    ferry_cli::init_tracing(&args.log);
    let tls = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(CertFiles::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (_, _, true) => Some(CertFiles::SelfSigned),
        _ => None,
    };
    let config = match (&args.command, &args.config, &args.listen) {
        (Some(Command::Check { file }), _, _) => return check(file),
        (None, Some(file), _) => ProxyConfig::from_file(file),
        (None, None, Some(listen)) => ProxyConfig::from_flags_tls(listen, &args.upstream, tls),
        (None, None, None) => {
            eprintln!(
                "ferry-proxy: give --listen ADDR --upstream ADDR, or --config FILE (see --help)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Certificates are loaded here, before anything is bound.
    let proxy = match config.and_then(Proxy::new) {
        Ok(p) => p,
        Err(e) => return fail("ferry-proxy", &e, EXIT_USAGE),
    };
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    let runtime = match ferry_cli::runtime("ferry-proxy") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let shutdown = match ferry_cli::shutdown_signal() {
            Ok(s) => s,
            Err(e) => return Err(fail("ferry-proxy", &e, EXIT_FAILURE)),
        };
        if let Err(e) = reload_on_sighup(proxy.reloader(), args.config.clone()) {
            return Err(fail("ferry-proxy", &e, EXIT_FAILURE));
        }
        let admin = match args.metrics {
            Some(addr) => {
                Some(start_admin(addr).map_err(|e| ferry_cli::fail_app("ferry-proxy", &e))?)
            }
            None => None,
        };
        let listeners =
            proxy::bind_all(proxy.config()).map_err(|e| ferry_cli::fail_app("ferry-proxy", &e))?;
        let health = admin.as_ref().map(|(h, _)| h.clone());
        let shutdown = async move {
            shutdown.await;
            if let Some(h) = health {
                h.set_draining();
            }
        };
        let result = proxy
            .run(listeners, shutdown)
            .await
            .map_err(|e| ferry_cli::fail_app("ferry-proxy", &e));
        if let Some((_, stop)) = admin {
            stop.cancel();
        }
        result
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Binds the admin endpoint and serves it until the returned token is cancelled.
fn start_admin(
    addr: std::net::SocketAddr,
) -> Result<(Health, tokio_util::sync::CancellationToken), ferry_app_proxy::AppError> {
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
    let stop = tokio_util::sync::CancellationToken::new();
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

/// `ferry-proxy check FILE`: validate, load the certificates, explain.
fn check(file: &std::path::Path) -> ExitCode {
    match ProxyConfig::from_file(file).and_then(Proxy::new) {
        Ok(p) => {
            print!("{}", p.config().explain());
            println!(
                "certificates loaded; SIGHUP reloads this file (listener addresses and server.max_connections need a restart)"
            );
            println!("config ok");
            ExitCode::SUCCESS
        }
        Err(e) => fail("ferry-proxy", &e, EXIT_USAGE),
    }
}

/// Registers the SIGHUP handler now (so a SIGHUP never hits the default action, which ends
/// the process). On every SIGHUP: with a config file, re-read, validate and apply it (a bad
/// file keeps the running config; both outcomes are logged); with flags, reload the TLS
/// certificates.
fn reload_on_sighup(reloader: Reloader, file: Option<PathBuf>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let reloader = reloader.clone();
                let file = file.clone();
                // Reading the config and PEM files is blocking I/O.
                let _ = tokio::task::spawn_blocking(move || match &file {
                    Some(path) => {
                        tracing::info!(file = %path.display(), "SIGHUP received: reloading the config");
                        // The reloader logs the outcome and counts it.
                        let _ = reloader.reload_file(path);
                    }
                    None => {
                        tracing::info!("SIGHUP received: reloading TLS certificates");
                        reloader.reload_tls();
                    }
                })
                .await;
            }
        });
    }
    #[cfg(not(unix))]
    drop((reloader, file));
    Ok(())
}
