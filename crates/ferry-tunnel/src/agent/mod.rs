//! The agent half: connects out to the gateway, authenticates, serves tunnels, reconnects.

mod config;
mod dial;
mod serve;

pub use config::{AgentConfig, AgentStatus};

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_bridge::Bridge;
use quinn::{Connection, ConnectionError};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::backoff::system_random;
use crate::metrics::AGENT_CONNECTS;
use crate::quic::{self, QuicConfigError};
use crate::read::read_message;
use crate::wire::{
    AuthReply, AuthRequest, REPLY_LEN, RejectReason, close_code, decode_auth_reply, encode_auth,
};

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
pub struct Agent {
    shared: Arc<Shared>,
    client: quinn::ClientConfig,
    status: watch::Sender<AgentStatus>,
    random: Mutex<Random>,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.shared.config)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    config: AgentConfig,
    bridge: Bridge,
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
        let mut client = quinn::ClientConfig::new(quic::client_crypto(Arc::clone(&config.roots))?);
        client.transport_config(quic::transport_config(
            &config.quic,
            config.max_tunnels.get(),
        )?);
        let bridge = Bridge::new(config.bridge.clone());
        Ok(Self {
            shared: Arc::new(Shared { config, bridge }),
            client,
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

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &AgentConfig {
        &self.shared.config
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
        let backoff = self.shared.config.backoff;
        let mut attempt: u32 = 0;
        while !stop.is_cancelled() {
            self.status.send_modify(|s| {
                s.attempts += 1;
                s.next_retry = None;
            });
            let result = tokio::select! {
                r = self.connect(endpoint) => r,
                () = stop.cancelled() => break,
            };
            let delay = match result {
                Ok(conn) => {
                    attempt = 0;
                    metrics::counter!(AGENT_CONNECTS, "result" => "ok").increment(1);
                    tracing::info!(agent = %self.shared.config.agent_id, "connected to the gateway");
                    self.status.send_modify(|s| {
                        s.connected = true;
                        s.connects += 1;
                        s.last_error = None;
                    });
                    let end = serve::serve(&self.shared, &conn, stop).await;
                    self.status.send_modify(|s| s.connected = false);
                    match end {
                        End::Shutdown => break,
                        End::Replaced => {
                            tracing::warn!(
                                agent = %self.shared.config.agent_id,
                                "another connection with this agent id replaced this one"
                            );
                            self.status.send_modify(|s| s.replaced += 1);
                            backoff.delay_after_rejection(attempt, self.random())
                        }
                        End::Lost(e) => {
                            tracing::warn!(error = %e, "gateway connection lost");
                            self.status
                                .send_modify(|s| s.last_error = Some(e.to_string()));
                            backoff.delay(attempt, self.random())
                        }
                    }
                }
                Err(ConnectFailure::Rejected(reason)) => {
                    metrics::counter!(AGENT_CONNECTS, "result" => "rejected").increment(1);
                    tracing::error!(agent = %self.shared.config.agent_id, ?reason, "gateway rejected the agent");
                    self.status.send_modify(|s| {
                        s.rejections += 1;
                        s.last_rejection = Some(reason);
                    });
                    backoff.delay_after_rejection(attempt, self.random())
                }
                Err(ConnectFailure::Failed(e)) => {
                    metrics::counter!(AGENT_CONNECTS, "result" => "failed").increment(1);
                    tracing::warn!(error = %e, "cannot connect to the gateway");
                    self.status.send_modify(|s| s.last_error = Some(e));
                    backoff.delay(attempt, self.random())
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

    async fn connect(&self, endpoint: &quinn::Endpoint) -> Result<Connection, ConnectFailure> {
        let config = &self.shared.config;
        let deadline = Instant::now() + config.auth_timeout;
        let connecting = endpoint
            .connect_with(self.client.clone(), config.gateway, &config.server_name)
            .map_err(|e| ConnectFailure::Failed(e.to_string()))?;
        let conn = match timeout_at(deadline, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(ConnectFailure::Failed(e.to_string())),
            Err(_elapsed) => return Err(ConnectFailure::Failed("handshake timed out".into())),
        };
        match timeout_at(deadline, self.authenticate(&conn)).await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(failure)) => {
                conn.close(close_code::SHUTDOWN.into(), b"");
                Err(failure)
            }
            Err(_elapsed) => {
                conn.close(close_code::AUTH_TIMEOUT.into(), b"auth timed out");
                Err(ConnectFailure::Failed("authentication timed out".into()))
            }
        }
    }

    async fn authenticate(&self, conn: &Connection) -> Result<(), ConnectFailure> {
        let config = &self.shared.config;
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
