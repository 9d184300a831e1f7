//! [`Access`]: access listeners whose settings a [`Reloader`] can swap while they run.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ferry_app_core::AppError;
use ferry_app_core::serve::Server;

use super::reload::Reloader;
use super::{AccessCtx, AccessReport, AccessSocket, bump, mode_name};
use crate::config::{AccessConfig, AccessMode};

/// The generation in force, and the lock that serialises reloads.
pub(crate) struct AccessShared {
    pub(crate) current: ArcSwap<AccessCtx>,
    pub(crate) reloading: Mutex<()>,
    /// The memory budget of every TCP connection (its limit follows reloads).
    pub(crate) memory: ferry_app_core::memory::MemoryBudget,
}

/// Access listeners ready to run: [`Access::reloader`] gives a handle that swaps in new
/// chains, routes, credentials and keys for new connections while [`Access::run`] serves
/// (live connections and SOCKS5 UDP associations keep theirs).
pub struct Access {
    pub(crate) shared: Arc<AccessShared>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("listeners", &self.shared.current.load().listeners.len())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Access listeners with `config` (validated already by [`AccessConfig::from_file`]).
    #[must_use]
    pub fn new(config: AccessConfig) -> Self {
        Self {
            shared: Arc::new(AccessShared {
                memory: ferry_app_core::memory::MemoryBudget::new(
                    "ferry_hop",
                    config.memory_budget,
                ),
                current: ArcSwap::from_pointee(AccessCtx::first(config)),
                reloading: Mutex::new(()),
            }),
        }
    }

    /// The settings in force (they change with every applied reload).
    #[must_use]
    pub fn config(&self) -> AccessConfig {
        self.shared.current.load().config.clone()
    }

    /// A handle that reloads the settings; cheap to clone, usable from any thread.
    #[must_use]
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs the listeners on `sockets` (one per [`AccessConfig::listeners`] entry, same order,
    /// as from [`bind`](super::bind)) until `shutdown` completes, then drains: accepting stops
    /// at once, UDP flows end, and live TCP connections get the
    /// [`AccessConfig::drain_timeout`] in force.
    ///
    /// # Errors
    ///
    /// [`AppError::ListenerCount`] when the number of sockets does not match the config,
    /// [`AppError::Config`] when a UDP socket is given for a TCP listener.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting but leaves spawned connections running; complete
    /// `shutdown` instead for a graceful drain.
    pub async fn run(
        self,
        sockets: Vec<AccessSocket>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<AccessReport, AppError> {
        let first = self.shared.current.load_full();
        if sockets.len() != first.listeners.len() {
            return Err(AppError::ListenerCount {
                given: sockets.len(),
                configured: first.listeners.len(),
            });
        }
        // Listener count, addresses and modes never change while running (a reload that
        // changes them is refused), so the first generation's are the ones in force.
        let server = Server::with_tokens(first.stop.clone(), first.cut.clone())
            .max_connections(first.config.max_connections)
            .memory_budget(self.shared.memory.clone());
        for (index, socket) in sockets.into_iter().enumerate() {
            let Some(rt) = first.listeners.get(index) else {
                break;
            };
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(mode = "access", listener = %rt.name, kind = mode_name(&rt.mode), %addr, "listening");
            }
            match (socket, &rt.mode) {
                (AccessSocket::Udp(s), AccessMode::Udp { destination }) => {
                    server.spawn_loop(super::udp::udp_listener(
                        s,
                        destination.clone(),
                        Arc::clone(&self.shared),
                        index,
                    ));
                }
                (AccessSocket::Tcp(l), _) => {
                    let shared = Arc::clone(&self.shared);
                    let settings = Arc::clone(&self.shared);
                    let cost = move || {
                        let ctx = settings.current.load();
                        ctx.config
                            .listeners
                            .get(index)
                            .map_or(0, |l| ctx.config.memory_reservation(l))
                    };
                    server.accept_reserving(l, cost, move |stream, peer| {
                        // The generation in force now; this connection keeps it to its end.
                        let ctx = shared.current.load_full();
                        let l = ctx.listeners.get(index).cloned()?;
                        bump(&ctx.stats.accepted);
                        Some(super::conn::handle(stream, peer, ctx, l))
                    });
                }
                (AccessSocket::Udp(_), _) => {
                    return Err(AppError::Config(ferry_app_core::ConfigError::invalid(
                        format!("listener {}", rt.name),
                        "a UDP socket was passed for a TCP listener",
                    )));
                }
            }
        }
        shutdown.await;
        let last = self.shared.current.load_full();
        server.drain(last.config.drain_timeout).await;
        let s = &last.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let report = AccessReport {
            accepted: get(&s.accepted),
            relayed: get(&s.relayed),
            blocked: get(&s.blocked),
            failed: get(&s.failed),
            bytes_up: get(&s.bytes_up),
            bytes_down: get(&s.bytes_down),
            udp_datagrams: get(&s.udp_datagrams),
            failovers: get(&s.failovers),
            memory_refused: self.shared.memory.refused(),
        };
        tracing::info!(?report, "stopped");
        Ok(report)
    }
}
