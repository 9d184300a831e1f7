//! `ferry-agent`: the reverse tunnel's agent. See `ferry-agent --help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferry_app_core::AppError;
use ferry_app_tunnel::agent::{self, AgentApp, AgentReloader};
use ferry_app_tunnel::config::{AgentConfig, AgentFlags};
use ferry_cli::args::ExplainArgs;
use ferry_cli::args::agent::{Args, Command, PROGRAM};
use ferry_cli::{EXIT_USAGE, ProgramRun, fail};

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    ferry_cli::init_logging(&args.log, args.config.as_deref());
    match &args.command {
        Some(Command::Check { file }) => return check(file),
        Some(Command::Explain(ExplainArgs {
            config,
            destination,
        })) => {
            // As the agent decides: names resolved once, every address checked.
            return match AgentConfig::from_file(config) {
                Ok(c) => ferry_cli::report_explain(
                    PROGRAM,
                    &c.allow,
                    destination,
                    ferry_app_core::explain::Check::Resolve,
                ),
                Err(e) => fail(PROGRAM, &AppError::from(e), EXIT_USAGE),
            };
        }
        None => {}
    }
    let config = match &args.config {
        Some(file) => AgentConfig::from_file(file),
        None => AgentConfig::from_flags(&AgentFlags {
            gateway: args.gateway.clone().unwrap_or_default(),
            server_name: args.server_name.clone(),
            ca: args.tls_ca.clone().unwrap_or_default(),
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            id: args.agent_id.clone().unwrap_or_default(),
            token_file: args.token_file.clone(),
            token_env: args.token_env.clone(),
            insecure_no_auth: args.insecure_no_auth,
            allow: args.allow.clone(),
            allow_special_addresses: args.allow_special_addresses,
            transport: args.transport.clone(),
            connections: args.connections,
            proxy: args.proxy.clone(),
            no_proxy: args.no_proxy.clone(),
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
        "SIGHUP reloads this file: allow, allow_special_addresses and connect_timeout apply to the next tunnel; ca, the token, keep_alive, idle_timeout and the receive windows to the next connection; reconnect_min/max to the next delay; the live connection is kept. gateway, server_name and agent_id need a restart (such a reload is refused); a new metrics address is kept until a restart",
    )
}
