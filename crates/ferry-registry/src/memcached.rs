//! [`MemcachedRegistry`]: the registry shared by several gateways, in memcached (one server,
//! or several with each key on one of them by rendezvous hashing).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ferry_memcache::resolve::SharedResolver;
use ferry_memcache::{Client, ClientConfig, Deleted, Key, Stored};

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
/// Each record is the [`crate::record`] layout under [`agent_key`], stored with the lease TTL,
/// on one server: with several servers ([`MemcachedRegistry::spread`]) the key's server is
/// chosen by rendezvous hashing ([`server_for`]), from the servers' names only, so every
/// gateway configured with the same servers (in any order) uses the same server for an agent,
/// and removing a server moves only the keys that were on it. A server that is down makes the
/// calls for its keys fail ([`RegistryError::Unavailable`]); its keys are never moved to
/// another server while it is configured (two gateways disagreeing on which servers are up
/// would otherwise write two records for one agent).
///
/// Writes are conditional: `add` when there is no record, compare-and-swap on the token just
/// read otherwise, delete only with that token. A call makes at most `2 × 3` round trips,
/// each bounded by the client's operation timeout ([`ClientConfig::op_timeout`], default
/// 500 ms); while memcached is down the first round trip fails and the call returns
/// [`RegistryError::Unavailable`]. Nothing is cached and nothing reconnects in the background:
/// the next call after memcached is back simply works.
#[derive(Clone, Debug)]
pub struct MemcachedRegistry {
    /// The servers, never empty (so no lookup can miss); names ([`Client::server`]) distinct.
    servers: Vec<Client>,
    /// `servers[0]`.
    first: Client,
}

/// One memcached server of a [`MemcachedRegistry`]: an address, or a host name resolved when
/// connecting and again when connecting fails.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Server {
    /// `IP:PORT` or `[IPv6]:PORT`.
    Addr(SocketAddr),
    /// `host:PORT`.
    Name {
        /// The host name, lowercase.
        host: String,
        /// The port.
        port: u16,
    },
}

impl Server {
    /// A server named `host` (lowercased here) on `port`.
    #[must_use]
    pub fn host(host: &str, port: u16) -> Self {
        Self::Name {
            host: host.to_ascii_lowercase(),
            port,
        }
    }
}

/// The server's name in the rendezvous scheme: `IP:PORT`, `[IPv6]:PORT` or `host:PORT`.
impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(a) => write!(f, "{a}"),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// A set of memcached servers [`MemcachedRegistry::spread`] cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServersError {
    /// No server.
    #[error("no memcached server")]
    Empty,
    /// Two clients name the same server (the name is the key of rendezvous hashing).
    #[error("memcached server {0} is listed twice")]
    Duplicate(String),
}

/// The index, in `servers`, of the server that holds `key`: the highest rendezvous score
/// ([`score`]), the lowest name on a tie; `None` when `servers` is empty.
///
/// Normative text: the crate's [`spec`](crate::spec), "Several memcached servers".
#[must_use]
pub fn server_for<S: AsRef<str>>(key: &Key, servers: &[S]) -> Option<usize> {
    let mut best: Option<(u64, &str, usize)> = None;
    for (i, name) in servers.iter().enumerate() {
        let name = name.as_ref();
        let s = score(name, key);
        let better = match best {
            None => true,
            Some((bs, bn, _)) => s > bs || (s == bs && name < bn),
        };
        if better {
            best = Some((s, name, i));
        }
    }
    best.map(|(_, _, i)| i)
}

/// A server's rendezvous score for `key`: the first 8 bytes, big-endian, of
/// SHA-256(`server` ‖ `0x00` ‖ `key`).
#[must_use]
pub fn score(server: &str, key: &Key) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(server.as_bytes());
    ctx.update(&[0]);
    ctx.update(key.as_str().as_bytes());
    let digest = ctx.finish();
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(digest.as_ref()) {
        *dst = *src;
    }
    u64::from_be_bytes(first)
}

impl MemcachedRegistry {
    /// A registry over `client` (one server).
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self {
            servers: vec![client.clone()],
            first: client,
        }
    }

    /// A registry over several servers, each agent's record on the one [`server_for`] picks
    /// by the clients' names ([`Client::server`]). The order of `clients` does not matter.
    ///
    /// # Errors
    ///
    /// [`ServersError`] when `clients` is empty or names a server twice.
    pub fn spread(clients: Vec<Client>) -> Result<Self, ServersError> {
        let first = clients.first().ok_or(ServersError::Empty)?.clone();
        for (i, c) in clients.iter().enumerate() {
            if clients.iter().take(i).any(|o| o.server() == c.server()) {
                return Err(ServersError::Duplicate(c.server().to_owned()));
            }
        }
        Ok(Self {
            servers: clients,
            first,
        })
    }

    /// A registry for the memcached server at `addr`, with `op_timeout` per round trip (other
    /// client settings default).
    #[must_use]
    pub fn connect(addr: SocketAddr, op_timeout: Duration) -> Self {
        let mut config = ClientConfig::default();
        config.op_timeout = op_timeout;
        Self::new(Client::new(addr, config))
    }

    /// A registry over `servers` (one or several, see [`MemcachedRegistry::spread`]), with
    /// `op_timeout` per round trip (other client settings default); host names are resolved
    /// through `resolver` (`ferry_memcache::resolve::system()` in programs).
    ///
    /// # Errors
    ///
    /// [`ServersError`] when `servers` is empty or names a server twice.
    pub fn open(
        servers: &[Server],
        op_timeout: Duration,
        resolver: &SharedResolver,
    ) -> Result<Self, ServersError> {
        let mut config = ClientConfig::default();
        config.op_timeout = op_timeout;
        let clients = servers
            .iter()
            .map(|s| match s {
                Server::Addr(a) => Client::new(*a, config.clone()),
                Server::Name { host, port } => {
                    Client::resolving(host, *port, std::sync::Arc::clone(resolver), config.clone())
                }
            })
            .collect();
        Self::spread(clients)
    }

    /// The clients, one per server, in the order given (for health checks: [`Client::noop`]).
    #[must_use]
    pub fn clients(&self) -> &[Client] {
        &self.servers
    }

    /// The client of the server that holds `agent`'s record.
    #[must_use]
    pub fn client_for(&self, agent: &str) -> &Client {
        self.shard(&agent_key(agent))
    }

    fn shard(&self, key: &Key) -> &Client {
        if self.servers.len() == 1 {
            return &self.first;
        }
        let names: Vec<&str> = self.servers.iter().map(Client::server).collect();
        server_for(key, &names)
            .and_then(|i| self.servers.get(i))
            .unwrap_or(&self.first)
    }

    async fn claim_inner(
        &self,
        agent: &str,
        me: &Owner,
        ttl: Duration,
    ) -> Result<Claim, RegistryError> {
        let ttl = check_ttl(ttl)?;
        let key = agent_key(agent);
        let client = self.shard(&key);
        let value = encode(me);
        for _ in 0..ATTEMPTS {
            if let Stored::Stored { .. } = client.add(&key, &value, ttl).await.map_err(err)? {
                return Ok(Claim::Claimed);
            }
            let Some(item) = client.get(&key).await.map_err(err)? else {
                continue; // expired or released between add and get
            };
            let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
            if owner != *me {
                return Ok(Claim::Held(owner));
            }
            let cas = client.compare_and_swap(&key, &value, ttl, item.cas);
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
        let client = self.shard(&key);
        let value = encode(me);
        for _ in 0..ATTEMPTS {
            match client.get(&key).await.map_err(err)? {
                None => {
                    let add = client.add(&key, &value, ttl);
                    if let Stored::Stored { .. } = add.await.map_err(err)? {
                        return Ok(Refresh::Recreated);
                    }
                }
                Some(item) => {
                    let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
                    if owner != *me {
                        return Ok(Refresh::Lost(owner));
                    }
                    let cas = client.compare_and_swap(&key, &value, ttl, item.cas);
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
        let client = self.shard(&key);
        for _ in 0..ATTEMPTS {
            let Some(item) = client.get(&key).await.map_err(err)? else {
                return Ok(Release::Gone);
            };
            let owner = decode(&item.value).map_err(RegistryError::Unreadable)?;
            if owner != *me {
                return Ok(Release::NotOurs(owner));
            }
            match client.delete_if(&key, item.cas).await.map_err(err)? {
                Deleted::Deleted => return Ok(Release::Released),
                Deleted::NotFound => return Ok(Release::Gone),
                _ => {} // refreshed meanwhile (by us, from another task): read again
            }
        }
        Err(RegistryError::Contended)
    }

    async fn lookup_inner(&self, agent: &str) -> Result<Option<Entry>, RegistryError> {
        let key = agent_key(agent);
        let Some(item) = self.shard(&key).get(&key).await.map_err(err)? else {
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
        let deleted = self.shard(&key).delete_if(&key, seen.version);
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
        | ferry_memcache::Error::Resolve(_)
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

#[cfg(test)]
mod tests {
    use super::*;

    const SERVERS: [&str; 3] = [
        "10.0.0.9:11211",
        "10.0.0.10:11211",
        "cache-2.internal:11211",
    ];

    /// The vectors of `docs/registry.md` ("Several memcached servers"), computed outside Rust.
    #[test]
    fn rendezvous_vectors() {
        let edge1 = agent_key("edge-1");
        assert_eq!(score(SERVERS[0], &edge1), 0xdb0f_dcb4_ff42_137b);
        assert_eq!(score(SERVERS[1], &edge1), 0x800e_1cc0_72a7_83c5);
        assert_eq!(score(SERVERS[2], &edge1), 0x0c42_8082_a004_2aa8);
        for (agent, server) in [
            ("edge-1", 0),
            ("edge-2", 2),
            ("edge-5", 1),
            ("edge-6", 2),
            ("edge-7", 0),
            ("edge-8", 1),
        ] {
            assert_eq!(
                server_for(&agent_key(agent), &SERVERS),
                Some(server),
                "{agent}"
            );
        }
    }

    #[test]
    fn the_order_of_the_servers_does_not_matter() {
        let reversed: Vec<&str> = SERVERS.iter().rev().copied().collect();
        for i in 0..200 {
            let key = agent_key(&format!("agent-{i}"));
            let a = server_for(&key, &SERVERS).map(|i| SERVERS[i]);
            let b = server_for(&key, &reversed).map(|i| reversed[i]);
            assert_eq!(a, b);
        }
        assert_eq!(server_for::<&str>(&agent_key("x"), &[]), None);
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let fewer = [SERVERS[0], SERVERS[2]];
        for i in 0..500 {
            let key = agent_key(&format!("agent-{i}"));
            let before = server_for(&key, &SERVERS).map(|i| SERVERS[i]);
            let after = server_for(&key, &fewer).map(|i| fewer[i]);
            if before != Some(SERVERS[1]) {
                assert_eq!(before, after, "a key of a kept server moved");
            }
        }
    }

    #[test]
    fn spread_refuses_no_server_and_a_server_twice() {
        let c = |a: &str| Client::new(a.parse().unwrap(), ClientConfig::default());
        assert_eq!(
            MemcachedRegistry::spread(vec![]).unwrap_err(),
            ServersError::Empty
        );
        assert_eq!(
            MemcachedRegistry::spread(vec![c("10.0.0.9:1"), c("10.0.0.8:1"), c("10.0.0.9:1")])
                .unwrap_err(),
            ServersError::Duplicate("10.0.0.9:1".to_owned())
        );
        let r = MemcachedRegistry::spread(vec![c("10.0.0.9:11211"), c("10.0.0.10:11211")]).unwrap();
        assert_eq!(r.client_for("edge-1").server(), "10.0.0.9:11211");
        assert_eq!(r.client_for("edge-5").server(), "10.0.0.10:11211");
    }
}
