//! The table of connected agents: one live connection per id.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::Semaphore;

use super::Inner;
use super::conn::Conn;
use super::held::HeldCredential;
use crate::agent_id::AgentId;
use crate::metrics::{AGENTS_CONNECTED, AGENTS_REPLACED, AGENTS_REVOKED};
use crate::transport::TransportKind;
use crate::wire::close_code;

/// One connected agent.
pub(super) struct AgentEntry {
    pub(super) conn: Conn,
    /// Tells this connection apart from a later one with the same id.
    pub(super) generation: u64,
    /// One permit per open tunnel.
    pub(super) permits: Arc<Semaphore>,
    /// The credential it authenticated with, for [`super::Gateway::revalidate`].
    pub(super) credential: HeldCredential,
}

/// Sets `ferry_tunnel_agents_connected{transport}` from the table.
pub(super) fn set_gauge(agents: &std::collections::HashMap<AgentId, AgentEntry>) {
    for kind in [TransportKind::Quic, TransportKind::Tcp] {
        let n = agents
            .values()
            .filter(|e| e.conn.transport() == kind)
            .count();
        #[allow(clippy::cast_precision_loss)] // agent counts are far below 2^52
        metrics::gauge!(AGENTS_CONNECTED, "transport" => kind.label()).set(n as f64);
    }
}

/// Makes `conn` the live connection of `id` (closing a previous one) and watches it.
///
/// `checked_in` is the revalidation round ([`Inner::revalidations`]) that was current before
/// the credential was verified: when a [`super::Gateway::revalidate`] started since (the
/// verifier may have changed after this agent was checked), the credential is verified again
/// here, under the table's lock, and a refused agent is closed instead of registered.
pub(super) fn register(
    inner: &Arc<Inner>,
    id: AgentId,
    conn: Conn,
    credential: HeldCredential,
    checked_in: u64,
) {
    let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed);
    let permits = Arc::new(Semaphore::new(
        usize::try_from(inner.config.max_tunnels_per_agent.get()).unwrap_or(usize::MAX),
    ));
    let entry = AgentEntry {
        conn: conn.clone(),
        generation,
        permits,
        credential,
    };
    let old = {
        let mut agents = inner.agents();
        if inner.revalidations.load(Ordering::SeqCst) != checked_in {
            let now = (inner.clock)();
            if inner
                .verifier
                .verify_with_certificates(
                    &id,
                    entry.credential.as_str(),
                    entry.credential.certificates(),
                    now,
                )
                .is_err()
            {
                drop(agents);
                revoke(&id, &conn);
                return;
            }
        }
        let old = agents.insert(id.clone(), entry);
        set_gauge(&agents);
        // Told while the table is locked, so events follow the table's order exactly.
        if let Some(events) = &inner.events {
            if old.is_some() {
                events.disconnected(&id);
            }
            events.connected(&id);
        }
        old
    };
    if let Some(old) = old {
        tracing::warn!(
            agent = %id,
            old = %old.conn.remote_address(),
            old_transport = %old.conn.transport(),
            new = %conn.remote_address(),
            new_transport = %conn.transport(),
            "agent connection replaced by a newer authenticated connection"
        );
        metrics::counter!(AGENTS_REPLACED).increment(1);
        old.conn
            .close(close_code::REPLACED, b"replaced by a newer connection");
    }
    inner
        .tasks
        .spawn(watch(Arc::clone(inner), id, conn, generation));
}

/// Waits for the connection to end, then removes the agent (if this connection is still the
/// live one) and tells the observer.
async fn watch(inner: Arc<Inner>, id: AgentId, conn: Conn, generation: u64) {
    conn.closed().await;
    {
        let mut agents = inner.agents();
        let ours = agents.get(&id).is_some_and(|e| e.generation == generation);
        if ours {
            agents.remove(&id);
            set_gauge(&agents);
            if let Some(events) = &inner.events {
                events.disconnected(&id);
            }
        }
    }
    tracing::info!(agent = %id, transport = %conn.transport(), reason = %conn.close_reason(), "agent disconnected");
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
