//! Checking connected agents again after the verifier's data changed.

use std::sync::atomic::Ordering;

use super::Gateway;
use super::agents::{remove_member, revoke};
use super::held::HeldCredential;
use crate::agent_id::AgentId;
use crate::verifier::AgentRejected;

/// What one [`Gateway::revalidate`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revalidated {
    /// Agents checked (every connected agent at the start of the round; each connection of an
    /// agent's group is checked on its own).
    pub checked: usize,
    /// Agents with a connection whose credential was refused: that connection is
    /// disconnected with close code 1
    /// (`auth_rejected`, reason `credential revoked`), their tunnels cut.
    pub revoked: Vec<AgentId>,
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
        // Verified outside the lock (JWT signatures cost tens of microseconds each). Every
        // connection of an agent's group authenticated on its own: each is checked (a
        // credential its group shares is verified once).
        let (agents, snapshot): (usize, Vec<_>) = {
            let table = inner.agents();
            let snapshot = table
                .iter()
                .flat_map(|(id, e)| {
                    e.members
                        .iter()
                        .map(|m| (id.clone(), m.generation, m.credential.clone()))
                })
                .collect();
            (table.len(), snapshot)
        };
        let mut done = Revalidated {
            checked: agents,
            ..Revalidated::default()
        };
        // The members of a group come one after the other in the snapshot and usually hold
        // the same credential and certificates: each distinct one is verified once per round.
        let mut agent: Option<&AgentId> = None;
        let mut verdicts: Vec<(&HeldCredential, Result<(), AgentRejected>)> = Vec::new();
        let mut undecided: Option<&AgentId> = None;
        for (id, generation, credential) in &snapshot {
            if agent != Some(id) {
                agent = Some(id);
                verdicts.clear();
            }
            let known = verdicts.iter().find(|(c, _)| c.same(credential));
            let verdict = match known {
                Some(&(_, verdict)) => verdict,
                None => {
                    let verdict = inner.verifier.verify_with_certificates(
                        id,
                        credential.as_str(),
                        credential.certificates(),
                        now,
                    );
                    verdicts.push((credential, verdict));
                    verdict
                }
            };
            match verdict {
                Ok(()) => {}
                Err(AgentRejected::Unavailable) => {
                    if undecided != Some(id) {
                        undecided = Some(id);
                        done.undecided += 1;
                    }
                }
                Err(_) => {
                    let removed = {
                        let mut agents = inner.agents();
                        remove_member(inner, &mut agents, id, *generation)
                    };
                    if let Some((member, _)) = removed {
                        revoke(id, &member.conn);
                        if done.revoked.last() != Some(id) {
                            done.revoked.push(id.clone());
                        }
                    }
                }
            }
        }
        done
    }
}
