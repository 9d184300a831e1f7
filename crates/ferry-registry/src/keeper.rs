//! [`Keeper`]: one gateway's side of the protocol, the claims of its connected agents kept
//! alive by a heartbeat.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::lease::Lease;
use crate::owner::Owner;
use crate::registry::{Claim, Refresh, Registry, RegistryError, Release};

/// Where a locally connected agent's record stands, as of the last registry call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Standing {
    /// The record names this gateway.
    Owned,
    /// Another gateway's fresh record names it; retried on the next heartbeat.
    Held(Owner),
    /// The last call failed (registry unreachable, unreadable record); retried on the next
    /// heartbeat. Local clients are served regardless.
    Unknown,
}

/// What one [`Keeper::beat`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Beat {
    /// Agents whose record names this gateway after the beat.
    pub owned: usize,
    /// Agents whose record names another gateway.
    pub held: usize,
    /// Agents whose registry call failed.
    pub failed: usize,
}

/// Keeps the records of the agents connected to this gateway: claim when an agent connects,
/// refresh (or claim again) every heartbeat, release when it disconnects.
///
/// The policy it implements: never overwrite another gateway's record; when another gateway
/// holds an agent that is connected here, retry the claim on each heartbeat (the other
/// record ends when its owner releases it, stops refreshing it, or is forgotten as stale);
/// registry failures are logged and retried on the next heartbeat, they never disconnect an
/// agent.
pub struct Keeper {
    registry: Arc<dyn Registry>,
    me: Owner,
    lease: Lease,
    agents: Mutex<HashMap<String, Standing>>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("me", &self.me)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Keeper {
    /// A keeper writing `me` into `registry` with `lease`.
    #[must_use]
    pub fn new(registry: Arc<dyn Registry>, me: Owner, lease: Lease) -> Self {
        Self {
            registry,
            me,
            lease,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// This gateway's owner record.
    #[must_use]
    pub fn me(&self) -> &Owner {
        &self.me
    }

    fn agents(&self) -> std::sync::MutexGuard<'_, HashMap<String, Standing>> {
        self.agents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The standing of a locally connected agent; `None` when it is not connected here.
    #[must_use]
    pub fn standing(&self, agent: &str) -> Option<Standing> {
        self.agents().get(agent).copied()
    }

    fn set(&self, agent: &str, standing: Standing) -> bool {
        match self.agents().get_mut(agent) {
            Some(s) => {
                *s = standing;
                true
            }
            None => false,
        }
    }

    /// `agent` connected here: remember it and claim its record now.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] from the claim; the agent stays remembered and the claim is retried
    /// on the next [`Keeper::beat`].
    pub async fn connected(&self, agent: &str) -> Result<Claim, RegistryError> {
        self.agents().insert(agent.to_owned(), Standing::Unknown);
        let claim = self.registry.claim(agent, &self.me, self.lease.ttl()).await;
        self.set(agent, standing_of_claim(claim.as_ref().ok()));
        claim
    }

    /// `agent` disconnected from here: forget it and release its record if it is ours.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] from the release; the record then ends with its TTL.
    pub async fn disconnected(&self, agent: &str) -> Result<Release, RegistryError> {
        self.agents().remove(agent);
        self.registry.release(agent, &self.me).await
    }

    /// One heartbeat: refresh every owned record, claim every other one again. An agent that
    /// disconnects during the beat is released afterwards, so the beat never leaves a record
    /// for an agent that is gone.
    ///
    /// The agents' registry calls run concurrently, at most [`BEAT_CONCURRENCY`] at once, so
    /// a registry server that hangs (each call waiting for its operation timeout) delays only
    /// the records kept on that server, not the renewal of the others. Must run inside a Tokio
    /// runtime (the calls are spawned as tasks).
    pub async fn beat(&self) -> Beat {
        let agents: Vec<(String, Standing)> =
            self.agents().iter().map(|(a, s)| (a.clone(), *s)).collect();
        let slots = Arc::new(Semaphore::new(BEAT_CONCURRENCY));
        let mut calls = JoinSet::new();
        for (agent, standing) in agents {
            let registry = Arc::clone(&self.registry);
            let me = self.me;
            let ttl = self.lease.ttl();
            let slots = Arc::clone(&slots);
            calls.spawn(async move {
                // Never closed, so the permit always comes.
                let _slot = slots.acquire_owned().await.ok();
                let now = renew(registry.as_ref(), &agent, standing, &me, ttl).await;
                (agent, now)
            });
        }
        let mut beat = Beat::default();
        while let Some(done) = calls.join_next().await {
            let Ok((agent, now)) = done else {
                // A panicking registry call: counted as failed, retried next beat.
                beat.failed += 1;
                continue;
            };
            match now {
                Standing::Owned => beat.owned += 1,
                Standing::Held(_) => beat.held += 1,
                Standing::Unknown => beat.failed += 1,
            }
            if !self.set(&agent, now) && now == Standing::Owned {
                // Disconnected while we wrote: undo.
                let _ = self.registry.release(&agent, &self.me).await;
            }
        }
        beat
    }

    /// Beats every [`Lease::heartbeat`] until `shutdown` completes, then releases the records
    /// of every agent still connected (best effort: failures leave them to their TTL).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.lease.heartbeat());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => { self.beat().await; }
            }
        }
        let agents: Vec<String> = self.agents().drain().map(|(a, _)| a).collect();
        for agent in agents {
            let _ = self.registry.release(&agent, &self.me).await;
        }
    }
}

/// Registry calls one [`Keeper::beat`] has in flight at once, at most.
pub const BEAT_CONCURRENCY: usize = 64;

/// One agent's registry call in a beat: refresh an owned record, claim any other.
async fn renew(
    registry: &dyn Registry,
    agent: &str,
    standing: Standing,
    me: &Owner,
    ttl: std::time::Duration,
) -> Standing {
    if standing == Standing::Owned {
        match registry.refresh(agent, me, ttl).await {
            Ok(Refresh::Refreshed | Refresh::Recreated) => Standing::Owned,
            Ok(Refresh::Lost(other)) => {
                tracing::warn!(agent, owner = %other, "agent record taken by another gateway");
                Standing::Held(other)
            }
            Err(e) => {
                tracing::warn!(agent, error = %e, "registry refresh failed");
                Standing::Unknown
            }
        }
    } else {
        let claim = registry.claim(agent, me, ttl).await;
        if let Err(e) = &claim {
            tracing::warn!(agent, error = %e, "registry claim failed");
        }
        standing_of_claim(claim.as_ref().ok())
    }
}

fn standing_of_claim(claim: Option<&Claim>) -> Standing {
    match claim {
        Some(Claim::Claimed | Claim::AlreadyOurs) => Standing::Owned,
        Some(Claim::Held(owner)) => Standing::Held(*owner),
        _ => Standing::Unknown,
    }
}
