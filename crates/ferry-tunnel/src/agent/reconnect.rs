//! The reconnect loop every connection of the agent's group runs: connect, serve, classify
//! how it ended, back off, again. What a connection reports on the way (status, metrics, logs)
//! and how it connects and serves are its [`Role`]'s: the group's first connection
//! ([`Agent::run`](super::Agent::run)) or one of the other members (`group.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::connect::{Connected, Failure, Live};
use super::settings::Generation;
use super::{ConnectFailure, End, Random, Shared, random};
use crate::agent_id::AgentId;
use crate::metrics::{AGENT_CONNECTS, AGENT_DISCONNECTS};
use crate::transport::TransportKind;
use crate::wire::RejectReason;

/// What follows a refused connect.
pub(super) enum AfterRefusal {
    /// The back-off after a refusal ([`Backoff::delay_after_rejection`]).
    BackOff,
    /// The next attempt at once (this one still counts for the back-off).
    Now,
    /// No delay, and this attempt does not count: [`Role::start`] waits for its turn.
    Wait,
}

/// One connection of the agent's group, as [`run`] drives it: how it connects and serves,
/// and what it reports. [`run`] counts `ferry_agent_connects_total` and
/// `ferry_agent_disconnects_total` itself.
pub(super) trait Role {
    /// The `kind` label of `ferry_agent_connects_total` for the next attempt.
    fn kind(&self) -> &'static str;

    /// Waits until the next attempt may start and returns the settings it uses; `None`: the
    /// agent stops.
    async fn start(&mut self) -> Option<Arc<Generation>>;

    /// One attempt (cut short by [`run`] when the agent stops).
    async fn connect(&mut self, generation: &Generation) -> Result<Connected, Failure>;

    /// The connection is up (before it is served).
    fn up(&mut self, connected: &Connected, generation: &Generation);

    /// Serves the connection until it ends.
    async fn serve(&mut self, live: Live, generation: Arc<Generation>) -> End;

    /// The served connection ended (before its end is reported).
    fn down(&mut self);

    /// The gateway replaced the connection ([`End::Replaced`]).
    fn replaced(&mut self) {}

    /// The connection was lost ([`End::Lost`]).
    fn lost(&mut self, agent: &AgentId, transport: TransportKind, error: String);

    /// The gateway refused the attempt.
    fn rejected(
        &mut self,
        agent: &AgentId,
        transport: TransportKind,
        reason: RejectReason,
    ) -> AfterRefusal;

    /// The attempt failed.
    fn failed(&mut self, agent: &AgentId, transport: TransportKind, error: String);

    /// The next attempt starts after `delay`.
    fn waiting(&mut self, delay: Duration) {
        let _ = delay;
    }
}

/// Connects, serves, and reconnects with back-off (`random` draws the jitter) until `stop`
/// fires or [`Role::start`] says stop. The delay after an attempt uses the back-off in force
/// in `shared` when the attempt ends, not the one of the attempt's settings: an
/// [`Agent::update`](super::Agent::update) during the attempt applies to the next delay.
pub(super) async fn run(
    role: &mut impl Role,
    shared: &Shared,
    random_source: &Mutex<Random>,
    stop: &CancellationToken,
) {
    let mut attempt: u32 = 0;
    loop {
        let Some(generation) = role.start().await else {
            return;
        };
        let kind = role.kind();
        let result = tokio::select! {
            r = role.connect(&generation) => r,
            () = stop.cancelled() => return,
        };
        let delay = match result {
            Ok(connected) => {
                attempt = 0;
                let transport = connected.live.kind();
                metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "ok", "transport" => transport.label())
                    .increment(1);
                role.up(&connected, &generation);
                let agent = generation.config.agent_id.clone();
                let end = role.serve(connected.live, generation).await;
                role.down();
                let backoff = shared.load().config.backoff;
                match end {
                    End::Shutdown => return,
                    End::Replaced => {
                        metrics::counter!(AGENT_DISCONNECTS, "reason" => "replaced").increment(1);
                        role.replaced();
                        backoff.delay_after_rejection(attempt, random(random_source))
                    }
                    End::Lost(e) => {
                        metrics::counter!(AGENT_DISCONNECTS, "reason" => "lost").increment(1);
                        role.lost(&agent, transport, e);
                        backoff.delay(attempt, random(random_source))
                    }
                }
            }
            Err(Failure {
                failure: ConnectFailure::Rejected(reason),
                transport,
            }) => {
                metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "rejected", "transport" => transport.label())
                    .increment(1);
                match role.rejected(&generation.config.agent_id, transport, reason) {
                    AfterRefusal::BackOff => shared
                        .load()
                        .config
                        .backoff
                        .delay_after_rejection(attempt, random(random_source)),
                    AfterRefusal::Now => Duration::ZERO,
                    AfterRefusal::Wait => continue,
                }
            }
            Err(Failure {
                failure: ConnectFailure::Failed(e),
                transport,
            }) => {
                metrics::counter!(AGENT_CONNECTS, "kind" => kind, "result" => "failed", "transport" => transport.label())
                    .increment(1);
                role.failed(&generation.config.agent_id, transport, e);
                shared
                    .load()
                    .config
                    .backoff
                    .delay(attempt, random(random_source))
            }
        };
        attempt = attempt.saturating_add(1);
        role.waiting(delay);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return,
        }
    }
}
