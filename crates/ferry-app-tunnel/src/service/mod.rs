//! The gateway's services (`[[service]]`): a public port per service. UDP services are in
//! [`udp`] (a socket, a flow table, one tunnel per client address). For TCP, each connection
//! forwarded without CONNECT and without a client credential through the service's agent to
//! its destination, with the same [`TunnelOpener`] the client front uses (so with `[cluster]`
//! through the owner gateway when the agent is connected elsewhere).
//!
//! One connection, in order (the first step that refuses closes the connection, logs and
//! counts it):
//!
//! 1. `allow_from`: a source outside it is closed at accept (`refused_source`); before that,
//!    the gateway's memory budget (shared with the client front) is reserved, or the
//!    connection is closed at once. With `accept_proxy` (a load balancer in front), a peer
//!    outside its `trusted` networks is closed before a byte is read (`proxy_untrusted`), a
//!    trusted peer's PROXY header is read within its timeout (`proxy_header_invalid`,
//!    `proxy_header_timeout`), and from then on the header's source address is the client:
//!    `allow_from` is checked against it, and it keys the limits, is logged and is sent on;
//! 2. the service's per-source new-connection rate (`client_rate_limited`), then its
//!    per-source, per-agent and total concurrency (`limited`);
//! 3. the destination against the gateway's current `allow` (`denied_by_gateway`);
//! 4. [`TunnelOpener::open`] within the gateway's `timeouts.open` (failures as the client
//!    front's: `agent_denied` when the agent's allowlist refuses, `agent_not_connected`,
//!    `dial_failed`, `open_timeout`, `overloaded`, `transport_failed`);
//! 5. with `send_proxy`, the PROXY header (client address → the service's bound address, or
//!    the received header's addresses) written to the tunnel (`proxy_header_failed`);
//! 6. raw bytes both ways through `ferry-bridge` with the service's idle timeout (`ok`, with
//!    the relay's end).
//!
//! Each connection ends with one access-log line (target `ferry::access`, message `service`)
//! and `ferry_gateway_service_*` metrics ([`crate::metrics`]).
//!
//! [`Services::prepare`] and [`Services::commit`] apply a reload: new services' listeners are
//! bound first (a failure changes nothing), then removed services' listeners close (their
//! live connections run on until they end or the gateway drains), changed services' settings
//! apply to new connections (the limiter state is kept when their limits are unchanged), and
//! new services start accepting.

mod conn;
pub mod udp;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_app_core::listen::bind_tcp;
use ferry_app_core::serve::Server;
use ferry_app_core::{AppError, ConfigError};
use ferry_bridge::Bridge;
use ferry_tunnel::Protocol;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::config::ServiceConfig;
use crate::front::ClientFront;
use crate::front::limits::Limiters;
use crate::opener::TunnelOpener;

/// The settings a service's connection runs with, from accept to end.
struct Settings {
    config: ServiceConfig,
    limiters: Arc<Limiters>,
    bridge: Bridge,
}

impl Settings {
    fn new(config: ServiceConfig) -> Self {
        let limiters = Arc::new(Limiters::new(
            &config.limits,
            tokio::time::Instant::now().into_std(),
        ));
        Self::with_limiters(config, limiters)
    }

    fn with_limiters(config: ServiceConfig, limiters: Arc<Limiters>) -> Self {
        let bridge = Bridge::new(config.bridge.clone());
        Self {
            config,
            limiters,
            bridge,
        }
    }
}

/// One running service.
struct Entry {
    settings: Arc<ArcSwap<Settings>>,
    /// Stops the service's accept loop (the service was removed).
    until: CancellationToken,
    addr: SocketAddr,
    /// The bound listener or socket, until its loop starts ([`Services::start`]).
    pending: Option<Bound>,
}

/// A service's bound TCP listener or UDP socket.
#[derive(Debug)]
enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Counters of one service (kept across reloads by name), readable without a metrics
/// recorder.
#[derive(Debug, Default)]
pub struct ServiceStats {
    results: Mutex<BTreeMap<&'static str, u64>>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    flows: AtomicUsize,
    datagrams_in: AtomicU64,
    datagrams_out: AtomicU64,
    /// The service's metric handles, resolved once.
    metrics: crate::metrics::ServiceMetrics,
}

impl ServiceStats {
    /// UDP: flows in the table now (the `ferry_gateway_service_udp_flows` gauge).
    #[must_use]
    pub fn udp_flows(&self) -> usize {
        self.flows.load(Ordering::Relaxed)
    }

    /// UDP: datagrams dropped for `reason` (the `reason` label of
    /// `ferry_gateway_service_udp_dropped_total`).
    #[must_use]
    pub fn udp_dropped(&self, reason: &str) -> u64 {
        self.dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// UDP: datagrams received on the service's socket (before any check), and datagrams sent
    /// back to clients.
    #[must_use]
    pub fn udp_datagrams(&self) -> (u64, u64) {
        (
            self.datagrams_in.load(Ordering::Relaxed),
            self.datagrams_out.load(Ordering::Relaxed),
        )
    }

    fn dropped(&self, reason: &'static str) {
        *self
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_default() += 1;
    }

    fn datagram_in(&self, _bytes: usize) {
        self.datagrams_in.fetch_add(1, Ordering::Relaxed);
    }

    fn datagram_out(&self, _bytes: usize) {
        self.datagrams_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections that ended with `result` (the `result` label of
    /// `ferry_gateway_service_connections_total`).
    #[must_use]
    pub fn connections(&self, result: &str) -> u64 {
        self.results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(result)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes relayed client to agent, and agent to client, by finished connections.
    #[must_use]
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes_up.load(Ordering::Relaxed),
            self.bytes_down.load(Ordering::Relaxed),
        )
    }

    fn count(&self, result: &'static str, up: u64, down: u64) {
        *self
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(result)
            .or_default() += 1;
        self.bytes_up.fetch_add(up, Ordering::Relaxed);
        self.bytes_down.fetch_add(down, Ordering::Relaxed);
    }
}

struct State {
    entries: BTreeMap<String, Entry>,
    started: bool,
}

struct Inner<O> {
    front: ClientFront<O>,
    server: Server,
    state: Mutex<State>,
    stats: Mutex<HashMap<String, Arc<ServiceStats>>>,
}

impl<O> Inner<O> {
    fn stats(&self, name: &str) -> Arc<ServiceStats> {
        let mut map = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(name.to_owned()).or_default())
    }
}

/// The gateway's services. Cheap to clone (shared state).
pub struct Services<O> {
    inner: Arc<Inner<O>>,
}

impl<O> Clone for Services<O> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<O: TunnelOpener> std::fmt::Debug for Services<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("addrs", &self.addrs())
            .finish_non_exhaustive()
    }
}

/// Listeners bound by [`Services::prepare`] for a reload, applied by [`Services::commit`]
/// (dropped unapplied, they close).
#[derive(Debug)]
pub struct Staged {
    configs: Vec<ServiceConfig>,
    bound: HashMap<String, (Bound, SocketAddr)>,
}

/// What one [`Services::commit`] did, by service name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServicesReloaded {
    /// Services whose listener started.
    pub added: Vec<String>,
    /// Services whose listener closed (their live connections run on).
    pub removed: Vec<String>,
    /// Services whose settings changed for new connections.
    pub changed: Vec<String>,
}

fn bind(config: &ServiceConfig) -> Result<(Bound, SocketAddr), AppError> {
    let err = |source| AppError::Bind {
        addr: config.bind,
        source,
    };
    if config.protocol == Protocol::Udp {
        let std = std::net::UdpSocket::bind(config.bind).map_err(err)?;
        std.set_nonblocking(true).map_err(err)?;
        let socket = UdpSocket::from_std(std).map_err(err)?;
        let addr = socket.local_addr().map_err(err)?;
        return Ok((Bound::Udp(socket), addr));
    }
    let listener = bind_tcp(config.bind)?;
    let addr = listener.local_addr().map_err(err)?;
    Ok((Bound::Tcp(listener), addr))
}

fn listening(c: &ServiceConfig, addr: SocketAddr) {
    if c.protocol == Protocol::Udp {
        tracing::info!(service = %c.name, addr = %addr, agent = c.agent.as_str(), destination = %c.destination, max_flows = c.max_flows.get(), "gateway service listening (UDP)");
    } else {
        tracing::info!(service = %c.name, addr = %addr, agent = c.agent.as_str(), destination = %c.destination, "gateway service listening (TCP)");
    }
}

impl<O: TunnelOpener> Services<O> {
    /// Binds the listener of every service in `configs` (not accepting until
    /// [`Services::start`]); connections open tunnels with `front`'s opener and reserve from
    /// its memory budget. Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`AppError::Bind`] for a service address that cannot be bound.
    pub fn bind(front: ClientFront<O>, configs: &[ServiceConfig]) -> Result<Self, AppError> {
        let mut entries = BTreeMap::new();
        for c in configs {
            let (listener, addr) = bind(c)?;
            listening(c, addr);
            entries.insert(
                c.name.clone(),
                Entry {
                    settings: Arc::new(ArcSwap::from_pointee(Settings::new(c.clone()))),
                    until: CancellationToken::new(),
                    addr,
                    pending: Some(listener),
                },
            );
        }
        let server = Server::new().memory_budget(front.memory().clone());
        Ok(Self {
            inner: Arc::new(Inner {
                front,
                server,
                state: Mutex::new(State {
                    entries,
                    started: false,
                }),
                stats: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Starts accepting on every bound service (later ones start at their reload).
    pub fn start(&self) {
        let mut state = self.lock();
        state.started = true;
        for (name, e) in &mut state.entries {
            if let Some(l) = e.pending.take() {
                self.spawn(name, l, e);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(&self, name: &str, bound: Bound, entry: &Entry) {
        let listener = match bound {
            Bound::Tcp(l) => l,
            Bound::Udp(socket) => {
                let run = udp::serve(
                    Arc::clone(&self.inner),
                    Arc::clone(&entry.settings),
                    self.inner.stats(name),
                    socket,
                    entry.until.clone(),
                );
                self.inner.server.spawn_connection(run);
                return;
            }
        };
        let settings = Arc::clone(&entry.settings);
        let cost_settings = Arc::clone(&entry.settings);
        let front = self.inner.front.clone();
        let cost = move || {
            let s = cost_settings.load();
            let g = front.generation();
            let header = if s.config.accept_proxy.is_some() {
                ferry_app_core::proxy_protocol::head_bytes()
            } else {
                0
            };
            ferry_app_core::memory::per_connection(
                &s.config.bridge,
                u8::from(g.config.peer_tls_side),
                header,
            )
        };
        let inner = Arc::clone(&self.inner);
        let stats = self.inner.stats(name);
        self.inner.server.accept_reserving_until(
            listener,
            entry.until.clone(),
            cost,
            move |tcp, peer| {
                let s = settings.load_full();
                // Behind a load balancer `allow_from` applies to the header's client, once read.
                if s.config.accept_proxy.is_none() && !s.config.admits(peer.ip()) {
                    conn::refused_source(&s.config, &stats, peer);
                    return None;
                }
                let inner = Arc::clone(&inner);
                let stats = Arc::clone(&stats);
                // Boxed: the connection's future (open, relay) is large, and a task moves its
                // future when spawned and when it completes; a box moves as a pointer.
                Some(Box::pin(async move {
                    conn::handle(&inner, &s, &stats, tcp, peer).await;
                }))
            },
        );
    }

    /// The client front whose opener and memory budget the services use.
    pub(crate) fn front(&self) -> &ClientFront<O> {
        &self.inner.front
    }

    /// The bound address of service `name`.
    #[must_use]
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.lock().entries.get(name).map(|e| e.addr)
    }

    /// The bound address of every service, by name.
    #[must_use]
    pub fn addrs(&self) -> BTreeMap<String, SocketAddr> {
        self.lock()
            .entries
            .iter()
            .map(|(n, e)| (n.clone(), e.addr))
            .collect()
    }

    /// The counters of service `name` (also after it was removed, for its last connections).
    #[must_use]
    pub fn stats(&self, name: &str) -> Arc<ServiceStats> {
        self.inner.stats(name)
    }

    /// Service connections running now (removed services' included), UDP flows and each UDP
    /// service's socket loop included.
    #[must_use]
    pub fn live(&self) -> usize {
        self.inner.server.live()
    }

    /// Binds the listeners a reload to `configs` needs (new services, and services whose
    /// `bind` changed), changing nothing.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `service[i].bind` of the first address that cannot be
    /// bound (the listeners bound so far close).
    pub fn prepare(&self, configs: &[ServiceConfig]) -> Result<Staged, ConfigError> {
        let state = self.lock();
        let mut bound = HashMap::new();
        for (i, c) in configs.iter().enumerate() {
            let same_bind = state.entries.get(&c.name).is_some_and(|e| {
                let old = &e.settings.load().config;
                old.bind == c.bind && old.protocol == c.protocol
            });
            if same_bind {
                continue;
            }
            let b = bind(c).map_err(|e| {
                ConfigError::invalid(
                    format!("service[{i}].bind"),
                    format!(
                        "service {:?}: {}",
                        c.name,
                        ferry_app_core::error::error_line(&e)
                    ),
                )
            })?;
            bound.insert(c.name.clone(), b);
        }
        Ok(Staged {
            configs: configs.to_vec(),
            bound,
        })
    }

    /// Applies a reload prepared by [`Services::prepare`] (see the [module docs](self)).
    pub fn commit(&self, staged: Staged) -> ServicesReloaded {
        let mut report = ServicesReloaded::default();
        let mut state = self.lock();
        let Staged { configs, mut bound } = staged;
        let keep: std::collections::HashSet<&str> = configs
            .iter()
            .filter(|c| !bound.contains_key(&c.name))
            .map(|c| c.name.as_str())
            .collect();
        // Removed, or moved to another address: the old listener closes.
        let gone: Vec<String> = state
            .entries
            .keys()
            .filter(|n| !keep.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(e) = state.entries.remove(&name) {
                e.until.cancel();
                tracing::info!(service = %name, addr = %e.addr, "gateway service listener closed");
                if !configs.iter().any(|c| c.name == name) {
                    report.removed.push(name);
                }
            }
        }
        for c in configs {
            if let Some(e) = state.entries.get(&c.name) {
                let old = e.settings.load_full();
                if old.config != c {
                    let settings = if old.config.limits == c.limits {
                        Settings::with_limiters(c.clone(), Arc::clone(&old.limiters))
                    } else {
                        Settings::new(c.clone())
                    };
                    e.settings.store(Arc::new(settings));
                    report.changed.push(c.name.clone());
                }
                continue;
            }
            let Some((listener, addr)) = bound.remove(&c.name) else {
                continue;
            };
            listening(&c, addr);
            let mut entry = Entry {
                settings: Arc::new(ArcSwap::from_pointee(Settings::new(c.clone()))),
                until: CancellationToken::new(),
                addr,
                pending: Some(listener),
            };
            if state.started
                && let Some(l) = entry.pending.take()
            {
                self.spawn(&c.name, l, &entry);
            }
            report.added.push(c.name.clone());
            state.entries.insert(c.name, entry);
        }
        report
    }

    /// Stops accepting on every service, gives live connections `timeout`, then cuts the rest.
    /// Returns when every connection has ended.
    pub async fn drain(&self, timeout: Duration) {
        // Listeners never started close here.
        for e in self.lock().entries.values_mut() {
            e.pending = None;
        }
        self.inner.server.drain(timeout).await;
    }
}
