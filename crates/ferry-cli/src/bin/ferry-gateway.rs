//! `ferry-gateway`: the reverse tunnel's gateway (agents over QUIC, clients over HTTP
//! CONNECT), the `cert` certificate tool and the `token` / `jwt` credential tools. See `ferry-gateway --help`.

use std::process::ExitCode;

use ferry_app_core::AppError;
use ferry_app_tunnel::config::{GatewayConfig, GatewayFlags};
use ferry_app_tunnel::gateway::Reloader;
use ferry_cli::args::ExplainArgs;
use ferry_cli::args::gateway::{Args, Command, PROGRAM};
use ferry_cli::certificate::run_cert;
use ferry_cli::credentials::{run_jwt, run_token};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, ProgramRun, fail};

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
        Some(Command::Cert(cert)) => {
            // The binary is where the clock is read (libraries take time as a parameter).
            #[allow(clippy::disallowed_methods)]
            let now = std::time::SystemTime::now();
            return match run_cert(cert, now, &mut std::io::stdout()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) if e.is_usage() => fail(PROGRAM, &e, EXIT_USAGE),
                Err(e) => fail(PROGRAM, &e, EXIT_FAILURE),
            };
        }
        Some(Command::Check { file }) => return check(file),
        Some(Command::Explain(ExplainArgs {
            config,
            destination,
        })) => {
            // The gateway matches names as names; the agent resolves and checks again.
            return match GatewayConfig::from_file(config) {
                Ok(c) => ferry_cli::report_explain(
                    PROGRAM,
                    &c.front.allow,
                    destination,
                    ferry_app_core::explain::Check::NamesOnly,
                ),
                Err(e) => fail(PROGRAM, &AppError::from(e), EXIT_USAGE),
            };
        }
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
        "token file, keys and certificates loaded; SIGHUP reloads this file (listen, agent_listen, agent_listen_tcp, metrics, the registry, turning [client_tls] or [cluster] on or off, other [cluster] settings, agent QUIC timers and limits.max_tunnels_per_agent need a restart)",
    )
}

fn flags(args: &Args) -> GatewayFlags {
    GatewayFlags {
        listen: args.listen.clone().unwrap_or_default(),
        agent_listen: args.agent_listen.clone().unwrap_or_default(),
        agent_listen_tcp: args.agent_listen_tcp.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        tls_self_signed: args.tls_self_signed,
        tokens: args.token_file.clone(),
        jwt_public_keys: args.jwt_public_key.clone(),
        jwt_audience: args.jwt_audience.clone(),
        allow: args.allow.clone(),
        allow_special_addresses: args.allow_special_addresses,
        metrics: None,
    }
}
