//! `ferry-proxy`: TCP reverse proxy with optional TLS termination. See `ferry-proxy --help`.

use std::process::ExitCode;

use ferry_app_proxy::{self as proxy, CertFiles, Proxy, ProxyConfig};
use ferry_cli::args::proxy::{Args, Command, PROGRAM};
use ferry_cli::{EXIT_USAGE, ProgramRun, fail};

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    ferry_cli::init_logging(&args.log, args.config.as_deref());
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
        Err(e) => return fail(PROGRAM, &e, EXIT_USAGE),
    };
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    // With `server.workers`, connections run on worker threads (one single-threaded runtime
    // each) and this runtime keeps signals, reloads, the admin endpoint and health checks.
    // Without it, everything runs on tokio's multi-thread runtime, one thread per core (or
    // `TOKIO_WORKER_THREADS`): see `server.workers` in docs/proxy.md for the trade-off.
    let runtime = if proxy.config().workers.is_some() {
        ferry_cli::control_runtime(PROGRAM)
    } else {
        ferry_cli::runtime(PROGRAM)
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        // With a config file, SIGHUP re-reads, validates and applies it (a bad file keeps the
        // running config; the reloader logs and counts both outcomes); with flags, it reloads
        // the TLS certificates.
        let file = args.config.clone();
        let reload = move |r: &proxy::Reloader| match &file {
            Some(path) => {
                let _ = r.reload_file(path);
            }
            None => {
                let _ = r.reload_tls();
            }
        };
        let metrics = args.metrics.or(proxy.config().metrics);
        let mut run = match ProgramRun::start(PROGRAM, metrics, || {}, reload) {
            Ok(r) => r,
            Err(code) => return code,
        };
        run.ready(proxy.reloader());
        let shutdown = run.shutdown();
        let result = match proxy::bind_all(proxy.config()) {
            Ok(listeners) => proxy.run(listeners, shutdown).await.map(drop),
            Err(e) => Err(e),
        };
        run.finish(result).await
    })
}

/// `ferry-proxy check FILE`: validate, load the certificates, explain.
fn check(file: &std::path::Path) -> ExitCode {
    let result = ProxyConfig::from_file(file)
        .and_then(Proxy::new)
        .map(|p| p.config().explain())
        .map_err(ferry_app_core::AppError::from);
    ferry_cli::report_check(
        PROGRAM,
        result,
        "certificates loaded; SIGHUP reloads this file (listener addresses, server.max_connections and metrics need a restart)",
    )
}
