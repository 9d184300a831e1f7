//! Plumbing shared by Ferry's binaries: logging set-up, the open-files limit, the shutdown signal
//! and error reporting. Behaviour lives in the `ferry-app-*` crates; the binaries stay thin.

pub mod args;
pub mod certificate;
pub mod credentials;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
mod program;

pub use program::ProgramRun;

use std::error::Error;
use std::io::Write as _;
use std::process::ExitCode;

/// Exit code for usage and configuration errors (`EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
/// Exit code for failures at run time.
pub const EXIT_FAILURE: u8 = 1;

pub use ferry_app_core::log::LogFormat;

/// The logging flags every program takes (`#[command(flatten)]`).
#[derive(clap::Args, Clone, Debug)]
pub struct LogArgs {
    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        global = true,
        env = "FERRY_LOG"
    )]
    pub log: String,
    /// Log line format: text (the default) or json (one object per line). Overrides
    /// `log_format` in the config file.
    #[arg(long, value_name = "FORMAT", global = true, env = "FERRY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// Installs a `tracing` subscriber writing to stderr in the format of `--log-format`, else of
/// `log_format` in `config` (the TOML file the program will load), else text. `RUST_LOG`
/// overrides `args.log`.
pub fn init_logging(args: &LogArgs, config: Option<&std::path::Path>) {
    let format = args
        .log_format
        .or_else(|| config.and_then(ferry_app_core::log::format_in_file))
        .unwrap_or_default();
    init_tracing_as(&args.log, format);
}

fn init_tracing_as(default_level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // A log line that cannot be written (stderr closed: a log shipper or terminal went away)
    // is dropped. tracing-subscriber's default reports the failure with `eprintln!`, which
    // panics on the same closed stderr and would end the program.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_ansi(false)
            .try_init(),
    };
}

/// Registers the SIGHUP handler now (so a SIGHUP never hits the default action, which ends the
/// process) and calls `reload` on a blocking thread for every SIGHUP, one at a time (reloads
/// read files). `reload` logs and counts its own outcome (see
/// `ferry_app_core::reload::finish`). Must be called inside a tokio runtime.
///
/// # Errors
///
/// When the handler cannot be registered.
pub fn reload_on_sighup<F>(reload: F) -> std::io::Result<()>
where
    F: Fn() + Send + Sync + 'static,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        let reload = std::sync::Arc::new(reload);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading");
                let reload = std::sync::Arc::clone(&reload);
                let _ = tokio::task::spawn_blocking(move || reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    drop(reload);
    Ok(())
}

/// Raises the soft open-files limit to the hard limit, so that thousands of proxied connections
/// (two descriptors each, plus pipes) fit. Returns the new soft limit, if it could be read.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "could not raise the open-files limit");
            return getrlimit(Resource::Nofile).current;
        }
    }
    limit.current
}

/// Registers SIGTERM and SIGINT (ctrl-c) handlers now and returns a future that completes when
/// either arrives. Registering before anything is bound means a signal can never hit the default
/// action (immediate termination) while the program starts.
///
/// # Errors
///
/// When a handler cannot be registered. Must be called inside a tokio runtime.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

pub use ferry_app_core::error::error_line;

/// Prints `program: error chain` on stderr and returns `code`.
pub fn fail(program: &str, error: &dyn Error, code: u8) -> ExitCode {
    // Not `eprintln!`: it panics when stderr is closed, and the exit code must still be `code`.
    let _ = writeln!(std::io::stderr(), "{program}: {}", error_line(error));
    ExitCode::from(code)
}

/// Parses the command line into `A`.
///
/// # Errors
///
/// When the program should exit instead of running: after printing clap's message, the exit
/// code [`EXIT_USAGE`] for a usage error, or success for `--help` and `--version`.
pub fn parse_args<A: clap::Parser>() -> Result<A, ExitCode> {
    A::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// The binaries' tokio runtime: multi-threaded (one worker per core), with I/O and timers.
///
/// # Errors
///
/// When the runtime cannot be built: reported on stderr as `program: reason`, with the exit
/// code [`EXIT_FAILURE`].
pub fn runtime(program: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(program, &e, EXIT_FAILURE))
}

/// The runtime of a program whose connections run on [worker
/// threads](ferry_app_core::workers): single-threaded, with I/O and timers, for what is left
/// (signals, reloads, the admin endpoint, health checks).
///
/// # Errors
///
/// As [`runtime`].
pub fn control_runtime(program: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(program, &e, EXIT_FAILURE))
}

/// Ends `PROGRAM check FILE` the same way in every program: on success prints `explained`
/// (the config with every default filled in), then `reload_note` and `config ok`, and exits 0;
/// on failure prints the error chain on one line (naming the key or file at fault) and exits
/// [`EXIT_USAGE`].
pub fn report_check(
    program: &str,
    result: Result<String, ferry_app_core::AppError>,
    reload_note: &str,
) -> ExitCode {
    match result {
        Ok(explained) => {
            print!("{explained}");
            if !explained.is_empty() && !explained.ends_with('\n') {
                println!();
            }
            println!("{reload_note}");
            println!("config ok");
            ExitCode::SUCCESS
        }
        Err(e) => fail(program, &e, EXIT_USAGE),
    }
}

/// Ends `PROGRAM explain --config FILE HOST:PORT` the same way in every program: prints the
/// decision of `allow` for `destination` (see `ferry_app_core::explain`) and exits 0 when
/// allowed, 1 when denied, [`EXIT_USAGE`] for a destination that is not `HOST:PORT`.
pub fn report_explain(
    program: &str,
    allow: &ferry_allow::Allowlist,
    destination: &str,
    check: ferry_app_core::explain::Check,
) -> ExitCode {
    use ferry_app_core::explain::{explain, system_resolve};
    match explain(allow, destination, check, system_resolve) {
        Ok(v) => {
            println!("{}", v.text);
            if v.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
        Err(e) => fail(program, &e, EXIT_USAGE),
    }
}

/// Reports a program error as [`fail`] does, with the exit code its kind calls for:
/// [`EXIT_USAGE`] for configuration errors (a file or key that cannot be used), otherwise
/// [`EXIT_FAILURE`].
pub fn fail_app(program: &str, error: &ferry_app_core::AppError) -> ExitCode {
    let code = match error {
        ferry_app_core::AppError::Config(_) => EXIT_USAGE,
        _ => EXIT_FAILURE,
    };
    fail(program, error, code)
}
