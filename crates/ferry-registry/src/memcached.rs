//! [`MemcachedRegistry`]: the registry shared by several gateways, in memcached.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_memcache::{Client, ClientConfig, Deleted, Stored};

use crate::key::agent_key;
use crate::lease::check_ttl;
use crate::owner::{Entry, Owner};
use crate::record::{decode, encode};
use crate::registry::{BoxFuture, Claim, Forget, Refresh, Registry, RegistryError, Release};

/// Read-then-write rounds before [`RegistryError::Contended`]: a round only repeats when the
/// record changed between the read and the conditional write.
const ATTEMPTS: usize = 3;

/// A [`Registry`] in memcached, through `ferry-memcache`'s meta-protocol client.
///
/// Each record is the [`crate::record`] layout under [`agent_key`], stored with the lease TTL.
/// Writes are conditional: `add` when there is no record, compare-and-swap on the token just
/// read otherwise, delete only with that token. A call makes at most `2 × 3` round trips,
/// each bounded by the client's operation timeout ([`ClientConfig::op_timeout`], default
/// 500 ms); while memcached is down the first round trip fails and the call returns
/// [`RegistryError::Unavailable`]. Nothing is cached and nothing reconnects in the background:
/// the next call after memcached is back simply works.
#[derive(Clone, Debug)]
pub struct MemcachedRegistry {
    client: Client,
}

impl MemcachedRegistry {
    /// A registry over `client`.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A registry for the memcached server at `addr`, with `op_timeout` per round trip (other
    /// client settings default).
    #[must_use]
    pub fn connect(addr: SocketAddr, op_timeout: Duration) -> Self {
        let mut config = ClientConfig::default();
        config.op_timeout = op_timeout;
        Self::new(Client::new(addr, config))
    }

    /// The client (for health checks: [`Client::noop`]).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn claim_inner(
        &self,
        agent: &str,
        me: &Owner,
        ttl: Duration,
    ) -> Result<Claim, RegistryError> {
        let ttl = check_ttl(ttl)?;
        let key = agent_key(agent);
        let value = encode(me);
        for _ in 0..ATTEMPTS {
            if let Stored::Stored { .. } = self.client.add(&key, &value, ttl).await.map_err(err)? {
                return Ok(Claim::Claimed);
            }
            let Some(item) = self.client.get(&key).await.map_err(err)? else {
                continue; // expired or released between add and get
            };
            let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
            if owner != *me {
                return Ok(Claim::Held(owner));
            }
            let cas = self.client.compare_and_swap(&key, &value, ttl, item.cas);
            if let Stored::Stored { .. } = cas.await.map_err(err)? {
                return Ok(Claim::AlreadyOurs);
            }
        }
        Err(RegistryError::Contended)
    }

    async fn refresh_inner(
        &self,
        agent: &str,
        me: &Owner,
        ttl: Duration,
    ) -> Result<Refresh, RegistryError> {
        let ttl = check_ttl(ttl)?;
        let key = agent_key(agent);
        let value = encode(me);
        for _ in 0..ATTEMPTS {
            match self.client.get(&key).await.map_err(err)? {
                None => {
                    let add = self.client.add(&key, &value, ttl);
                    if let Stored::Stored { .. } = add.await.map_err(err)? {
                        return Ok(Refresh::Recreated);
                    }
                }
                Some(item) => {
                    let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
                    if owner != *me {
                        return Ok(Refresh::Lost(owner));
                    }
                    let cas = self.client.compare_and_swap(&key, &value, ttl, item.cas);
                    if let Stored::Stored { .. } = cas.await.map_err(err)? {
                        return Ok(Refresh::Refreshed);
                    }
                }
            }
        }
        Err(RegistryError::Contended)
    }

    async fn release_inner(&self, agent: &str, me: &Owner) -> Result<Release, RegistryError> {
        let key = agent_key(agent);
        for _ in 0..ATTEMPTS {
            let Some(item) = self.client.get(&key).await.map_err(err)? else {
                return Ok(Release::Gone);
            };
            let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
            if owner != *me {
                return Ok(Release::NotOurs(owner));
            }
            match self.client.delete_if(&key, item.cas).await.map_err(err)? {
                Deleted::Deleted => return Ok(Release::Released),
                Deleted::NotFound => return Ok(Release::Gone),
                _ => {} // refreshed meanwhile (by us, from another task): read again
            }
        }
        Err(RegistryError::Contended)
    }

    async fn lookup_inner(&self, agent: &str) -> Result<Option<Entry>, RegistryError> {
        let Some(item) = self.client.get(&agent_key(agent)).await.map_err(err)? else {
            return Ok(None);
        };
        let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
        Ok(Some(Entry {
            owner,
            version: item.cas,
        }))
    }

    async fn forget_inner(&self, agent: &str, seen: &Entry) -> Result<Forget, RegistryError> {
        // One conditional delete: the token names exactly the record that was read.
        let key = agent_key(agent);
        let deleted = self.client.delete_if(&key, seen.version);
        Ok(match deleted.await.map_err(err)? {
            Deleted::Deleted => Forget::Forgotten,
            Deleted::NotFound => Forget::Gone,
            _ => Forget::Changed,
        })
    }
}

fn err(e: ferry_memcache::Error) -> RegistryError {
    match e {
        ferry_memcache::Error::Connect(_)
        | ferry_memcache::Error::Io(_)
        | ferry_memcache::Error::Timeout => RegistryError::Unavailable(e),
        other => RegistryError::Store(other),
    }
}

impl Registry for MemcachedRegistry {
    fn claim<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, RegistryError>> {
        Box::pin(self.claim_inner(agent, me, ttl))
    }

    fn refresh<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Refresh, RegistryError>> {
        Box::pin(self.refresh_inner(agent, me, ttl))
    }

    fn release<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
    ) -> BoxFuture<'a, Result<Release, RegistryError>> {
        Box::pin(self.release_inner(agent, me))
    }

    fn lookup<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<Option<Entry>, RegistryError>> {
        Box::pin(self.lookup_inner(agent))
    }

    fn forget_stale<'a>(
        &'a self,
        agent: &'a str,
        seen: &'a Entry,
    ) -> BoxFuture<'a, Result<Forget, RegistryError>> {
        Box::pin(self.forget_inner(agent, seen))
    }
}
