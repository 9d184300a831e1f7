//! `ferry-hop`: one hop of a forward proxy chain (`serve`), local fronts over chains
//! (`access`), a chain probe (`trace`) and config checks (`check`). See `ferry-hop --help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferry_app_core::AppError;
use ferry_app_hop::access::{self, Access};
use ferry_app_hop::serve::{self, Hop};
use ferry_app_hop::trace::TracePlan;
use ferry_app_hop::{AccessConfig, AccessFlags, KeySource, ServeFlags, ServeSource};
use ferry_cli::args::ExplainArgs;
use ferry_cli::args::hop::{Args, Check, Command, PROGRAM, Serve};
use ferry_cli::{EXIT_FAILURE, EXIT_USAGE, ProgramRun, fail};

fn main() -> ExitCode {
    let args = match ferry_cli::parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let file = match &args.command {
        Command::Serve(serve) => serve.config.as_deref(),
        Command::Access { config, .. } => config.as_deref(),
        Command::Trace { config, .. } | Command::Explain(ExplainArgs { config, .. }) => {
            Some(config.as_path())
        }
        Command::Check { .. } => None,
    };
    ferry_cli::init_logging(&args.log, file);
    let mode = match args.command {
        Command::Check { what } => return check(&what),
        Command::Explain(ExplainArgs {
            config,
            destination,
        }) => return explain(&config, &destination),
        Command::Serve(Serve {
            listen,
            key_file,
            key_env,
            allow,
            udp,
            tls_cert,
            tls_key,
            tls_ca,
            config,
        }) => {
            let source = match config {
                Some(file) => ServeSource::File(file),
                None => {
                    let mut flags = ServeFlags::new();
                    flags.listen = listen.unwrap_or_default();
                    flags.keys = match (key_file, key_env) {
                        (Some(f), _) => Some(KeySource::File(f)),
                        (None, Some(v)) => Some(KeySource::Env(v)),
                        (None, None) => None,
                    };
                    flags.allow = allow;
                    flags.udp = udp;
                    flags.tls = tls_cert.zip(tls_key);
                    flags.next_hop_tls_ca = tls_ca;
                    ServeSource::Flags(flags)
                }
            };
            source.load().map(|c| Mode::Serve(Box::new(c), source))
        }
        Command::Access {
            config: Some(file), ..
        } => AccessConfig::from_file(&file)
            .and_then(|c| c.require_listeners().map(|()| c))
            .map(|c| Mode::Access(Box::new(c), AccessSource::File(file))),
        Command::Access {
            config: None,
            listen,
            hop,
            key_file,
            key_env,
        } => {
            let mut flags = AccessFlags::new();
            flags.listen = listen;
            flags.hops = hop;
            flags.keys = match (key_file, key_env) {
                (Some(f), _) => Some(KeySource::File(f)),
                (None, Some(v)) => Some(KeySource::Env(v)),
                (None, None) => None,
            };
            AccessConfig::from_flags(&flags)
                .map(|c| Mode::Access(Box::new(c), AccessSource::Flags(Box::new(flags))))
        }
        Command::Trace {
            config,
            chain,
            destination,
            timeout,
        } => TracePlan::from_file(&config, chain.as_deref(), &destination, &timeout)
            .map(|p| Mode::Trace(Box::new(p))),
    };
    let mode = match mode {
        Ok(m) => m,
        Err(e) => return fail(PROGRAM, &e, EXIT_USAGE),
    };
    if let Some(limit) = ferry_cli::raise_open_files_limit() {
        tracing::debug!(limit, "open-files limit");
    }
    let runtime = match ferry_cli::runtime(PROGRAM) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        match mode {
            Mode::Trace(plan) => trace(&plan).await,
            Mode::Serve(config, source) => {
                let metrics = args.metrics.or(config.metrics);
                // Re-read the config file, or the files the flags name (keys, certificate,
                // CAs); a bad one keeps the running config (the reloader logs and counts).
                let reload = move |r: &serve::Reloader| {
                    let _ = r.reload(&source);
                };
                let describe = ferry_app_hop::describe_metrics;
                let mut run = match ProgramRun::start(PROGRAM, metrics, describe, reload) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let hop = Hop::new(*config);
                run.ready(hop.reloader());
                let shutdown = run.shutdown();
                let result = match serve::bind(&hop.config()) {
                    Ok((listener, udp)) => hop.run(listener, udp, shutdown).await.map(drop),
                    Err(e) => Err(e),
                };
                run.finish(result).await
            }
            Mode::Access(config, source) => {
                let metrics = args.metrics.or(config.metrics);
                // Re-read the config file, or rebuild from the flags (re-reading the keys).
                let reload = move |r: &access::Reloader| {
                    let _ = match &source {
                        AccessSource::File(file) => r.reload_file(file),
                        AccessSource::Flags(flags) => r.reload_flags(flags),
                    };
                };
                let describe = ferry_app_hop::describe_metrics;
                let mut run = match ProgramRun::start(PROGRAM, metrics, describe, reload) {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                let access = Access::new(*config);
                run.ready(access.reloader());
                let shutdown = run.shutdown();
                let result = match access::bind(&access.config()) {
                    Ok(sockets) => access.run(sockets, shutdown).await.map(drop),
                    Err(e) => Err(e),
                };
                run.finish(result).await
            }
        }
    })
}

enum Mode {
    Serve(Box<ferry_app_hop::ServeConfig>, ServeSource),
    Access(Box<AccessConfig>, AccessSource),
    Trace(Box<TracePlan>),
}

/// Where `access` got its config, for SIGHUP.
enum AccessSource {
    File(PathBuf),
    Flags(Box<AccessFlags>),
}

/// `ferry-hop explain --config FILE HOST:PORT`: the serve allowlist's decision, as the hop
/// makes it (names resolved once, every address checked).
fn explain(file: &Path, destination: &str) -> ExitCode {
    match ServeSource::File(file.to_owned()).load() {
        Ok(config) => ferry_cli::report_explain(
            PROGRAM,
            &config.allow,
            destination,
            ferry_app_core::explain::Check::Resolve,
        ),
        Err(e) => fail(PROGRAM, &e, EXIT_USAGE),
    }
}

/// The shared frame of `serve` and `access`: signal handlers (SIGHUP runs `reload`) before
/// anything is bound, the admin endpoint on `metrics`, then `serve` until SIGTERM or SIGINT.
async fn trace(plan: &TracePlan) -> ExitCode {
    match ferry_app_hop::trace(&plan.chain, &plan.destination, &plan.client).await {
        Ok(hops) => {
            for h in &hops {
                println!("{h}");
            }
            if hops
                .iter()
                .all(|h| h.status.is_some_and(ferry_chain::Status::is_ok))
            {
                println!("destination {} reached", plan.destination);
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(e) => fail(PROGRAM, &e, EXIT_FAILURE),
    }
}

/// `ferry-hop check serve|access FILE`: validate, load every file, explain.
fn check(what: &Check) -> ExitCode {
    let (result, note) = match what {
        Check::Serve { file } => (
            ServeSource::File(file.clone()).load().map(|c| c.explain()),
            "keys and certificates loaded; SIGHUP reloads this file (listen and udp need a restart)",
        ),
        Check::Access { file } => (
            check_access(file),
            "keys and CA files loaded; SIGHUP reloads this file (listener count, addresses and modes need a restart)",
        ),
    };
    ferry_cli::report_check(PROGRAM, result.map_err(AppError::from), note)
}

fn check_access(file: &Path) -> Result<String, ferry_app_hop::ConfigError> {
    let config = AccessConfig::from_file(file)?;
    config.require_listeners()?;
    Ok(config.explain())
}
