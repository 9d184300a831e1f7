//! Agent ownership across gateways: which gateway holds an agent's live connection.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::agent_id::AgentId;

/// The future a [`Registry`] method returns.
pub type RegistryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// Longest owner string (a gateway address or name).
pub const MAX_OWNER_LEN: usize = 200;

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The owner is empty, longer than [`MAX_OWNER_LEN`] bytes or holds spaces or control
    /// characters.
    #[error("invalid owner")]
    InvalidOwner,
    /// The backend could not be reached or answered an error.
    #[error("registry backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where agents are connected, shared by several gateways.
///
/// An entry maps an [`AgentId`] to its *owner* (the gateway holding the agent's live
/// connection, for example its address) and expires `ttl` after it was last written, so a
/// crashed gateway's entries disappear by themselves. The operations are designed for a
/// key-value store with TTLs and compare-and-swap (memcached `set`/`gets`/`cas`/`touch`):
///
/// | operation | effect | memcached |
/// |---|---|---|
/// | `claim(a, me, ttl)` | owner := me, whatever it was (the gateway that just authenticated the agent is authoritative); returns the previous live owner | `set` (`gets` before it for the previous owner) |
/// | `refresh(a, me, ttl)` | if owner == me: extend to `ttl`, `true`; else `false` (lost ownership) | `gets`, compare, `cas` with the same value and new TTL; a failed `cas` means someone wrote in between: re-read |
/// | `release(a, me)` | if owner == me: delete, `true`; else `false` (never deletes another gateway's entry) | `gets`, compare, `cas` to an expired value (or `delete` guarded by the `cas` token) |
/// | `lookup(a)` | the live owner, if any | `get` |
///
/// Agent ids are valid memcached keys as they are (1-64 bytes, printable ASCII, no spaces);
/// a backend may add a prefix.
pub trait Registry: Send + Sync + 'static {
    /// Records `owner` as the owner of `agent` for `ttl`; returns the previous live owner.
    fn claim<'a>(
        &'a self,
        agent: &'a AgentId,
        owner: &'a str,
        ttl: Duration,
    ) -> RegistryFuture<'a, Option<String>>;

    /// Extends the entry for `ttl` if `owner` still owns it; `false` if it does not.
    fn refresh<'a>(
        &'a self,
        agent: &'a AgentId,
        owner: &'a str,
        ttl: Duration,
    ) -> RegistryFuture<'a, bool>;

    /// Deletes the entry if `owner` still owns it; `false` if it does not (then nothing is
    /// deleted).
    fn release<'a>(&'a self, agent: &'a AgentId, owner: &'a str) -> RegistryFuture<'a, bool>;

    /// The live owner of `agent`, if any.
    fn lookup<'a>(&'a self, agent: &'a AgentId) -> RegistryFuture<'a, Option<String>>;
}

/// Checks an owner string: 1 to [`MAX_OWNER_LEN`] bytes of printable ASCII without spaces.
///
/// # Errors
///
/// [`RegistryError::InvalidOwner`].
pub fn check_owner(owner: &str) -> Result<(), RegistryError> {
    let b = owner.as_bytes();
    if !b.is_empty() && b.len() <= MAX_OWNER_LEN && b.iter().all(|c| (0x21..=0x7e).contains(c)) {
        Ok(())
    } else {
        Err(RegistryError::InvalidOwner)
    }
}

/// An in-process [`Registry`] on [`tokio::time`] (so paused-time tests control expiry). For
/// one gateway, or for tests of several gateways in one process.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    entries: Mutex<HashMap<AgentId, (String, Instant)>>,
}

impl MemoryRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live entries.
    #[must_use]
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|(_, exp)| *exp > now).count()
    }

    /// Whether there is no live entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (String, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live_owner(
        map: &HashMap<AgentId, (String, Instant)>,
        agent: &AgentId,
        now: Instant,
    ) -> Option<String> {
        map.get(agent)
            .filter(|(_, exp)| *exp > now)
            .map(|(o, _)| o.clone())
    }
}

impl Registry for MemoryRegistry {
    fn claim<'a>(
        &'a self,
        agent: &'a AgentId,
        owner: &'a str,
        ttl: Duration,
    ) -> RegistryFuture<'a, Option<String>> {
        Box::pin(async move {
            check_owner(owner)?;
            let now = Instant::now();
            let mut map = self.lock();
            let previous = Self::live_owner(&map, agent, now);
            map.insert(agent.clone(), (owner.to_owned(), now + ttl));
            Ok(previous)
        })
    }

    fn refresh<'a>(
        &'a self,
        agent: &'a AgentId,
        owner: &'a str,
        ttl: Duration,
    ) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            let now = Instant::now();
            let mut map = self.lock();
            match map.get_mut(agent) {
                Some((o, exp)) if *exp > now && o == owner => {
                    *exp = now + ttl;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn release<'a>(&'a self, agent: &'a AgentId, owner: &'a str) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            let now = Instant::now();
            let mut map = self.lock();
            let ours = map
                .get(agent)
                .is_some_and(|(o, exp)| *exp > now && o == owner);
            if ours {
                map.remove(agent);
            }
            Ok(ours)
        })
    }

    fn lookup<'a>(&'a self, agent: &'a AgentId) -> RegistryFuture<'a, Option<String>> {
        Box::pin(async move { Ok(Self::live_owner(&self.lock(), agent, Instant::now())) })
    }
}
