//! The agent half: connects out to the gateway, authenticates, serves tunnels, reconnects.

mod config;
mod connect;
mod dial;
mod group;
mod reconnect;
mod refused;
mod serve;
mod settings;
mod udp;

pub use config::{AgentConfig, AgentStatus, DEFAULT_TCP_CONNECTIONS};

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use quinn::ConnectionError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::agent_id::AgentId;
use crate::backoff::system_random;
use crate::metrics::{AGENT_CONNECTED, AGENT_FALLBACKS, AGENT_QUIC_PROBES, AGENT_TRANSPORT};
use crate::quic::QuicConfigError;
use crate::transport::TransportKind;
use crate::wire::{GroupMember, RejectReason, close_code};
use connect::{Choice, Connected, Failure, Live};
use reconnect::{AfterRefusal, Role};
use settings::Generation;

type Random = Box<dyn FnMut() -> u64 + Send>;

/// The agent half of the tunnel: holds one authenticated connection to the gateway and serves
/// the tunnels the gateway opens on it ([`Agent::run`]).
///
/// For each tunnel stream it reads the header (within
/// [`AgentConfig::header_timeout`]), checks the destination against its allowlist and the
/// special-address set, resolves a name once and connects only to an address that was checked,
/// within [`AgentConfig::dial_timeout`], answers with a status, and on success relays bytes
/// with `ferry-bridge` (half-close propagated both ways). When the connection is lost or the
/// gateway rejects it, it waits per [`AgentConfig::backoff`] and reconnects.
///
/// The settings can be replaced while it runs ([`Agent::update`]): the live connection and its
/// tunnels keep the settings they started with.
pub struct Agent {
    shared: Arc<Shared>,
    status: Arc<watch::Sender<AgentStatus>>,
    random: Arc<Mutex<Random>>,
    group: Arc<group::Group>,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.shared.current.load().config)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    /// The settings in force; swapped whole by [`Agent::update`].
    current: ArcSwap<Generation>,
}

impl Shared {
    /// The settings in force now (an `Arc`: keep it for the whole operation).
    pub(crate) fn load(&self) -> Arc<Generation> {
        self.current.load_full()
    }
}

pub(crate) enum ConnectFailure {
    Rejected(RejectReason),
    Failed(String),
}

/// How a served connection ended.
pub(crate) enum End {
    Shutdown,
    Replaced,
    Lost(String),
}

impl Agent {
    /// An agent with `config`.
    ///
    /// # Errors
    ///
    /// [`QuicConfigError`] when the QUIC settings are invalid (idle timeout not above the
    /// keep-alive interval) or the TLS config cannot be built.
    pub fn new(config: AgentConfig) -> Result<Self, QuicConfigError> {
        let current = ArcSwap::from_pointee(Generation::build(config)?);
        Ok(Self {
            shared: Arc::new(Shared { current }),
            status: Arc::new(watch::Sender::new(AgentStatus::default())),
            random: Arc::new(Mutex::new(Box::new(system_random))),
            group: Arc::new(group::Group::new()),
        })
    }

    /// Uses `random` (uniform `u64`s) for back-off jitter instead of the operating system's
    /// generator (for reproducible tests).
    #[must_use]
    pub fn with_random(self, random: impl FnMut() -> u64 + Send + 'static) -> Self {
        *self.random.lock().unwrap_or_else(PoisonError::into_inner) = Box::new(random);
        self
    }

    /// The settings in force: those given to [`Agent::new`], or to the last successful
    /// [`Agent::update`].
    #[must_use]
    pub fn config(&self) -> Arc<AgentConfig> {
        Arc::clone(&self.shared.load().config)
    }

    /// Replaces every setting with `config`, for what starts from now on; the live connection
    /// and its open tunnels are not touched (no reconnect, no tunnel cut).
    ///
    /// When each setting takes effect:
    ///
    /// | settings | from |
    /// |---|---|
    /// | `allowlist`, `dial_timeout`, `header_timeout`, `bridge` | the next tunnel stream |
    /// | `gateway`, `gateway_tcp`, `server_name`, `roots`, `client_cert`, `agent_id`, `credential`, `auth_timeout`, `quic` (except `socket_buffer`), `max_tunnels`, `transport`, `fallback_after`, `tcp_dialer` | the next connection attempt |
    /// | `connections` | at once for more connections (they start); fewer: the connections above the new count end only when they are lost |
    /// | `quic_retry` | the next TCP connection's probes |
    /// | `backoff` | the next delay (the attempt count goes on) |
    /// | `drain_timeout` | the next drain |
    ///
    /// `quic.socket_buffer` belongs to the endpoint given to [`Agent::run`] and is not used
    /// here. A pending back-off delay is not cut short. Counted in
    /// [`AgentStatus::updates`].
    ///
    /// # Errors
    ///
    /// [`QuicConfigError`] as for [`Agent::new`]; the settings in force are then unchanged.
    pub fn update(&self, config: AgentConfig) -> Result<(), QuicConfigError> {
        let next = Generation::build(config)?;
        self.shared.current.store(Arc::new(next));
        self.status.send_modify(|s| s.updates += 1);
        self.group.poke();
        Ok(())
    }

    /// A receiver of the agent's [`AgentStatus`].
    #[must_use]
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.status.subscribe()
    }

    /// Connects and serves tunnels, reconnecting with back-off, until `shutdown` completes.
    /// `endpoint` (a client endpoint, for example
    /// `quinn::Endpoint::client("0.0.0.0:0".parse()?)` or [`bind_endpoint`](crate::bind_endpoint))
    /// carries QUIC; the TCP transport dials through [`AgentConfig::tcp_dialer`]. Which one is
    /// used follows [`AgentConfig::transport`]. Then it drains: new tunnels are answered
    /// `unavailable`, open ones get [`AgentConfig::drain_timeout`], then the connection is
    /// closed (QUIC code 0; on TCP an HTTP/2 `GOAWAY`).
    pub async fn run(&self, endpoint: quinn::Endpoint, shutdown: impl Future<Output = ()>) {
        self.run_on(Some(endpoint), shutdown).await;
    }

    /// [`Agent::run`] without a QUIC endpoint (no UDP socket at all): only the TCP transport
    /// is used, whatever [`AgentConfig::transport`] says, except that
    /// [`Transport::Quic`](crate::Transport::Quic) then fails every attempt.
    pub async fn run_tcp(&self, shutdown: impl Future<Output = ()>) {
        self.run_on(None, shutdown).await;
    }

    async fn run_on(&self, endpoint: Option<quinn::Endpoint>, shutdown: impl Future<Output = ()>) {
        metrics::gauge!(AGENT_CONNECTED).set(0.0);
        set_transport_gauge(None);
        let stop = CancellationToken::new();
        let work = self.run_until(endpoint.as_ref(), &stop);
        tokio::pin!(work);
        tokio::select! {
            () = &mut work => {}
            () = shutdown => {
                stop.cancel();
                work.await;
            }
        }
        if let Some(endpoint) = &endpoint {
            let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        }
        metrics::gauge!(AGENT_CONNECTED).set(0.0);
        set_transport_gauge(None);
        self.status.send_modify(|s| {
            s.connected = false;
            s.next_retry = None;
            s.stopped = true;
        });
    }

    /// The group's first connection and the other members, until `stop` fires.
    async fn run_until(&self, endpoint: Option<&quinn::Endpoint>, stop: &CancellationToken) {
        tokio::join!(
            self.run_first(endpoint, stop),
            self.run_members(endpoint, stop)
        );
    }

    /// The group's first connection: chooses the transport, owns the status and metrics.
    async fn run_first(&self, endpoint: Option<&quinn::Endpoint>, stop: &CancellationToken) {
        let mut first = First {
            agent: self,
            endpoint,
            stop,
            choice: Choice::default(),
            ever_connected: false,
            member: None,
        };
        reconnect::run(&mut first, &self.shared, &self.random, stop).await;
    }

    /// While connected over TCP in auto mode: probes QUIC every `quic_retry`; after the first
    /// success, marks QUIC for the next connection and returns. Never returns otherwise (and
    /// at once pends forever when there is nothing to probe).
    async fn probe_loop(
        &self,
        endpoint: Option<&quinn::Endpoint>,
        generation: &Generation,
        choice: &mut Choice,
    ) {
        let Some(endpoint) = endpoint else {
            return std::future::pending().await;
        };
        if generation.config.transport != crate::Transport::Auto || !choice.on_tcp {
            return std::future::pending().await;
        }
        let every = generation.config.quic_retry.max(Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            match connect::probe_quic(endpoint, generation).await {
                Ok(()) => {
                    metrics::counter!(AGENT_QUIC_PROBES, "result" => "ok").increment(1);
                    tracing::info!(
                        agent = %generation.config.agent_id,
                        "quic reaches the gateway again: the next connection uses quic (the live tcp connection is kept)"
                    );
                    choice.on_tcp = false;
                    self.status.send_modify(|s| s.quic_probes_ok += 1);
                    return;
                }
                Err(e) => {
                    metrics::counter!(AGENT_QUIC_PROBES, "result" => "failed").increment(1);
                    tracing::debug!(error = %e, "quic probe failed, staying on tcp");
                }
            }
        }
    }
}

/// The group's first connection, as [`reconnect::run`] drives it: it chooses the transport
/// (auto fallback, QUIC probes while on TCP), and its status and metrics are the agent's.
struct First<'a> {
    agent: &'a Agent,
    endpoint: Option<&'a quinn::Endpoint>,
    stop: &'a CancellationToken,
    choice: Choice,
    ever_connected: bool,
    /// How the current attempt authenticates.
    member: Option<GroupMember>,
}

impl Role for First<'_> {
    fn kind(&self) -> &'static str {
        if self.ever_connected {
            "reconnect"
        } else {
            "initial"
        }
    }

    async fn start(&mut self) -> Option<Arc<Generation>> {
        if self.stop.is_cancelled() {
            return None;
        }
        self.agent.status.send_modify(|s| {
            s.attempts += 1;
            s.next_retry = None;
        });
        // Every attempt uses the settings in force when it starts.
        let generation = self.agent.shared.load();
        self.member = self.agent.group.first_member(generation.config.connections);
        Some(generation)
    }

    async fn connect(&mut self, generation: &Generation) -> Result<Connected, Failure> {
        connect::connect(self.endpoint, generation, &mut self.choice, self.member).await
    }

    fn up(&mut self, connected: &Connected, generation: &Generation) {
        self.ever_connected = true;
        let agent_id = &generation.config.agent_id;
        let transport = connected.live.kind();
        metrics::gauge!(AGENT_CONNECTED).set(1.0);
        set_transport_gauge(Some(transport));
        if connected.fell_back {
            metrics::counter!(AGENT_FALLBACKS).increment(1);
            tracing::warn!(agent = %agent_id, %transport, reason = %connected.reason, "connected to the gateway over tcp (fallback)");
        } else {
            tracing::info!(agent = %agent_id, %transport, reason = %connected.reason, "connected to the gateway");
        }
        self.agent.status.send_modify(|s| {
            s.connected = true;
            s.connects += 1;
            s.last_error = None;
            s.transport = Some(transport);
            s.transport_reason = Some(connected.reason.clone());
            if connected.fell_back {
                s.fallbacks += 1;
            }
        });
        self.agent.group.joined(&self.agent.status);
        self.agent.group.set_first(Some(transport));
    }

    async fn serve(&mut self, live: Live, generation: Arc<Generation>) -> End {
        let agent = self.agent;
        match live {
            Live::Quic(conn) => {
                drop(generation);
                serve::serve(&agent.shared, &conn, self.stop).await
            }
            Live::Tcp(conn) => {
                let probe = agent.probe_loop(self.endpoint, &generation, &mut self.choice);
                tokio::pin!(probe);
                let serving = serve::serve_tcp(&agent.shared, *conn, self.stop);
                tokio::pin!(serving);
                tokio::select! {
                    end = &mut serving => end,
                    () = &mut probe => serving.await,
                }
            }
        }
    }

    fn down(&mut self) {
        self.agent.group.set_first(None);
        self.agent.group.left(&self.agent.status);
        metrics::gauge!(AGENT_CONNECTED).set(0.0);
        set_transport_gauge(None);
        self.agent.status.send_modify(|s| s.connected = false);
    }

    fn replaced(&mut self) {
        tracing::warn!(
            agent = %self.agent.shared.load().config.agent_id,
            "another connection with this agent id replaced this one"
        );
        self.agent.status.send_modify(|s| s.replaced += 1);
    }

    fn lost(&mut self, _agent: &AgentId, transport: TransportKind, error: String) {
        tracing::warn!(error = %error, %transport, "gateway connection lost");
        self.agent
            .status
            .send_modify(|s| s.last_error = Some(error));
    }

    fn rejected(
        &mut self,
        agent: &AgentId,
        transport: TransportKind,
        reason: RejectReason,
    ) -> AfterRefusal {
        if reason == RejectReason::UnsupportedVersion && self.member.is_some() {
            tracing::warn!(agent = %agent, %transport, "the gateway does not know connection groups (auth version 2): holding one connection (connections = 1 says so without this attempt)");
            self.agent.group.set_legacy();
            return AfterRefusal::Now;
        }
        tracing::error!(agent = %agent, ?reason, %transport, "gateway rejected the agent");
        self.agent.status.send_modify(|s| {
            s.rejections += 1;
            s.last_rejection = Some(reason);
        });
        AfterRefusal::BackOff
    }

    fn failed(&mut self, _agent: &AgentId, transport: TransportKind, error: String) {
        tracing::warn!(error = %error, %transport, "cannot connect to the gateway");
        self.agent
            .status
            .send_modify(|s| s.last_error = Some(error));
    }

    fn waiting(&mut self, delay: Duration) {
        self.agent
            .status
            .send_modify(|s| s.next_retry = Some(delay));
    }
}

/// A draw from the agent's random source (back-off jitter).
fn random(source: &Mutex<Random>) -> u64 {
    (source.lock().unwrap_or_else(PoisonError::into_inner))()
}

/// `ferry_agent_transport{transport}`: 1 for the transport in use, 0 for the other.
fn set_transport_gauge(in_use: Option<TransportKind>) {
    for kind in [TransportKind::Quic, TransportKind::Tcp] {
        let v = if in_use == Some(kind) { 1.0 } else { 0.0 };
        metrics::gauge!(AGENT_TRANSPORT, "transport" => kind.label()).set(v);
    }
}

pub(crate) fn classify(e: ConnectionError) -> End {
    match &e {
        ConnectionError::ApplicationClosed(close)
            if close.error_code == close_code::REPLACED.into() =>
        {
            End::Replaced
        }
        _ => End::Lost(e.to_string()),
    }
}
