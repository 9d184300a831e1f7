//! The agent half: connects out to the gateway, authenticates, serves tunnels, reconnects.

mod config;
mod dial;
mod refused;
mod serve;
mod settings;
mod udp;

pub use config::{AgentConfig, AgentStatus};

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use quinn::{Connection, ConnectionError};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::backoff::system_random;
use crate::metrics::{AGENT_CONNECTED, AGENT_CONNECTS, AGENT_DISCONNECTS};
use crate::quic::QuicConfigError;
use crate::read::read_message;
use crate::wire::{
    AuthReply, AuthRequest, REPLY_LEN, RejectReason, close_code, decode_auth_reply, encode_auth,
};
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
    status: watch::Sender<AgentStatus>,
    random: Mutex<Random>,
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

enum ConnectFailure {
    Rejected(RejectReason),
    Failed(String),
}

/// How a served connection ended.
pub(crate) enum End {
    Shutdown,
    Replaced,
    Lost(ConnectionError),
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
            status: watch::Sender::new(AgentStatus::default()),
            random: Mutex::new(Box::new(system_random)),
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
    /// | `gateway`, `server_name`, `roots`, `client_cert`, `agent_id`, `credential`, `auth_timeout`, `quic` (except `socket_buffer`), `max_tunnels` | the next connection attempt |
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
        Ok(())
    }

    /// A receiver of the agent's [`AgentStatus`].
    #[must_use]
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.status.subscribe()
    }

    /// Connects through `endpoint` (a client endpoint, for example
    /// `quinn::Endpoint::client("0.0.0.0:0".parse()?)`) and serves tunnels, reconnecting with
    /// back-off, until `shutdown` completes. Then it drains: new tunnels are answered
    /// `unavailable`, open ones get [`AgentConfig::drain_timeout`], then the connection is
    /// closed with code 0.
    pub async fn run(&self, endpoint: quinn::Endpoint, shutdown: impl Future<Output = ()>) {
        metrics::gauge!(AGENT_CONNECTED).set(0.0);
        let stop = CancellationToken::new();
        let work = self.run_until(&endpoint, &stop);
        tokio::pin!(work);
        tokio::select! {
            () = &mut work => {}
            () = shutdown => {
                stop.cancel();
                work.await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        metrics::gauge!(AGENT_CONNECTED).set(0.0);
        self.status.send_modify(|s| {
            s.connected = false;
            s.next_retry = None;
            s.stopped = true;
        });
    }

    fn random(&self) -> u64 {
        (self.random.lock().unwrap_or_else(PoisonError::into_inner))()
    }

    async fn run_until(&self, endpoint: &quinn::Endpoint, stop: &CancellationToken) {
        let mut attempt: u32 = 0;
        let mut ever_connected = false;
        while !stop.is_cancelled() {
            self.status.send_modify(|s| {
                s.attempts += 1;
                s.next_retry = None;
            });
            // Every attempt uses the settings in force when it starts.
            let generation = self.shared.load();
            let kind = if ever_connected {
                "reconnect"
            } else {
                "initial"
            };
            let result = tokio::select! {
                r = self.connect(endpoint, &generation) => r,
                () = stop.cancelled() => break,
            };
            let agent_id = &generation.config.agent_id;
            let delay = match result {
                Ok(conn) => {
                    attempt = 0;
                    ever_connected = true;
                    metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "ok")
                        .increment(1);
                    metrics::gauge!(AGENT_CONNECTED).set(1.0);
                    tracing::info!(agent = %agent_id, "connected to the gateway");
                    self.status.send_modify(|s| {
                        s.connected = true;
                        s.connects += 1;
                        s.last_error = None;
                    });
                    drop(generation);
                    let end = serve::serve(&self.shared, &conn, stop).await;
                    metrics::gauge!(AGENT_CONNECTED).set(0.0);
                    self.status.send_modify(|s| s.connected = false);
                    // The back-off in force now, not when the connection started.
                    let backoff = self.shared.load().config.backoff;
                    match end {
                        End::Shutdown => break,
                        End::Replaced => {
                            metrics::counter!(AGENT_DISCONNECTS, "reason" => "replaced")
                                .increment(1);
                            tracing::warn!(
                                agent = %self.shared.load().config.agent_id,
                                "another connection with this agent id replaced this one"
                            );
                            self.status.send_modify(|s| s.replaced += 1);
                            backoff.delay_after_rejection(attempt, self.random())
                        }
                        End::Lost(e) => {
                            metrics::counter!(AGENT_DISCONNECTS, "reason" => "lost").increment(1);
                            tracing::warn!(error = %e, "gateway connection lost");
                            self.status
                                .send_modify(|s| s.last_error = Some(e.to_string()));
                            backoff.delay(attempt, self.random())
                        }
                    }
                }
                Err(ConnectFailure::Rejected(reason)) => {
                    metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "rejected")
                        .increment(1);
                    tracing::error!(agent = %agent_id, ?reason, "gateway rejected the agent");
                    self.status.send_modify(|s| {
                        s.rejections += 1;
                        s.last_rejection = Some(reason);
                    });
                    self.shared
                        .load()
                        .config
                        .backoff
                        .delay_after_rejection(attempt, self.random())
                }
                Err(ConnectFailure::Failed(e)) => {
                    metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "failed")
                        .increment(1);
                    tracing::warn!(error = %e, "cannot connect to the gateway");
                    self.status.send_modify(|s| s.last_error = Some(e));
                    self.shared
                        .load()
                        .config
                        .backoff
                        .delay(attempt, self.random())
                }
            };
            attempt = attempt.saturating_add(1);
            self.status.send_modify(|s| s.next_retry = Some(delay));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => break,
            }
        }
    }

    async fn connect(
        &self,
        endpoint: &quinn::Endpoint,
        generation: &Generation,
    ) -> Result<Connection, ConnectFailure> {
        let config = &generation.config;
        let deadline = Instant::now() + config.auth_timeout;
        let connecting = endpoint
            .connect_with(
                generation.client.clone(),
                config.gateway,
                &config.server_name,
            )
            .map_err(|e| ConnectFailure::Failed(e.to_string()))?;
        // A refusal left by an earlier attempt on these settings is not this attempt's.
        let _ = generation.verifier.take_refusal();
        let conn = match timeout_at(deadline, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                // quinn passes the TLS error on as text; the verifier kept what it refused.
                let why = match generation.verifier.take_refusal() {
                    Some(fault) => ferry_tls::CertificateRefused::new(
                        format!("the gateway at {}", config.gateway),
                        config.roots_source.clone(),
                        fault,
                    )
                    .to_string(),
                    None => refused::certificate_refused(
                        &e,
                        config.gateway,
                        config.client_cert.is_some(),
                    )
                    .unwrap_or_else(|| e.to_string()),
                };
                return Err(ConnectFailure::Failed(why));
            }
            Err(_elapsed) => return Err(ConnectFailure::Failed("handshake timed out".into())),
        };
        match timeout_at(deadline, Self::authenticate(&conn, config)).await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(failure)) => {
                // In TLS 1.3 the agent's handshake is done before the gateway has checked its
                // certificate: a refusal closes the connection during authentication.
                let refusal = conn.close_reason().and_then(|reason| {
                    refused::certificate_refused(
                        &reason,
                        config.gateway,
                        config.client_cert.is_some(),
                    )
                });
                conn.close(close_code::SHUTDOWN.into(), b"");
                Err(refusal.map_or(failure, ConnectFailure::Failed))
            }
            Err(_elapsed) => {
                conn.close(close_code::AUTH_TIMEOUT.into(), b"auth timed out");
                Err(ConnectFailure::Failed("authentication timed out".into()))
            }
        }
    }

    async fn authenticate(conn: &Connection, config: &AgentConfig) -> Result<(), ConnectFailure> {
        let failed = |e: &dyn fmt::Display| ConnectFailure::Failed(e.to_string());
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| failed(&e))?;
        let mut buf = Vec::with_capacity(128);
        encode_auth(
            &AuthRequest {
                agent_id: config.agent_id.clone(),
                credential: config.credential.clone(),
            },
            &mut buf,
        );
        send.write_all(&buf).await.map_err(|e| failed(&e))?;
        let _ = send.finish();
        match read_message(&mut recv, REPLY_LEN, decode_auth_reply).await {
            Ok((AuthReply::Ok, _)) => Ok(()),
            Ok((AuthReply::Rejected(reason), _)) => Err(ConnectFailure::Rejected(reason)),
            Err(e) => match conn.close_reason() {
                // The gateway closed before its reply arrived: the close code says why.
                Some(ConnectionError::ApplicationClosed(c))
                    if c.error_code == close_code::AUTH_REJECTED.into() =>
                {
                    Err(ConnectFailure::Rejected(RejectReason::BadCredential))
                }
                Some(ConnectionError::ApplicationClosed(c))
                    if c.error_code == close_code::AUTH_MALFORMED.into() =>
                {
                    Err(ConnectFailure::Rejected(RejectReason::Malformed))
                }
                Some(reason) => Err(failed(&reason)),
                None => Err(failed(&e)),
            },
        }
    }
}

pub(crate) fn classify(e: ConnectionError) -> End {
    match &e {
        ConnectionError::ApplicationClosed(close)
            if close.error_code == close_code::REPLACED.into() =>
        {
            End::Replaced
        }
        _ => End::Lost(e),
    }
}
