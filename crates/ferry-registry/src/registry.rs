//! The [`Registry`] trait, its outcomes and its error.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::owner::{Entry, Owner};
use crate::record::RecordError;

/// A boxed future, the return type of [`Registry`]'s methods (so the trait is object safe:
/// `Arc<dyn Registry>` works; one allocation per call is nothing next to a network round
/// trip).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Registry::claim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// There was no record; now there is one naming us.
    Claimed,
    /// The record already named us; its TTL was renewed.
    AlreadyOurs,
    /// Another gateway's fresh record: left alone. Retry on the next heartbeat.
    Held(Owner),
}

/// What [`Registry::refresh`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refresh {
    /// Our record's TTL was renewed.
    Refreshed,
    /// There was no record (it expired, or memcached restarted empty); one naming us was
    /// written again.
    Recreated,
    /// Another gateway's record is there now: we are no longer the owner.
    Lost(Owner),
}

/// What [`Registry::release`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Release {
    /// Our record was deleted.
    Released,
    /// There was no record.
    Gone,
    /// The record names another gateway: left alone.
    NotOurs(Owner),
}

/// What [`Registry::forget_stale`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forget {
    /// The exact record that was read is deleted.
    Forgotten,
    /// The record changed since it was read (its owner refreshed it, or another claimed the
    /// agent): left alone.
    Changed,
    /// There was no record.
    Gone,
}

/// A registry operation failed; the registry's state is unknown to the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The store could not be reached, or did not answer within its operation timeout.
    #[error("registry store is unreachable or did not answer in time")]
    Unavailable(#[source] ferry_memcache::Error),
    /// The store answered, but with something unusable (a protocol or server error).
    #[error("registry store answered with an unusable response")]
    Store(#[source] ferry_memcache::Error),
    /// The agent's record cannot be decoded (written by another version or another program).
    /// It is treated as held by someone else until its TTL ends.
    #[error("registry record for the agent is unreadable")]
    Unreadable(#[source] RecordError),
    /// The TTL is zero or longer than memcached's 30 days.
    #[error("ttl {0:?} is outside 1 s to 30 days")]
    InvalidTtl(Duration),
    /// The record changed under us on every attempt (several writers racing).
    #[error("registry record kept changing during the operation")]
    Contended,
}

impl RegistryError {
    /// `true` when the store was unreachable or too slow (as opposed to an answer that could
    /// not be used): the error of an outage.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Agent ownership shared by the gateways.
///
/// Every write checks what is stored first and changes it only with an atomic condition
/// (memcached `add`, or compare-and-swap on the token just read), so **a gateway never deletes
/// or overwrites another gateway's record while it exists**. Records carry a TTL renewed by
/// their owner's heartbeat; a crashed owner's records disappear when it ends, or earlier
/// through [`Registry::forget_stale`] once a forward to that owner failed.
///
/// `agent` may be any string: ids that do not fit memcached's key rules are hashed (see
/// [`agent_key`](crate::agent_key)). Implementations bound every call in time
/// ([`MemcachedRegistry`](crate::MemcachedRegistry): its client's operation timeout per
/// round trip).
pub trait Registry: Send + Sync + 'static {
    /// Records `me` as `agent`'s owner for `ttl` unless another gateway's record exists.
    ///
    /// # Errors
    ///
    /// [`RegistryError`]; on error the caller retries on its next heartbeat.
    fn claim<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, RegistryError>>;

    /// The heartbeat: renews our record for `ttl`, writes it again if it is gone, reports
    /// [`Refresh::Lost`] if another gateway's record is there.
    ///
    /// # Errors
    ///
    /// As [`Registry::claim`].
    fn refresh<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Refresh, RegistryError>>;

    /// Deletes `agent`'s record only if it still names `me` (compare-and-swap delete).
    ///
    /// # Errors
    ///
    /// As [`Registry::claim`] (except [`RegistryError::InvalidTtl`]).
    fn release<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
    ) -> BoxFuture<'a, Result<Release, RegistryError>>;

    /// `agent`'s current record, if any.
    ///
    /// # Errors
    ///
    /// As [`Registry::release`].
    fn lookup<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<Option<Entry>, RegistryError>>;

    /// Deletes `agent`'s record only if it is still exactly `seen` (same owner, same version):
    /// the cleanup after a failed forward to `seen.owner`.
    ///
    /// # Errors
    ///
    /// As [`Registry::release`].
    fn forget_stale<'a>(
        &'a self,
        agent: &'a str,
        seen: &'a Entry,
    ) -> BoxFuture<'a, Result<Forget, RegistryError>>;
}

impl<R: Registry + ?Sized> Registry for std::sync::Arc<R> {
    fn claim<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, RegistryError>> {
        (**self).claim(agent, me, ttl)
    }
    fn refresh<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Refresh, RegistryError>> {
        (**self).refresh(agent, me, ttl)
    }
    fn release<'a>(
        &'a self,
        agent: &'a str,
        me: &'a Owner,
    ) -> BoxFuture<'a, Result<Release, RegistryError>> {
        (**self).release(agent, me)
    }
    fn lookup<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<Option<Entry>, RegistryError>> {
        (**self).lookup(agent)
    }
    fn forget_stale<'a>(
        &'a self,
        agent: &'a str,
        seen: &'a Entry,
    ) -> BoxFuture<'a, Result<Forget, RegistryError>> {
        (**self).forget_stale(agent, seen)
    }
}
