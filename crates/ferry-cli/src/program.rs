//! What every program does around its own work, once: the shutdown signal, the SIGHUP handler
//! (registered before anything is bound, calling the program's reloader once it exists), the
//! admin endpoint, and `/healthz` turning `503 draining` at shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use ferry_app_core::admin::Admin;

use crate::{EXIT_FAILURE, fail, fail_app};

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running program's shared parts (see the module docs). `R` is its reloader.
pub struct ProgramRun<R> {
    program: &'static str,
    signal: Option<Signal>,
    admin: Option<Admin>,
    reloader: Arc<OnceLock<R>>,
}

impl<R: Send + Sync + 'static> ProgramRun<R> {
    /// Registers SIGTERM/SIGINT and SIGHUP now, and starts the admin endpoint on `metrics`
    /// (then calls `describe`, which gives the program's metrics their HELP text). Every SIGHUP
    /// calls `reload` with the reloader passed to [`ProgramRun::ready`] (on a blocking thread;
    /// it logs and counts its outcome); one that comes before is logged and ignored. Must be
    /// called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// The exit code, after printing why: a signal handler that cannot be registered (1), an
    /// admin address that cannot be bound (1).
    pub fn start(
        program: &'static str,
        metrics: Option<SocketAddr>,
        describe: fn(),
        reload: impl Fn(&R) + Send + Sync + 'static,
    ) -> Result<Self, ExitCode> {
        let signal = crate::shutdown_signal().map_err(|e| fail(program, &e, EXIT_FAILURE))?;
        let reloader: Arc<OnceLock<R>> = Arc::default();
        let slot = Arc::clone(&reloader);
        crate::reload_on_sighup(move || match slot.get() {
            Some(r) => reload(r),
            None => tracing::warn!("SIGHUP ignored: the program is still starting"),
        })
        .map_err(|e| fail(program, &e, EXIT_FAILURE))?;
        let admin = metrics
            .map(|addr| ferry_app_core::admin::start(addr, program))
            .transpose()
            .map_err(|e| fail_app(program, &e))?;
        if admin.is_some() {
            describe();
        }
        Ok(Self {
            program,
            signal: Some(Box::pin(signal)),
            admin,
            reloader,
        })
    }

    /// Hands SIGHUP the program's reloader (the first one given stays).
    pub fn ready(&self, reloader: R) {
        let _ = self.reloader.set(reloader);
    }

    /// The admin endpoint's address, when it runs.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(Admin::addr)
    }

    /// The shutdown future to pass to the program: completes on SIGTERM or SIGINT, after
    /// turning `/healthz` to `503 draining`. The second call gets a future that never
    /// completes.
    pub fn shutdown(&mut self) -> impl Future<Output = ()> + Send + 'static {
        let signal = self.signal.take();
        let health = self.admin.as_ref().map(|a| a.health().clone());
        async move {
            match signal {
                Some(s) => s.await,
                None => std::future::pending().await,
            }
            if let Some(h) = health {
                h.set_draining();
            }
        }
    }

    /// Stops the admin endpoint and maps the program's result to its exit code.
    pub async fn finish(self, result: Result<(), ferry_app_core::AppError>) -> ExitCode {
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail_app(self.program, &e),
        }
    }
}

impl<R> std::fmt::Debug for ProgramRun<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramRun")
            .field("program", &self.program)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}
