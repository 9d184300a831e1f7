//! The agent's connection group: the first connection, and the others that join it once it
//! is up ([`AgentConfig::connections`](super::AgentConfig::connections)).
//!
//! The first connection (member 0) is the one [`Agent::run`](super::Agent::run) has always
//! held: it chooses the transport (auto fallback, QUIC probes), and its status and metrics
//! are the agent's. Each other member runs in its own task (`run_member`, [`reconnect::run`]): it waits until the first
//! connection is up, connects over the same transport with the group's id and its index,
//! serves the tunnels the gateway opens on it, and reconnects with back-off on its own. When
//! the first connection goes, the others keep serving (the gateway still counts the agent as
//! connected); when the gateway replaces the group (another process with the same id), they
//! wait for the first connection to come back.

use std::num::NonZeroU8;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connect::{self, Connected, Failure, Live};
use super::reconnect::{self, AfterRefusal, Role};
use super::settings::Generation;
use super::{Agent, AgentStatus, ConnectFailure, End, Random, Shared, serve};
use crate::agent_id::AgentId;
use crate::backoff::system_random;
use crate::metrics::AGENT_CONNECTIONS;
use crate::transport::TransportKind;
use crate::wire::{GROUP_ID_LEN, GroupId, GroupMember, MAX_GROUP_MEMBERS, RejectReason};

/// What the members of one agent's group share.
pub(crate) struct Group {
    /// Drawn once per [`Agent`]: the same for every member and every reconnect.
    id: GroupId,
    /// The first connection's transport while it is up. Also sent (unchanged) by
    /// [`Agent::update`], so that waiting members look at the settings again.
    first: watch::Sender<Option<TransportKind>>,
    /// The gateway answered a version 2 auth message with `unsupported_version`: it does not
    /// know groups, so the agent holds one connection (version 1) from then on.
    legacy: AtomicBool,
    /// Live connections of the group.
    live: AtomicU8,
}

impl Group {
    pub(crate) fn new() -> Self {
        let mut id = [0u8; GROUP_ID_LEN];
        id[..8].copy_from_slice(&system_random().to_le_bytes());
        id[8..].copy_from_slice(&system_random().to_le_bytes());
        Self {
            id: GroupId(id),
            first: watch::Sender::new(None),
            legacy: AtomicBool::new(false),
            live: AtomicU8::new(0),
        }
    }

    /// How the first connection authenticates: as member 0, or without a group when the
    /// agent holds one connection (or the gateway does not know groups).
    pub(crate) fn first_member(&self, connections: Option<NonZeroU8>) -> Option<GroupMember> {
        let one = connections.is_some_and(|n| n.get() == 1);
        (!one && !self.legacy.load(Ordering::Relaxed)).then_some(GroupMember {
            group: self.id,
            index: 0,
        })
    }

    /// The gateway does not know groups: one connection from now on.
    pub(crate) fn set_legacy(&self) {
        self.legacy.store(true, Ordering::Relaxed);
    }

    /// The first connection is up over `kind` (or `None`: it ended).
    pub(crate) fn set_first(&self, kind: Option<TransportKind>) {
        self.first.send_replace(kind);
    }

    /// Wakes the members waiting for their turn (the settings changed).
    pub(crate) fn poke(&self) {
        self.first.send_modify(|_| {});
    }

    /// A connection of the group came up.
    pub(crate) fn joined(&self, status: &watch::Sender<AgentStatus>) {
        self.live.fetch_add(1, Ordering::SeqCst);
        self.publish(status);
    }

    /// A connection of the group ended.
    pub(crate) fn left(&self, status: &watch::Sender<AgentStatus>) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.publish(status);
    }

    /// Publishes the live count (status and gauge). The count is read under the status
    /// channel's lock, not passed in: members join and leave on several threads, and a count
    /// taken before the lock could be published after a newer one, leaving a stale figure
    /// until the next change (a watcher waiting for "4 connections" then never saw it).
    fn publish(&self, status: &watch::Sender<AgentStatus>) {
        status.send_modify(|s| {
            let n = self.live.load(Ordering::SeqCst);
            metrics::gauge!(AGENT_CONNECTIONS).set(f64::from(n));
            s.connections = n;
        });
    }
}

impl Agent {
    /// Runs members 1 to 15, each in its own task (so that each connection is driven on its
    /// own core), until `stop` fires; each idles until the settings ask for it.
    pub(super) async fn run_members(
        &self,
        endpoint: Option<&quinn::Endpoint>,
        stop: &CancellationToken,
    ) {
        let context = Arc::new(MemberContext {
            shared: Arc::clone(&self.shared),
            status: Arc::clone(&self.status),
            random: Arc::clone(&self.random),
            group: Arc::clone(&self.group),
            endpoint: endpoint.cloned(),
            stop: stop.clone(),
        });
        let mut members = JoinSet::new();
        for index in 1..MAX_GROUP_MEMBERS {
            members.spawn(run_member(Arc::clone(&context), index));
        }
        while members.join_next().await.is_some() {}
    }
}

/// What a member's task needs of its [`Agent`].
struct MemberContext {
    shared: Arc<Shared>,
    status: Arc<watch::Sender<AgentStatus>>,
    random: Arc<Mutex<Random>>,
    group: Arc<Group>,
    endpoint: Option<quinn::Endpoint>,
    stop: CancellationToken,
}

/// One member above 0: waits for its turn, connects, serves, reconnects.
async fn run_member(context: Arc<MemberContext>, index: u8) {
    let mut member = Member {
        first: context.group.first.subscribe(),
        context: Arc::clone(&context),
        index,
        kind: TransportKind::Quic,
        wait: false,
    };
    reconnect::run(&mut member, &context.shared, &context.random, &context.stop).await;
}

/// A member above 0, as [`reconnect::run`] drives it: it connects over the first
/// connection's transport once that is up, and reports at `debug` only (its status is the
/// group's connection count).
struct Member {
    context: Arc<MemberContext>,
    index: u8,
    /// The first connection's transport, watched.
    first: watch::Receiver<Option<TransportKind>>,
    /// The transport of the current attempt (set by [`Role::start`]).
    kind: TransportKind,
    /// The gateway refused this index as over its limit: wait for the first connection or
    /// the settings to change before the next attempt.
    wait: bool,
}

impl Member {
    /// Waits until the first connection or the settings change; `false`: the agent stops.
    async fn changed(&mut self) -> bool {
        tokio::select! {
            changed = self.first.changed() => changed.is_ok(),
            () = self.context.stop.cancelled() => false,
        }
    }
}

impl Role for Member {
    fn kind(&self) -> &'static str {
        "group"
    }

    async fn start(&mut self) -> Option<Arc<Generation>> {
        if std::mem::take(&mut self.wait) && !self.changed().await {
            return None;
        }
        // Its turn: the first connection is up, the settings want this many, and the
        // gateway knows groups.
        self.kind = loop {
            let config = Arc::clone(&self.context.shared.load().config);
            let ready = match *self.first.borrow_and_update() {
                Some(kind)
                    if self.index < config.connections_on(kind)
                        && !self.context.group.legacy.load(Ordering::Relaxed) =>
                {
                    Some(kind)
                }
                _ => None,
            };
            if let Some(kind) = ready {
                break kind;
            }
            if !self.changed().await {
                return None;
            }
        };
        Some(self.context.shared.load())
    }

    async fn connect(&mut self, generation: &Generation) -> Result<Connected, Failure> {
        let member = Some(GroupMember {
            group: self.context.group.id,
            index: self.index,
        });
        let deadline = Instant::now() + generation.config.auth_timeout;
        let live = match (self.kind, &self.context.endpoint) {
            (TransportKind::Quic, Some(endpoint)) => {
                connect::connect_quic(endpoint, generation, deadline, member)
                    .await
                    .map(Live::Quic)
            }
            (TransportKind::Quic, None) => {
                Err(ConnectFailure::Failed("no quic endpoint".to_owned()))
            }
            (TransportKind::Tcp, _) => connect::connect_tcp(generation, deadline, member)
                .await
                .map(|c| Live::Tcp(Box::new(c))),
        };
        live.map(|live| Connected {
            live,
            reason: String::new(),
            fell_back: false,
        })
        .map_err(|failure| Failure {
            failure,
            transport: self.kind,
        })
    }

    fn up(&mut self, connected: &Connected, generation: &Generation) {
        let agent = &generation.config.agent_id;
        let transport = connected.live.kind();
        tracing::debug!(%agent, member = self.index, %transport, "group connection up");
        self.context.group.joined(&self.context.status);
    }

    async fn serve(&mut self, live: Live, generation: Arc<Generation>) -> End {
        drop(generation);
        let MemberContext { shared, stop, .. } = &*self.context;
        match live {
            Live::Quic(conn) => serve::serve(shared, &conn, stop).await,
            Live::Tcp(conn) => serve::serve_tcp(shared, *conn, stop).await,
        }
    }

    fn down(&mut self) {
        self.context.group.left(&self.context.status);
    }

    fn lost(&mut self, agent: &AgentId, _transport: TransportKind, error: String) {
        tracing::debug!(%agent, member = self.index, error = %error, "group connection lost");
    }

    fn rejected(
        &mut self,
        agent: &AgentId,
        _transport: TransportKind,
        reason: RejectReason,
    ) -> AfterRefusal {
        if reason == RejectReason::GroupFull {
            // The gateway's limit: wait for the next first connection (perhaps to another
            // gateway) or new settings.
            tracing::warn!(%agent, member = self.index, "the gateway allows fewer connections per agent (max_connections_per_agent): this one waits for the next connection or new settings");
            self.wait = true;
            return AfterRefusal::Wait;
        }
        tracing::debug!(%agent, member = self.index, ?reason, "group connection refused");
        AfterRefusal::BackOff
    }

    fn failed(&mut self, agent: &AgentId, _transport: TransportKind, error: String) {
        tracing::debug!(%agent, member = self.index, error = %error, "group connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two members change the count at once: one has counted itself but not published yet
    /// when the other counts and publishes. Whatever the order of the two publications, the
    /// status ends at the live count, not at the figure the slower one saw.
    #[test]
    fn a_slower_publication_does_not_leave_a_stale_count() {
        let group = Group::new();
        let (status, seen) = watch::channel(AgentStatus::default());
        group.joined(&status);
        // Member A counts itself (2) and is descheduled before publishing.
        group.live.fetch_add(1, Ordering::SeqCst);
        // Member B joins and publishes: 3.
        group.joined(&status);
        assert_eq!(seen.borrow().connections, 3);
        // A publishes last: still 3, not the 2 it counted.
        group.publish(&status);
        assert_eq!(seen.borrow().connections, 3);
        // The same when leaving.
        group.live.fetch_sub(1, Ordering::SeqCst);
        group.left(&status);
        group.publish(&status);
        assert_eq!(seen.borrow().connections, 1);
    }
}
