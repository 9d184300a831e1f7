//! [`MemoryRegistry`]: one process's registry (a single gateway, and tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::lease::check_ttl;
use crate::owner::{Entry, Owner};
use crate::registry::{BoxFuture, Claim, Forget, Refresh, Registry, RegistryError, Release};

/// An in-memory [`Registry`] with the same semantics as
/// [`MemcachedRegistry`](crate::MemcachedRegistry): TTLs on tokio's clock (so tests can pause
/// and advance time), versions that change on every write. Never fails except for an invalid
/// TTL. Expired records are dropped when touched; the map holds at most one record per agent
/// id ever claimed and not released.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    records: Mutex<HashMap<String, Record>>,
    versions: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    entry: Entry,
    expires: Instant,
}

impl MemoryRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records alive now.
    #[must_use]
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.map().values().filter(|r| r.expires > now).count()
    }

    /// `true` when no record is alive.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the live record of `agent` (expired ones are removed first).
    fn with<T>(&self, agent: &str, f: impl FnOnce(&mut Slot<'_>) -> T) -> T {
        let mut map = self.map();
        let now = Instant::now();
        if map.get(agent).is_some_and(|r| r.expires <= now) {
            map.remove(agent);
        }
        let next_version = self
            .versions
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let mut slot = Slot {
            map: &mut map,
            agent,
            now,
            next_version,
        };
        f(&mut slot)
    }
}

struct Slot<'m> {
    map: &'m mut HashMap<String, Record>,
    agent: &'m str,
    now: Instant,
    next_version: u64,
}

impl Slot<'_> {
    fn current(&self) -> Option<Entry> {
        self.map.get(self.agent).map(|r| r.entry)
    }

    fn write(&mut self, owner: Owner, ttl: Duration) {
        let entry = Entry {
            owner,
            version: self.next_version,
        };
        self.map.insert(
            self.agent.to_owned(),
            Record {
                entry,
                expires: self.now + ttl,
            },
        );
    }

    fn delete(&mut self) {
        self.map.remove(self.agent);
    }
}

impl Registry for MemoryRegistry {
    fn claim<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, RegistryError>> {
        Box::pin(async move {
            check_ttl(ttl)?;
            Ok(self.with(agent, |slot| match slot.current() {
                None => {
                    slot.write(*me, ttl);
                    Claim::Claimed
                }
                Some(e) if e.owner == *me => {
                    slot.write(*me, ttl);
                    Claim::AlreadyOurs
                }
                Some(e) => Claim::Held(e.owner),
            }))
        })
    }

    fn refresh<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Refresh, RegistryError>> {
        Box::pin(async move {
            check_ttl(ttl)?;
            Ok(self.with(agent, |slot| match slot.current() {
                None => {
                    slot.write(*me, ttl);
                    Refresh::Recreated
                }
                Some(e) if e.owner == *me => {
                    slot.write(*me, ttl);
                    Refresh::Refreshed
                }
                Some(e) => Refresh::Lost(e.owner),
            }))
        })
    }

    fn release<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
    ) -> BoxFuture<'a, Result<Release, RegistryError>> {
        Box::pin(async move {
            Ok(self.with(agent, |slot| match slot.current() {
                None => Release::Gone,
                Some(e) if e.owner == *me => {
                    slot.delete();
                    Release::Released
                }
                Some(e) => Release::NotOurs(e.owner),
            }))
        })
    }

    fn lookup<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<Option<Entry>, RegistryError>> {
        Box::pin(async move { Ok(self.with(agent, |slot| slot.current())) })
    }

    fn forget_stale<'a>(
        &'a self,
        agent: &'a str,
        seen: &'a Entry,
    ) -> BoxFuture<'a, Result<Forget, RegistryError>> {
        Box::pin(async move {
            Ok(self.with(agent, |slot| match slot.current() {
                None => Forget::Gone,
                Some(e) if e == *seen => {
                    slot.delete();
                    Forget::Forgotten
                }
                Some(_) => Forget::Changed,
            }))
        })
    }
}
