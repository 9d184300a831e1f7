//! The `ferry-gateway` program: the QUIC endpoint and the TCP-transport listener for agents
//! (`ferry-tunnel`), the client
//! front (HTTP CONNECT), and with `[cluster]` the peer listener, the registry keeper and
//! routing to other gateways; plus the optional admin endpoint.
//!
//! [`bind`] loads every file and binds every socket (port 0 works; the bound addresses are
//! readable), so nothing is half-started when a file is bad; [`BoundGateway::run`] serves
//! until shutdown, then drains. [`BoundGateway::reloader`] gives the [`Reloader`] that applies
//! a new config while it runs (SIGHUP in `ferry-gateway`); [`check`] loads everything a config
//! names without binding (`ferry-gateway check`).

mod check;
mod keeper;
pub mod load;
mod loaded;
mod opener;
mod reload;
mod restart_keys;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use ferry_app_core::admin::Admin;
use ferry_app_core::error::error_line;
use ferry_app_core::listen::bind_tcp;
use ferry_app_core::{AppError, ConfigError};
use ferry_registry::{InstanceId, Keeper, Owner};
use ferry_tunnel::quinn::Endpoint;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use self::check::check;
pub use self::opener::GatewayOpener;
pub use self::reload::Reloader;
use crate::clock::{SharedClock, SystemClock};
use crate::cluster::{Forwarder, PeerFront, RoutedOpener};
use crate::config::{AgentTcpListen, ClusterConfig, GatewayConfig};
use crate::front::ClientFront;
use crate::local::LocalOpener;
use crate::service::Services;
use crate::verify::AgentAuth;

/// A gateway with everything loaded and bound, not serving yet.
pub struct BoundGateway {
    tunnel: ferry_tunnel::Gateway,
    endpoint: Endpoint,
    agent_addr: SocketAddr,
    /// The TCP transport's listener (`agent_listen_tcp`), unless turned off.
    agent_tcp: Option<ferry_tunnel::TcpEndpoint>,
    agent_tcp_addr: Option<SocketAddr>,
    front: ClientFront<GatewayOpener>,
    client: TcpListener,
    client_addr: SocketAddr,
    peer: Option<(PeerFront<LocalOpener>, TcpListener, SocketAddr)>,
    services: Services<GatewayOpener>,
    admin: Option<Admin>,
    keeper: Option<keeper::KeeperTasks>,
    reloader: Reloader,
    stopping: CancellationToken,
}

impl std::fmt::Debug for BoundGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundGateway")
            .field("agent_addr", &self.agent_addr)
            .field("agent_tcp_addr", &self.agent_tcp_addr)
            .field("client_addr", &self.client_addr)
            .field("peer_addr", &self.peer_addr())
            .field("metrics_addr", &self.metrics_addr())
            .finish_non_exhaustive()
    }
}

/// Loads the certificates, keys and token files of `config` and binds its sockets, with the
/// system clock for credential expiry. Must be called inside a tokio runtime.
///
/// # Errors
///
/// [`AppError::Config`] naming the file or key that cannot be used; [`AppError::Bind`] for
/// an address that cannot be bound.
pub fn bind(config: &GatewayConfig) -> Result<BoundGateway, AppError> {
    bind_with_clock(config, Arc::new(SystemClock))
}

/// [`bind`] with `clock` for credential expiry (tests).
///
/// # Errors
///
/// As for [`bind`].
pub fn bind_with_clock(
    config: &GatewayConfig,
    clock: SharedClock,
) -> Result<BoundGateway, AppError> {
    let verifiers = loaded::Verifiers::new();
    let mut loaded = loaded::Loaded::load(config, &verifiers)?;
    loaded.apply_certificates(&verifiers);
    let loaded::Loaded {
        auth,
        agent_tls,
        client_tls,
        ..
    } = loaded;
    // Certificates clients would refuse are loaded all the same (a renewal may be on its
    // way), but said at start, with the fix.
    let now = clock.unix_secs();
    load::warn_if_refused("tls", &config.agent_tls, "agents", now);
    if let Some(spec) = &config.client_tls {
        load::warn_if_refused("client_tls", spec, "clients", now);
    }
    if let Some(c) = &config.cluster
        && let Some(spec) = &c.peer_tls
    {
        load::warn_if_refused("cluster.peer_tls", spec, "peer gateways", now);
    }
    let cluster = config
        .cluster
        .as_ref()
        .map(|c| Cluster::load(c, config))
        .transpose()?;

    let mut tunnel_config = ferry_tunnel::GatewayConfig::default();
    tunnel_config.open_timeout = config.front.open_timeout;
    tunnel_config.drain_timeout = config.front.drain_timeout;
    tunnel_config.max_tunnels_per_agent = config.front.limits.max_tunnels_per_agent;
    tunnel_config.max_connections_per_agent = config.front.limits.max_connections_per_agent;
    tunnel_config.quic = config.agent_quic;
    let tunnel_clock = Arc::clone(&clock);
    let agent_auth = AgentAuth::with_mode(
        auth.clone(),
        config.auth.agent_mode,
        verifiers.agents.clone(),
    );
    let mut builder = ferry_tunnel::Gateway::builder(tunnel_config, agent_auth.clone())
        .clock(move || tunnel_clock.unix_secs());
    let mut keeper = None;
    if let Some(c) = &cluster {
        let (tasks, events) = keeper::start(Keeper::new(Arc::clone(&c.registry), c.me, c.lease));
        builder = builder.events(events);
        keeper = Some(tasks);
    }
    let tunnel = builder.build();
    // With port 0 on both (tests), the kernel picks QUIC's UDP port, which another program may
    // already hold on TCP: pick again, a few times, rather than fail.
    let retry_same_port = config.agent_listen.port() == 0
        && matches!(config.agent_listen_tcp, AgentTcpListen::SameAsQuic);
    let mut attempts = 0;
    let (endpoint, agent_addr, agent_tcp) = loop {
        attempts += 1;
        let endpoint = tunnel
            .bind(config.agent_listen, (*agent_tls.rustls_config()).clone())
            .map_err(|e| match e {
                ferry_tunnel::GatewayError::Bind(source) => AppError::Bind {
                    addr: config.agent_listen,
                    source,
                },
                other => ConfigError::invalid("tls", error_line(&other)).into(),
            })?;
        let agent_addr = endpoint.local_addr().map_err(|source| AppError::Bind {
            addr: config.agent_listen,
            source,
        })?;
        // The TCP transport: port 0 on agent_listen's own address means the port QUIC got, so
        // that agents find both transports on one port.
        let agent_tcp = match config.agent_listen_tcp {
            AgentTcpListen::Off => None,
            asked => {
                let at = match asked {
                    AgentTcpListen::Addr(a) => a,
                    _ => agent_addr,
                };
                let listener = match bind_tcp(at) {
                    Ok(listener) => listener,
                    Err(_) if retry_same_port && attempts < SAME_PORT_ATTEMPTS => continue,
                    Err(e) => return Err(e),
                };
                let addr = local_addr(&listener, at)?;
                let endpoint =
                    ferry_tunnel::TcpEndpoint::new(listener, (*agent_tls.rustls_config()).clone());
                Some((endpoint, addr))
            }
        };
        break (endpoint, agent_addr, agent_tcp);
    };
    let local = LocalOpener::new(tunnel.clone());

    let client = bind_tcp(config.listen)?;
    let client_addr = local_addr(&client, config.listen)?;
    let (opener, peer) = match cluster {
        None => (GatewayOpener::Local(local), None),
        Some(c) => {
            let (listener, addr) = (c.peer_listener, c.peer_addr);
            let peer = PeerFront::new(
                c.peer_config,
                c.credential.clone(),
                local.clone(),
                c.peer_tls,
            );
            let routed = RoutedOpener::new(local, c.registry, c.me, c.forwarder)
                .lookup_timeout(c.lookup_timeout);
            (
                GatewayOpener::Routed(Box::new(routed)),
                Some((peer, listener, addr)),
            )
        }
    };
    let front = ClientFront::new(config.front.clone(), auth, opener, client_tls, clock);
    let services = Services::bind(front.clone(), &config.services)?;
    let admin = config
        .metrics
        .map(|addr| ferry_app_core::admin::start(addr, "ferry-gateway"))
        .transpose()?;
    if admin.is_some() {
        crate::metrics::describe_metrics();
        ferry_tunnel::metrics::describe_gateway_metrics();
    }
    let stopping = CancellationToken::new();
    let reloader = Reloader::new(
        config.clone(),
        (agent_auth, verifiers),
        services.clone(),
        tunnel.clone(),
        reload::AgentEndpoints {
            quic: endpoint.clone(),
            tcp: agent_tcp.as_ref().map(|(e, _)| e.clone()),
        },
        peer.as_ref().map(|(p, _, _)| p.clone()),
        stopping.clone(),
    );

    tracing::info!(addr = %agent_addr, agent_auth = %config.auth.agent_mode, "gateway agent endpoint listening (QUIC)");
    if let Some((_, addr)) = &agent_tcp {
        tracing::info!(addr = %addr, agent_auth = %config.auth.agent_mode, "gateway agent endpoint listening (TCP transport: TLS + HTTP/2)");
    }
    tracing::info!(
        addr = %client_addr,
        tls = config.client_tls.is_some(),
        client_certificates = config.client_certs.as_ref().map_or("off", |c| if c.required { "required" } else { "optional" }),
        "gateway client front listening (HTTP CONNECT)"
    );
    if let Some((_, _, addr)) = &peer {
        tracing::info!(addr = %addr, "gateway peer listener listening");
    }
    Ok(BoundGateway {
        tunnel,
        endpoint,
        agent_addr,
        agent_tcp_addr: agent_tcp.as_ref().map(|(_, a)| *a),
        agent_tcp: agent_tcp.map(|(e, _)| e),
        front,
        client,
        client_addr,
        peer,
        services,
        admin,
        keeper,
        reloader,
        stopping,
    })
}

/// How many UDP ports `agent_listen` port 0 may try before one is also free on TCP.
const SAME_PORT_ATTEMPTS: usize = 16;

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, AppError> {
    listener.local_addr().map_err(|source| AppError::Bind {
        addr: asked,
        source,
    })
}

/// What `[cluster]` needs, loaded.
struct Cluster {
    registry: Arc<dyn ferry_registry::Registry>,
    me: Owner,
    lease: ferry_registry::Lease,
    credential: crate::cluster::GatewayCredential,
    forwarder: Forwarder,
    peer_tls: ferry_tls::TlsAcceptor,
    peer_listener: TcpListener,
    peer_addr: SocketAddr,
    peer_config: crate::cluster::PeerConfig,
    lookup_timeout: std::time::Duration,
}

impl Cluster {
    fn load(c: &ClusterConfig, config: &GatewayConfig) -> Result<Self, AppError> {
        let credential = c.load_credential()?;
        let peer_tls = load::acceptor(
            "cluster.peer_tls",
            c.peer_tls.as_ref().unwrap_or(&config.agent_tls),
            false,
            config.key_exchange,
        )?;
        let connector = load::connector("cluster.peer_ca", &c.peer_ca, config.key_exchange)?;
        let instance = InstanceId::random().map_err(|e| {
            ConfigError::invalid("cluster", format!("cannot create an instance id: {e}"))
        })?;
        // Bound here, before anything uses `me`: an advertised port 0 means the bound port.
        let peer_listener = bind_tcp(c.peer_listen)?;
        let peer_addr = local_addr(&peer_listener, c.peer_listen)?;
        let advertise = if c.advertise.port() == 0 {
            SocketAddr::new(c.advertise.ip(), peer_addr.port())
        } else {
            c.advertise
        };
        let me = Owner::new(instance, advertise);
        let forwarder = Forwarder::new(connector, credential.clone(), c.forward.clone(), instance);
        Ok(Self {
            registry: load::registry(c)?,
            me,
            lease: c.lease,
            credential,
            forwarder,
            peer_tls,
            peer_listener,
            peer_addr,
            peer_config: c.peer_config(&config.front),
            lookup_timeout: c.lookup_timeout,
        })
    }
}

impl BoundGateway {
    /// The QUIC address agents connect to.
    #[must_use]
    pub fn agent_addr(&self) -> SocketAddr {
        self.agent_addr
    }

    /// The TCP address agents on the TCP transport connect to (`agent_listen_tcp`), unless
    /// it is off.
    #[must_use]
    pub fn agent_tcp_addr(&self) -> Option<SocketAddr> {
        self.agent_tcp_addr
    }

    /// The client front's address.
    #[must_use]
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The peer listener's address (`[cluster]` only).
    #[must_use]
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.as_ref().map(|(_, _, a)| *a)
    }

    /// The TCP services (`[[service]]`): their bound addresses and counters.
    #[must_use]
    pub fn services(&self) -> &Services<GatewayOpener> {
        &self.services
    }

    /// The admin endpoint's address (`metrics` only).
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(Admin::addr)
    }

    /// The reloader of this gateway (cheap to clone; use it while [`BoundGateway::run`]
    /// serves, e.g. on SIGHUP).
    #[must_use]
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The tunnel gateway (connected agents, open tunnels).
    #[must_use]
    pub fn tunnel(&self) -> &ferry_tunnel::Gateway {
        &self.tunnel
    }

    /// The client front (its counters).
    #[must_use]
    pub fn front(&self) -> &ClientFront<GatewayOpener> {
        &self.front
    }

    /// Serves until `shutdown` completes, then drains: `/healthz` turns 503, the listeners
    /// close, live tunnels get the drain timeout (`timeouts.drain`), agents are disconnected,
    /// registry records are released. Returns when everything has stopped.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        let tunnel = self.tunnel.clone();
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            tunnel.run(self.endpoint, s.cancelled_owned()).await;
        }));
        if let Some(endpoint) = self.agent_tcp {
            let tunnel = self.tunnel.clone();
            let s = stop.clone();
            tasks.push(tokio::spawn(async move {
                tunnel.run_tcp(endpoint, s.cancelled_owned()).await;
            }));
        }
        let front = self.front.clone();
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            front.serve(self.client, s.cancelled_owned()).await;
        }));
        self.services.start();
        let services = self.services.clone();
        let drain = self.front.config().drain_timeout;
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            s.cancelled().await;
            services.drain(drain).await;
        }));
        if let Some((peer, listener, _)) = self.peer {
            let s = stop.clone();
            tasks.push(tokio::spawn(async move {
                peer.serve(listener, s.cancelled_owned()).await;
            }));
        }
        shutdown.await;
        tracing::info!("gateway draining");
        if let Some(admin) = &self.admin {
            admin.health().set_draining();
        }
        self.stopping.cancel();
        stop.cancel();
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "gateway task failed");
            }
        }
        if let Some(k) = self.keeper {
            k.stop().await;
        }
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        tracing::info!("gateway stopped");
    }
}
