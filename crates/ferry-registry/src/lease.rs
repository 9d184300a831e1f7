//! How long records live and how often owners renew them.

use std::time::Duration;

use ferry_memcache::MAX_TTL;

/// Default record TTL: 30 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Default heartbeat: every 10 s.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// Record TTL and heartbeat period, validated: `ttl` is whole seconds from 2 s to 30 days and
/// `heartbeat` is shorter than `ttl / 2` (so one lost heartbeat never lets a live owner's
/// record expire).
///
/// memcached counts TTLs on a one-second clock, so a record may expire up to 1 s before its
/// TTL; the margin above covers that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    ttl: Duration,
    heartbeat: Duration,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

/// An unacceptable [`Lease`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The TTL is not whole seconds, under 2 s or over 30 days.
    #[error("ttl must be whole seconds from 2 s to 30 days")]
    Ttl,
    /// The heartbeat is zero or not shorter than half the TTL.
    #[error("heartbeat must be longer than 0 and shorter than ttl / 2")]
    Heartbeat,
}

impl Lease {
    /// A lease of `ttl` renewed every `heartbeat`.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Ttl`] or [`LeaseError::Heartbeat`].
    pub fn new(ttl: Duration, heartbeat: Duration) -> Result<Self, LeaseError> {
        if ttl.subsec_nanos() != 0 || ttl < Duration::from_secs(2) || ttl > MAX_TTL {
            return Err(LeaseError::Ttl);
        }
        if heartbeat.is_zero() || heartbeat.saturating_mul(2) >= ttl {
            return Err(LeaseError::Heartbeat);
        }
        Ok(Self { ttl, heartbeat })
    }

    /// The record TTL. Default [`DEFAULT_TTL`].
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The heartbeat period. Default [`DEFAULT_HEARTBEAT`].
    #[must_use]
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }
}

/// The memcached TTL for `ttl`, or [`RegistryError::InvalidTtl`](crate::RegistryError).
pub(crate) fn check_ttl(ttl: Duration) -> Result<ferry_memcache::Ttl, crate::RegistryError> {
    ferry_memcache::Ttl::after(ttl).ok_or(crate::RegistryError::InvalidTtl(ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let s = Duration::from_secs;
        assert!(Lease::new(s(30), s(10)).is_ok());
        assert!(Lease::new(s(30), Duration::from_millis(14_999)).is_ok());
        assert_eq!(Lease::new(s(30), s(15)), Err(LeaseError::Heartbeat));
        assert_eq!(Lease::new(s(30), s(0)), Err(LeaseError::Heartbeat));
        assert_eq!(
            Lease::new(s(1), Duration::from_millis(100)),
            Err(LeaseError::Ttl)
        );
        assert_eq!(
            Lease::new(Duration::from_millis(2500), s(1)),
            Err(LeaseError::Ttl)
        );
        assert_eq!(Lease::new(MAX_TTL + s(1), s(1)), Err(LeaseError::Ttl));
        assert_eq!(Lease::default().ttl(), s(30));
    }
}
