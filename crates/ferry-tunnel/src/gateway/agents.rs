//! The table of connected agents: one live connection group per id.
//!
//! An agent holds one connection, or a group of them (its `connections` setting): every
//! member authenticates on its own, carries the same random group id, and has an index. The
//! first member (index 0) starts the group, and replaces the group of another process with the
//! same id; the others join the live group with the same group id and are refused when there
//! is none ([`RejectReason::NoGroup`]). Tunnels go to the member with the fewest open
//! tunnels.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::Inner;
use super::conn::Conn;
use super::held::HeldCredential;
use crate::agent_id::AgentId;
use crate::metrics::{AGENT_GROUP_CONNECTIONS, AGENTS_CONNECTED, AGENTS_REPLACED, AGENTS_REVOKED};
use crate::transport::TransportKind;
use crate::wire::{GroupId, GroupMember, RejectReason, close_code};

/// One connected agent: its connection group.
pub(super) struct AgentEntry {
    /// The group's id: the agent's own, or one drawn here for an agent with one connection
    /// (auth version 1), which no other connection can join.
    pub(super) group: GroupId,
    /// The live members, at most one per index.
    pub(super) members: Vec<Member>,
    /// One permit per open tunnel, shared by the group.
    pub(super) permits: Arc<Semaphore>,
}

/// One connection of an agent's group.
pub(super) struct Member {
    pub(super) index: u8,
    pub(super) conn: Conn,
    /// Tells this connection apart from a later one with the same id and index.
    pub(super) generation: u64,
    /// The credential it authenticated with, for [`super::Gateway::revalidate`].
    pub(super) credential: HeldCredential,
    /// Tunnels open on this connection (their [`crate::stream::TunnelStream`]s hold it).
    pub(super) load: Arc<AtomicUsize>,
}

impl AgentEntry {
    /// The member a new tunnel goes to: the one with the fewest open tunnels, the lowest
    /// index among equals.
    pub(super) fn pick(&self) -> Option<&Member> {
        self.members
            .iter()
            .min_by_key(|m| (m.load.load(Ordering::Relaxed), m.index))
    }

    /// The first member's connection (the lowest index), for what is shown per agent.
    pub(super) fn first(&self) -> Option<&Conn> {
        self.members.iter().min_by_key(|m| m.index).map(|m| &m.conn)
    }
}

/// The connected agents by id, and how many agents and connections use each transport,
/// kept up to date with every change so that the gauges are set without walking the table.
///
/// Read through [`Deref`] (a map of [`AgentEntry`]); changed only through its methods,
/// which keep the counts.
#[derive(Default)]
pub(super) struct AgentTable {
    agents: HashMap<AgentId, AgentEntry>,
    counts: ByTransport,
}

impl Deref for AgentTable {
    type Target = HashMap<AgentId, AgentEntry>;

    fn deref(&self) -> &Self::Target {
        &self.agents
    }
}

impl AgentTable {
    /// Puts `entry` in as `id`'s group; returns the group it replaced.
    fn insert(&mut self, id: AgentId, entry: AgentEntry) -> Option<AgentEntry> {
        self.counts.add(ByTransport::of(&entry));
        let old = self.agents.insert(id, entry);
        if let Some(old) = &old {
            self.counts.sub(ByTransport::of(old));
        }
        self.set_gauges();
        old
    }

    /// Changes `id`'s group with `change`; a group left without members is removed. `None`
    /// when `id` has no group here.
    fn update<R>(&mut self, id: &AgentId, change: impl FnOnce(&mut AgentEntry) -> R) -> Option<R> {
        let Self { agents, counts } = self;
        let entry = agents.get_mut(id)?;
        counts.sub(ByTransport::of(entry));
        let out = change(entry);
        if entry.members.is_empty() {
            agents.remove(id);
        } else {
            counts.add(ByTransport::of(entry));
        }
        self.set_gauges();
        Some(out)
    }

    /// Sets `ferry_tunnel_agents_connected{transport}` (by the first member's transport) and
    /// `ferry_tunnel_agent_connections{transport}` from the counts.
    fn set_gauges(&self) {
        for kind in TRANSPORTS {
            let Counts {
                agents,
                connections,
            } = self.counts.get(kind);
            #[allow(clippy::cast_precision_loss)] // agent counts are far below 2^52
            {
                metrics::gauge!(AGENTS_CONNECTED, "transport" => kind.label()).set(agents as f64);
                metrics::gauge!(AGENT_GROUP_CONNECTIONS, "transport" => kind.label())
                    .set(connections as f64);
            }
        }
    }
}

const TRANSPORTS: [TransportKind; 2] = [TransportKind::Quic, TransportKind::Tcp];

/// Agents (by their first member's transport) and connections on one transport.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    agents: usize,
    connections: usize,
}

/// [`Counts`] per transport, of the whole table or of one group.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ByTransport {
    quic: Counts,
    tcp: Counts,
}

impl ByTransport {
    /// What one group counts for.
    fn of(entry: &AgentEntry) -> Self {
        let mut counts = Self::default();
        if let Some(first) = entry.first() {
            counts.on(first.transport()).agents = 1;
        }
        for member in &entry.members {
            counts.on(member.conn.transport()).connections += 1;
        }
        counts
    }

    fn get(self, kind: TransportKind) -> Counts {
        match kind {
            TransportKind::Quic => self.quic,
            TransportKind::Tcp => self.tcp,
        }
    }

    fn on(&mut self, kind: TransportKind) -> &mut Counts {
        match kind {
            TransportKind::Quic => &mut self.quic,
            TransportKind::Tcp => &mut self.tcp,
        }
    }

    fn add(&mut self, other: Self) {
        for kind in TRANSPORTS {
            let (n, m) = (self.on(kind), other.get(kind));
            n.agents += m.agents;
            n.connections += m.connections;
        }
    }

    fn sub(&mut self, other: Self) {
        for kind in TRANSPORTS {
            let (n, m) = (self.on(kind), other.get(kind));
            debug_assert!(
                n.agents >= m.agents && n.connections >= m.connections,
                "agent table counts drifted"
            );
            n.agents = n.agents.saturating_sub(m.agents);
            n.connections = n.connections.saturating_sub(m.connections);
        }
    }
}

/// Whether a connection that authenticated as `member` of `id` may be registered, checked
/// before the gateway replies `ok`: a member above index 0 needs its group live here, and
/// every index must be below [`GatewayConfig::max_connections_per_agent`](super::GatewayConfig).
/// [`register`] checks again (the group may end in between).
pub(super) fn admit(
    inner: &Inner,
    id: &AgentId,
    member: Option<GroupMember>,
) -> Result<(), RejectReason> {
    let Some(member) = member else {
        return Ok(());
    };
    if member.index >= inner.config.max_connections_per_agent.get() {
        return Err(RejectReason::GroupFull);
    }
    if member.index == 0 {
        return Ok(());
    }
    let agents = inner.agents();
    match agents.get(id) {
        Some(entry) if entry.group == member.group => Ok(()),
        _ => Err(RejectReason::NoGroup),
    }
}

/// Registers `conn` as `member` of `id`'s group and watches it:
///
/// - no member (auth version 1) or index 0 of another group: a new group that replaces the
///   live one (its connections are closed with code 4, `replaced`);
/// - index 0 or above of the live group: replaces that index's previous connection, if any
///   (an agent's member reconnecting), or joins;
/// - above index 0 with no live group of that id: closed (the group ended since
///   [`admit`]).
///
/// `checked_in` is the revalidation round ([`Inner::revalidations`]) that was current before
/// the credential was verified: when a [`super::Gateway::revalidate`] started since (the
/// verifier may have changed after this agent was checked), the credential is verified again
/// here, under the table's lock, and a refused agent is closed instead of registered.
pub(super) fn register(
    inner: &Arc<Inner>,
    id: AgentId,
    member: Option<GroupMember>,
    conn: Conn,
    credential: HeldCredential,
    checked_in: u64,
) {
    let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed);
    let (group, index) = match member {
        Some(m) => (m.group, m.index),
        None => (own_group(generation), 0),
    };
    let new_member = Member {
        index,
        conn: conn.clone(),
        generation,
        credential,
        load: Arc::new(AtomicUsize::new(0)),
    };
    let replaced: Vec<Conn> = {
        let mut agents = inner.agents();
        if inner.revalidations.load(Ordering::SeqCst) != checked_in {
            let now = (inner.clock)();
            if inner
                .verifier
                .verify_with_certificates(
                    &id,
                    new_member.credential.as_str(),
                    new_member.credential.certificates(),
                    now,
                )
                .is_err()
            {
                drop(agents);
                revoke(&id, &conn);
                return;
            }
        }
        let same_group = agents.get(&id).is_some_and(|e| e.group == group);
        if same_group {
            let old = agents
                .update(&id, |entry| {
                    let old = entry
                        .members
                        .iter()
                        .position(|m| m.index == index)
                        .map(|at| entry.members.swap_remove(at).conn);
                    entry.members.push(new_member);
                    old
                })
                .flatten();
            drop(agents);
            tracing::info!(agent = %id, member = index, remote = %conn.remote_address(), transport = %conn.transport(), "agent connection joined its group");
            old.into_iter().collect()
        } else if index > 0 {
            drop(agents);
            tracing::info!(agent = %id, member = index, "agent connection's group ended before it joined");
            conn.close(close_code::SHUTDOWN, b"connection group gone");
            return;
        } else {
            let permits = Arc::new(Semaphore::new(
                usize::try_from(inner.config.max_tunnels_per_agent.get()).unwrap_or(usize::MAX),
            ));
            let entry = AgentEntry {
                group,
                members: vec![new_member],
                permits,
            };
            let old = agents.insert(id.clone(), entry);
            // Told while the table is locked, so events follow the table's order exactly.
            if let Some(events) = &inner.events {
                if old.is_some() {
                    events.disconnected(&id);
                }
                events.connected(&id);
            }
            drop(agents);
            match old {
                Some(old) => {
                    let conns: Vec<Conn> = old.members.into_iter().map(|m| m.conn).collect();
                    if let Some(first) = conns.first() {
                        tracing::warn!(
                            agent = %id,
                            old = %first.remote_address(),
                            old_transport = %first.transport(),
                            old_connections = conns.len(),
                            new = %conn.remote_address(),
                            new_transport = %conn.transport(),
                            "agent connection replaced by a newer authenticated connection"
                        );
                    }
                    metrics::counter!(AGENTS_REPLACED).increment(1);
                    conns
                }
                None => Vec::new(),
            }
        }
    };
    for old in replaced {
        old.close(close_code::REPLACED, b"replaced by a newer connection");
    }
    inner
        .tasks
        .spawn(watch(Arc::clone(inner), id, conn, generation));
}

/// A group id for an agent with one connection: unique per gateway process, never sent by
/// an agent in practice (agents draw 16 random bytes), and only ever compared with the ids of
/// connections that name a group.
fn own_group(generation: u64) -> GroupId {
    let mut id = [0xff; crate::wire::GROUP_ID_LEN];
    id[..8].copy_from_slice(&generation.to_be_bytes());
    GroupId(id)
}

/// Removes the member of `id` with `generation`; when it was the group's last, removes the
/// agent and tells the observer. Returns the removed member and whether it was the last.
/// Called with the table locked.
pub(super) fn remove_member(
    inner: &Inner,
    agents: &mut AgentTable,
    id: &AgentId,
    generation: u64,
) -> Option<(Member, bool)> {
    let removed = agents
        .update(id, |entry| {
            let at = entry
                .members
                .iter()
                .position(|m| m.generation == generation)?;
            Some(entry.members.swap_remove(at))
        })
        .flatten()?;
    let last = !agents.contains_key(id);
    if last && let Some(events) = &inner.events {
        events.disconnected(id);
    }
    Some((removed, last))
}

/// Waits for the connection to end, then removes it from its agent's group (if it is still
/// there) and the agent with the group's last connection.
async fn watch(inner: Arc<Inner>, id: AgentId, conn: Conn, generation: u64) {
    conn.closed().await;
    let removed = {
        let mut agents = inner.agents();
        remove_member(&inner, &mut agents, &id, generation)
    };
    match removed {
        Some((member, false)) => {
            tracing::info!(agent = %id, member = member.index, transport = %conn.transport(), reason = %conn.close_reason(), "agent connection ended, others of its group remain");
        }
        _ => {
            tracing::info!(agent = %id, transport = %conn.transport(), reason = %conn.close_reason(), "agent disconnected");
        }
    }
}

/// Closes the connection of an agent whose credential no longer passes, and counts it.
pub(super) fn revoke(id: &AgentId, conn: &Conn) {
    tracing::warn!(agent = %id, remote = %conn.remote_address(), "agent credential revoked: disconnecting");
    metrics::counter!(AGENTS_REVOKED).increment(1);
    conn.close(close_code::AUTH_REJECTED, REVOKED_REASON);
}

/// The QUIC close reason sent with code 1 (`auth_rejected`) to an agent whose credential was
/// revoked while it was connected.
pub(super) const REVOKED_REASON: &[u8] = b"credential revoked";
