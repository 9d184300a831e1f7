//! Pool configuration with documented defaults, validated by [`PoolConfig::validate`] (called
//! by [`Pool::new`](crate::Pool::new)).

use std::num::NonZeroU32;
use std::time::Duration;

use crate::select::Policy;

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        None => NonZeroU32::MIN,
    }
}

/// Default timeout of one connect attempt: 5 s (Envoy's `connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total time for all attempts of one [`Pool::connect`](crate::Pool::connect): 10 s.
pub const DEFAULT_CONNECT_BUDGET: Duration = Duration::from_secs(10);
/// Default interval between DNS re-resolutions of host targets: 30 s.
pub const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(30);
/// Default interval between active health-check rounds: 5 s.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// Default timeout of one health probe (connect, send and expect together): 2 s.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default consecutive successful probes that bring a down endpoint up: 2.
pub const DEFAULT_RISE: NonZeroU32 = nz(2);
/// Default consecutive failed probes that take an up endpoint down: 3.
pub const DEFAULT_FALL: NonZeroU32 = nz(3);
/// Longest `send` payload and `expect` prefix of a health check: 4 KiB.
pub const MAX_PROBE_BYTES: usize = 4096;
/// Default consecutive connect failures that eject an endpoint: 5.
pub const DEFAULT_EJECT_AFTER: NonZeroU32 = nz(5);
/// Default first ejection period: 10 s.
pub const DEFAULT_BASE_EJECTION: Duration = Duration::from_secs(10);
/// Default longest ejection period: 5 min.
pub const DEFAULT_MAX_EJECTION: Duration = Duration::from_secs(300);

/// How a pool is balanced, dialled and checked. Start from [`PoolConfig::default`] and set
/// fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Load-balancing policy. Default [`Policy::RoundRobin`].
    pub policy: Policy,
    /// Timeout of one connect attempt; non-zero. Default [`DEFAULT_CONNECT_TIMEOUT`] (5 s).
    pub connect_timeout: Duration,
    /// Total time for one [`Pool::connect`](crate::Pool::connect), including retries on the
    /// next endpoint and on-demand DNS resolution; non-zero. Default [`DEFAULT_CONNECT_BUDGET`]
    /// (10 s).
    pub connect_budget: Duration,
    /// Active health checks; `None` (the default) disables them.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection after consecutive connect failures; `None` disables it. Default
    /// `Some(Ejection::default())` (5 failures, 10 s doubling up to 5 min).
    pub ejection: Option<Ejection>,
    /// Interval between re-resolutions of host targets; non-zero. Default
    /// [`DEFAULT_DNS_INTERVAL`] (30 s).
    pub dns_interval: Duration,
    /// What [`Pool::connect`](crate::Pool::connect) does when every endpoint is down or
    /// ejected. Default [`AllDown::TryAll`].
    pub all_down: AllDown,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            policy: Policy::RoundRobin,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            connect_budget: DEFAULT_CONNECT_BUDGET,
            health_check: None,
            ejection: Some(Ejection::default()),
            dns_interval: DEFAULT_DNS_INTERVAL,
            all_down: AllDown::TryAll,
        }
    }
}

/// Behaviour when no endpoint is up and unejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllDown {
    /// "Panic mode" (Envoy's panic threshold at 0 %): ignore health and ejection and try every
    /// endpoint in policy order within the connect budget. A health check or an ejection that
    /// is wrong about every endpoint then degrades to extra connect attempts instead of a full
    /// outage; the cost when everything really is down is at most one attempt per endpoint per
    /// client, bounded by the budget. The default.
    #[default]
    TryAll,
    /// Fail at once with [`ConnectError::NoHealthyUpstream`](crate::ConnectError) (HAProxy's
    /// behaviour without a backup server): no connect attempt is made.
    Fail,
}

/// Active health checks: every `interval`, each endpoint gets a TCP connect, then optionally
/// `send` is written and the first `expect.len()` bytes read back must equal `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheck {
    /// Time between probe rounds; non-zero. Default [`DEFAULT_HEALTH_INTERVAL`] (5 s).
    pub interval: Duration,
    /// Deadline of one probe; non-zero. Default [`DEFAULT_HEALTH_TIMEOUT`] (2 s).
    pub timeout: Duration,
    /// Consecutive successes that bring a down endpoint up. Default [`DEFAULT_RISE`] (2).
    pub rise: NonZeroU32,
    /// Consecutive failures that take an up endpoint down. Default [`DEFAULT_FALL`] (3).
    pub fall: NonZeroU32,
    /// Bytes written after connecting; at most [`MAX_PROBE_BYTES`]. Default none.
    pub send: Option<Vec<u8>>,
    /// Prefix the endpoint must answer with; non-empty, at most [`MAX_PROBE_BYTES`]. Default
    /// none (the connect alone decides).
    pub expect: Option<Vec<u8>>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            send: None,
            expect: None,
        }
    }
}

/// Passive ejection: an endpoint whose connects fail `consecutive_failures` times in a row is
/// skipped for `base_time`. When it comes back it is on probation: the first connect failure
/// ejects it again for twice the previous period (up to `max_time`), the first success ends
/// probation and resets the period to `base_time`. A success at any time resets the failure
/// count.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ejection {
    /// Consecutive connect failures that eject. Default [`DEFAULT_EJECT_AFTER`] (5).
    pub consecutive_failures: NonZeroU32,
    /// First ejection period; non-zero. Default [`DEFAULT_BASE_EJECTION`] (10 s).
    pub base_time: Duration,
    /// Longest ejection period; at least `base_time`. Default [`DEFAULT_MAX_EJECTION`] (5 min).
    pub max_time: Duration,
}

impl Default for Ejection {
    fn default() -> Self {
        Self {
            consecutive_failures: DEFAULT_EJECT_AFTER,
            base_time: DEFAULT_BASE_EJECTION,
            max_time: DEFAULT_MAX_EJECTION,
        }
    }
}

/// A configuration value [`PoolConfig::validate`] rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid pool setting {field}: {reason}")]
pub struct ConfigError {
    /// The field, e.g. `health_check.expect`.
    pub field: &'static str,
    /// Why it is invalid.
    pub reason: &'static str,
}

fn check(ok: bool, field: &'static str, reason: &'static str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError { field, reason })
    }
}

impl PoolConfig {
    /// Checks every field against its documented range.
    ///
    /// # Errors
    ///
    /// The first invalid field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            !self.connect_timeout.is_zero(),
            "connect_timeout",
            "must be non-zero",
        )?;
        check(
            !self.connect_budget.is_zero(),
            "connect_budget",
            "must be non-zero",
        )?;
        check(
            !self.dns_interval.is_zero(),
            "dns_interval",
            "must be non-zero",
        )?;
        if let Some(h) = &self.health_check {
            check(
                !h.interval.is_zero(),
                "health_check.interval",
                "must be non-zero",
            )?;
            check(
                !h.timeout.is_zero(),
                "health_check.timeout",
                "must be non-zero",
            )?;
            check(
                h.send.as_ref().is_none_or(|s| s.len() <= MAX_PROBE_BYTES),
                "health_check.send",
                "must be at most 4096 bytes",
            )?;
            check(
                h.expect
                    .as_ref()
                    .is_none_or(|e| !e.is_empty() && e.len() <= MAX_PROBE_BYTES),
                "health_check.expect",
                "must be 1 to 4096 bytes",
            )?;
        }
        if let Some(e) = &self.ejection {
            check(
                !e.base_time.is_zero(),
                "ejection.base_time",
                "must be non-zero",
            )?;
            check(
                e.max_time >= e.base_time,
                "ejection.max_time",
                "must be at least ejection.base_time",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = PoolConfig::default();
        c.validate().unwrap();
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.connect_budget, Duration::from_secs(10));
        assert!(c.health_check.is_none());
        let e = c.ejection.unwrap();
        assert_eq!(
            (e.consecutive_failures.get(), e.base_time, e.max_time),
            (5, Duration::from_secs(10), Duration::from_secs(300))
        );
        let h = HealthCheck::default();
        assert_eq!((h.rise.get(), h.fall.get()), (2, 3));
    }

    #[test]
    fn rejects_out_of_range_values() {
        let c = PoolConfig {
            connect_timeout: Duration::ZERO,
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "connect_timeout");
        let c = PoolConfig {
            health_check: Some(HealthCheck {
                expect: Some(vec![0; MAX_PROBE_BYTES + 1]),
                ..HealthCheck::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "health_check.expect");
        let c = PoolConfig {
            health_check: Some(HealthCheck {
                expect: Some(Vec::new()),
                ..HealthCheck::default()
            }),
            ..PoolConfig::default()
        };
        assert!(c.validate().is_err());
        let c = PoolConfig {
            ejection: Some(Ejection {
                max_time: Duration::from_secs(1),
                ..Ejection::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "ejection.max_time");
    }
}
