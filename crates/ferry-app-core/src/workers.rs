//! Connection workers: threads that each run a single-threaded tokio runtime, the way nginx
//! runs one event loop per worker process.
//!
//! A [`Server`](crate::serve::Server) given [`Workers`] runs one accept loop per worker on
//! every listener (the workers share the listening socket), and each accepted connection lives
//! on the worker that accepted it: its socket, timers and task stay on one thread, so a wake-up
//! never crosses threads and the runtime does no work stealing. Measured with callgrind
//! (`docs/benchmarks.md`), this costs about a fifth fewer instructions per small message and a
//! tenth fewer per connection than one multi-threaded runtime.
//!
//! What does not belong to a connection (signals, reloads, the admin endpoint, health checks)
//! stays on the runtime that built the workers.

use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The environment variable that sets the default worker count, as tokio's own multi-thread
/// runtime reads it.
pub const WORKERS_ENV: &str = "TOKIO_WORKER_THREADS";

/// How many workers to run when the config does not say: `TOKIO_WORKER_THREADS` when it is set
/// to a positive number, otherwise the number of cores available to this process (at least 1).
#[must_use]
pub fn default_count() -> NonZeroUsize {
    std::env::var(WORKERS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<NonZeroUsize>().ok())
        .or_else(|| std::thread::available_parallelism().ok())
        .unwrap_or(NonZeroUsize::MIN)
}

/// A set of worker threads, each running a single-threaded tokio runtime (I/O and timers on).
///
/// Cheap to clone: clones share the threads. The threads stop when the last clone is dropped;
/// tasks still on them are dropped with their runtime, so a program drains its connections
/// (as [`Server::drain`](crate::serve::Server::drain) does) before dropping its workers.
#[derive(Clone, Debug)]
pub struct Workers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    handles: Vec<Handle>,
    /// Each thread waits for its sender to be dropped, then drops its runtime and ends.
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` worker threads named `{name}-worker-{i}`. They log to the global `tracing`
    /// subscriber, or, when none is set, to the one in force where this is called.
    ///
    /// # Errors
    ///
    /// When a runtime cannot be built or a thread cannot be started (the threads started
    /// before stop again).
    pub fn start(name: &str, count: NonZeroUsize) -> io::Result<Self> {
        // Only a scoped dispatcher needs carrying over: every thread sees the global one, and
        // setting a scoped one anywhere puts every log call of the process on a slower path.
        let dispatch = (!tracing::dispatcher::has_been_set())
            .then(|| tracing::dispatcher::get_default(Clone::clone))
            .filter(|d| !d.is::<tracing::subscriber::NoSubscriber>());
        let mut handles = Vec::with_capacity(count.get());
        let mut stops = Vec::with_capacity(count.get());
        let mut threads = Vec::with_capacity(count.get());
        for i in 0..count.get() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let dispatch = dispatch.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-worker-{i}"))
                .spawn(move || {
                    let _log = dispatch.as_ref().map(tracing::dispatcher::set_default);
                    // Ends when the sender is dropped. Tasks left on the runtime are dropped
                    // here, on its own thread; blocking work it started is not waited for.
                    let _ = runtime.block_on(stopped);
                    runtime.shutdown_background();
                })?;
            stops.push(stop);
            threads.push(thread);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                handles,
                stops,
                threads,
            }),
        })
    }

    /// The number of workers.
    #[must_use]
    pub fn count(&self) -> usize {
        self.inner.handles.len()
    }

    /// The runtime handles of the workers, in order.
    #[must_use]
    pub fn handles(&self) -> &[Handle] {
        &self.inner.handles
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stops.clear();
        let current = std::thread::current().id();
        for t in self.threads.drain(..) {
            // A worker's last task may hold the last clone: it cannot wait for itself.
            if t.thread().id() != current {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tasks_run_on_their_workers_threads_and_the_threads_end_on_drop() {
        let workers = Workers::start("t", NonZeroUsize::new(2).unwrap()).unwrap();
        assert_eq!(workers.count(), 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let names: Vec<String> = rt.block_on(async {
            let mut names = Vec::new();
            for handle in workers.handles() {
                let name = handle
                    .spawn(async { std::thread::current().name().unwrap().to_owned() })
                    .await
                    .unwrap();
                names.push(name);
            }
            names
        });
        assert_eq!(names, ["t-worker-0", "t-worker-1"]);
        let handle = workers.handles()[1].clone();
        drop(workers);
        // The runtimes are gone: a task spawned on one now is cancelled at once.
        let late = rt.block_on(handle.spawn(async { 1 }));
        assert!(late.unwrap_err().is_cancelled());
    }

    #[test]
    fn the_default_count_is_positive() {
        assert!(default_count().get() >= 1);
    }
}
