//! Checking connected agents again after the verifier's data changed.

use std::sync::atomic::Ordering;

use super::Gateway;
use super::agents::{revoke, set_gauge};
use crate::verifier::AgentRejected;

/// What one [`Gateway::revalidate`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revalidated {
    /// Agents checked (every connected agent at the start of the round).
    pub checked: usize,
    /// Agents whose credential was refused: disconnected with close code 1
    /// (`auth_rejected`, reason `credential revoked`), their tunnels cut.
    pub revoked: Vec<crate::AgentId>,
    /// Agents the verifier could not decide about ([`AgentRejected::Unavailable`]): kept.
    pub undecided: usize,
}

impl Gateway {
    /// Verifies the credential of every connected agent again, with the gateway's verifier
    /// and clock, and disconnects those refused ([`AgentRejected::BadCredential`]): each is
    /// removed from the table at once (new tunnels to it fail with `NotConnected`), its
    /// connection is closed with code 1 (`auth_rejected`) and the reason `credential
    /// revoked`, which cuts its tunnels, and it is counted in
    /// `ferry_tunnel_agents_revoked_total`. When it reconnects it is verified like any new
    /// agent. An agent the verifier cannot decide about ([`AgentRejected::Unavailable`]) is
    /// kept.
    ///
    /// Call it after the data behind the verifier changed (a reloaded token file or key set):
    /// agents that authenticate while it runs are verified again when they register, so none
    /// slips through with a credential checked against the old data.
    pub fn revalidate(&self) -> Revalidated {
        let inner = &self.inner;
        inner.revalidations.fetch_add(1, Ordering::SeqCst);
        let now = (inner.clock)();
        // Verified outside the lock (JWT signatures cost tens of microseconds each).
        let snapshot: Vec<_> = inner
            .agents()
            .iter()
            .map(|(id, e)| (id.clone(), e.generation, e.credential.clone()))
            .collect();
        let mut done = Revalidated {
            checked: snapshot.len(),
            ..Revalidated::default()
        };
        for (id, generation, credential) in snapshot {
            let verdict = inner.verifier.verify_with_certificates(
                &id,
                credential.as_str(),
                credential.certificates(),
                now,
            );
            match verdict {
                Ok(()) => {}
                Err(AgentRejected::Unavailable) => done.undecided += 1,
                Err(_) => {
                    let removed = {
                        let mut agents = inner.agents();
                        let ours = agents.get(&id).is_some_and(|e| e.generation == generation);
                        let removed = if ours { agents.remove(&id) } else { None };
                        if removed.is_some() {
                            set_gauge(&agents);
                            if let Some(events) = &inner.events {
                                events.disconnected(&id);
                            }
                        }
                        removed
                    };
                    if let Some(entry) = removed {
                        revoke(&id, &entry.conn);
                        done.revoked.push(id);
                    }
                }
            }
        }
        done
    }
}
