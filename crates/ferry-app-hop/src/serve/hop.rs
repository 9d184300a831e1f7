//! [`Hop`]: a hop whose settings a [`Reloader`] can swap while it runs.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ferry_app_core::AppError;
use ferry_app_core::serve::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::ServeReport;
use super::conn::{ServeCtx, bump, handle};
use super::reload::Reloader;
use crate::ServeConfig;

/// The generation in force, and the lock that serialises reloads.
pub(crate) struct HopShared {
    pub(crate) current: ArcSwap<ServeCtx>,
    pub(crate) reloading: Mutex<()>,
    /// The memory budget of every connection (its limit follows reloads).
    pub(crate) memory: ferry_app_core::memory::MemoryBudget,
}

/// A hop ready to run: [`Hop::reloader`] gives a handle that swaps in new settings for new
/// connections while [`Hop::run`] serves (live connections keep theirs).
pub struct Hop {
    shared: Arc<HopShared>,
}

impl std::fmt::Debug for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hop")
            .field("listen", &self.shared.current.load().config.listen)
            .finish_non_exhaustive()
    }
}

impl Hop {
    /// A hop with `config` (validated already: [`ServeConfig::from_file`] and the flags
    /// constructors load every key and certificate).
    #[must_use]
    pub fn new(config: ServeConfig) -> Self {
        Self {
            shared: Arc::new(HopShared {
                memory: ferry_app_core::memory::MemoryBudget::new(
                    "ferry_hop",
                    config.memory_budget,
                ),
                current: ArcSwap::from_pointee(ServeCtx::first(config)),
                reloading: Mutex::new(()),
            }),
        }
    }

    /// The settings in force (they change with every applied reload).
    #[must_use]
    pub fn config(&self) -> ServeConfig {
        self.shared.current.load().config.clone()
    }

    /// A handle that reloads this hop's settings; cheap to clone, usable from any thread.
    #[must_use]
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs the hop on `listener` (and `udp`, when given; bind both with
    /// [`bind`](super::bind)) until `shutdown` completes, then drains: accepting stops at once
    /// and live connections get the [`ServeConfig::drain_timeout`] in force.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for start-up failures. Errors of single
    /// connections never end the run; they are logged (target `ferry::access`) and counted.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting but leaves spawned connections running; complete
    /// `shutdown` instead for a graceful drain.
    pub async fn run(
        self,
        listener: TcpListener,
        udp: Option<UdpSocket>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ServeReport, AppError> {
        let first = self.shared.current.load_full();
        if first.config.allow.is_empty() {
            tracing::warn!(
                "no allowlist: this hop denies every next address (give --allow or `allow`)"
            );
        }
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(
                mode = "serve",
                %addr,
                udp = udp.is_some(),
                tls = first.config.tls.is_some(),
                next_hop_tls = first.config.next_hop_tls.is_some(),
                allow_rules = first.config.allow.len(),
                "listening"
            );
        }
        let server = Server::with_tokens(CancellationToken::new(), first.cut.clone())
            .memory_budget(self.shared.memory.clone());
        let shared = Arc::clone(&self.shared);
        let settings = Arc::clone(&self.shared);
        let cost = move || settings.current.load().config.memory_reservation();
        server.accept_reserving(listener, cost, move |stream, peer| {
            // The generation in force now; this connection keeps it to its end.
            let ctx = shared.current.load_full();
            bump(&ctx.stats.accepted);
            Some(async move { handle(stream, peer, &ctx).await })
        });
        if let Some(udp) = udp {
            server.spawn_loop(super::udp::udp_loop(
                Arc::new(udp),
                Arc::clone(&self.shared),
                server.stopping().clone(),
            ));
        }
        shutdown.await;
        let last = self.shared.current.load_full();
        server.drain(last.config.drain_timeout).await;
        let s = &last.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let report = ServeReport {
            accepted: get(&s.accepted),
            relayed: get(&s.relayed),
            rejected: get(&s.rejected),
            failed: get(&s.failed),
            bytes_up: get(&s.bytes_up),
            bytes_down: get(&s.bytes_down),
            udp_forwarded: get(&s.udp_forwarded),
            udp_dropped: get(&s.udp_dropped),
            udp_refused: get(&s.udp_refused),
            memory_refused: self.shared.memory.refused(),
        };
        tracing::info!(?report, "stopped");
        Ok(report)
    }
}
