//! Who owns an agent: a gateway instance and the address other gateways forward to.

use std::fmt;
use std::net::SocketAddr;

/// The operating system's random generator failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// A gateway process's identity: 16 random bytes drawn when it starts.
///
/// Two records with the same address but different instance ids belong to different lives of
/// a gateway (it restarted): a restarted gateway never mistakes its predecessor's record for
/// its own.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub [u8; 16]);

impl InstanceId {
    /// A fresh random id (from the operating system's generator, through `ring`).
    ///
    /// # Errors
    ///
    /// [`RandomError`] when the system generator fails (practically never).
    pub fn random() -> Result<Self, RandomError> {
        let mut bytes = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_unspecified| RandomError)?;
        Ok(Self(bytes))
    }

    /// The id as 32 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        crate::key::hex(&self.0)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.to_hex())
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The gateway that holds an agent's connection: its instance id and its inter-gateway
/// address (where other gateways forward clients for that agent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The gateway process.
    pub instance: InstanceId,
    /// Its inter-gateway listener, as other gateways reach it (the `advertise` address).
    /// The port is never 0; an IPv6 scope id or flow label is not recorded.
    pub addr: SocketAddr,
}

impl Owner {
    /// An owner record for `instance` reachable at `addr`.
    #[must_use]
    pub fn new(instance: InstanceId, addr: SocketAddr) -> Self {
        Self { instance, addr }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.instance, self.addr)
    }
}

/// A record as read by [`Registry::lookup`](crate::Registry::lookup): the owner and the
/// record's version, so that [`Registry::forget_stale`](crate::Registry::forget_stale) deletes
/// exactly this record and nothing written after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Who the record names.
    pub owner: Owner,
    /// Opaque version of the record (memcached's CAS token; a counter in memory). Every write,
    /// including a heartbeat refresh, changes it.
    pub version: u64,
}
