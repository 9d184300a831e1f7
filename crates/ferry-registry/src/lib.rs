//! Agent ownership for several reverse-tunnel gateways: which gateway holds an agent's
//! connection, so that any gateway can forward a client to it.
//!
//! # What it does
//!
//! - [`Registry`]: claim, heartbeat refresh, release, lookup, and stale-record cleanup, with
//!   typed outcomes ([`Claim`], [`Refresh`], [`Release`], [`Forget`]). Object safe
//!   (`Arc<dyn Registry>`); methods return boxed futures.
//! - [`MemcachedRegistry`]: the shared implementation on memcached (`ferry-memcache`'s meta
//!   protocol client); every round trip bounded by the client's operation timeout, so an
//!   outage fails fast with [`RegistryError::Unavailable`] and recovery needs nothing. Servers
//!   are addresses or host names (resolved when connecting, again when connecting fails);
//!   with several servers each agent's record is on one of them, chosen by rendezvous hashing
//!   ([`server_for`]).
//! - [`MemoryRegistry`]: the same semantics in one process (a single gateway, tests), on
//!   tokio's clock.
//! - [`Keeper`]: a gateway's side: claim on connect, refresh every heartbeat, release on
//!   disconnect (`ferry-app-tunnel` drives it from `ferry-tunnel`'s agent events; this crate
//!   does not depend on `ferry-tunnel`, agent ids are plain strings here).
//! - [`Owner`] records in a versioned byte layout ([`record`]; normative text in [`spec`]) under
//!   keys that always fit memcached's rules ([`agent_key`]).
//!
//! # Policy
//!
//! - An owner writes `agent id -> (instance id, inter-gateway address)` with a TTL
//!   ([`Lease`]: 30 s by default) and refreshes it every heartbeat (10 s by default; validated
//!   to be shorter than TTL / 2).
//! - **A gateway never deletes or overwrites another gateway's record while it exists**
//!   ("fresh" = present in the store). Creation uses memcached `add`; renewal and takeover
//!   of our own record use compare-and-swap on the token just read; deletion uses a
//!   token-conditional delete. So when N gateways claim the same agent at once, exactly one
//!   `add` succeeds and the others get [`Claim::Held`].
//! - A claim of an agent another gateway holds fails with [`Claim::Held`] and is retried on
//!   the next heartbeat ([`Keeper::beat`]).
//! - A stale record (its owner crashed) disappears when its TTL ends, or sooner through
//!   [`Registry::forget_stale`] after a forward to that owner failed: that deletes only the
//!   exact record that was looked up (same version), never a record written since.
//! - A restarted gateway has a new random [`InstanceId`], so it never takes its previous
//!   life's record for its own.
//!
//! # What it does not do
//!
//! It does not hold agent connections or forward clients (`ferry-tunnel` and
//! `ferry-app-tunnel`), does not replicate records or move keys away from a server that is
//! down (see [`MemcachedRegistry`] for why), does not cache lookups, and gives no guarantee
//! beyond memcached's own: if memcached evicts or loses a record, the owner writes it again on
//! its next heartbeat ([`Refresh::Recreated`]).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ferry_registry::{Claim, InstanceId, Lease, MemoryRegistry, Owner, Registry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
//! let lease = Lease::default();
//! let a = Owner::new(InstanceId::random()?, "10.0.0.1:7443".parse()?);
//! let b = Owner::new(InstanceId::random()?, "10.0.0.2:7443".parse()?);
//!
//! assert_eq!(registry.claim("edge-1", &a, lease.ttl()).await?, Claim::Claimed);
//! // B may not take A's fresh record.
//! assert_eq!(registry.claim("edge-1", &b, lease.ttl()).await?, Claim::Held(a));
//! let seen = registry.lookup("edge-1").await?.ok_or("no record")?;
//! assert_eq!(seen.owner, a);
//! # Ok(()) }
//! ```

#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod keeper;
mod key;
mod lease;
mod memcached;
mod memory;
mod owner;
pub mod record;
mod registry;

// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;

pub use keeper::{BEAT_CONCURRENCY, Beat, Keeper, Standing};
pub use key::{HASHED_PREFIX, KEY_PREFIX, agent_key};
pub use lease::{DEFAULT_HEARTBEAT, DEFAULT_TTL, Lease, LeaseError};
pub use memcached::{MemcachedRegistry, Server, ServersError, score, server_for};
pub use memory::MemoryRegistry;
pub use owner::{Entry, InstanceId, Owner, RandomError};
pub use record::RecordError;
pub use registry::{BoxFuture, Claim, Forget, Refresh, Registry, RegistryError, Release};

// The normative wire specification, kept inside the crate so that it is packaged and rendered
// on docs.rs; `docs/wire/registry.md` at the repository root points here.
#[doc = include_str!("../docs/registry.md")]
pub mod spec {}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
