//! The front's limits: new-tunnel rates and concurrency per client source and per agent, and
//! the failed-authentication block per source.

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_limit::{
    ClientKey, ClientKeyer, ConcurrencyLimiter, Decision, LimiterConfig, Quota, RateLimiter,
    V6Prefix,
};

/// Default cap on concurrent tunnels through the front: 16,384.
pub const DEFAULT_MAX_TUNNELS: usize = 16_384;
/// Default cap on concurrent tunnels per client source: 256.
pub const DEFAULT_MAX_TUNNELS_PER_CLIENT: u32 = 256;
/// Default cap on concurrent tunnels per agent: 1,024.
pub const DEFAULT_MAX_TUNNELS_PER_AGENT: u32 = 1024;
/// Default new-tunnel rate per client source: 50 per second, burst 100.
pub const DEFAULT_CLIENT_RATE: (u32, Duration) = (100, Duration::from_millis(20));
/// Default new-tunnel rate per agent: 500 per second, burst 1,000.
pub const DEFAULT_AGENT_RATE: (u32, Duration) = (1000, Duration::from_millis(2));
/// Default failed-authentication quota per source: 10 failures, then one more every 6 s.
pub const DEFAULT_AUTH_FAILURES: (u32, Duration) = (10, Duration::from_secs(6));
/// Most sources blocked at once for failed authentication: 65,536. Beyond it, further sources
/// are not blocked until entries expire (their failures are still answered 407, and the
/// per-source rate limit still applies).
pub const MAX_BLOCKED_SOURCES: usize = 65_536;

fn quota((burst, interval): (u32, Duration)) -> Option<Quota> {
    Quota::new(NonZeroU32::new(burst)?, interval).ok()
}

/// The front's limits. Sources are client IP addresses, IPv6 keyed by prefix (default /64).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrontLimits {
    /// Concurrent tunnels in total; over it: `503`. Default [`DEFAULT_MAX_TUNNELS`].
    pub max_tunnels: NonZeroUsize,
    /// Concurrent tunnels per client source; over it: `429`. Default
    /// [`DEFAULT_MAX_TUNNELS_PER_CLIENT`].
    pub max_tunnels_per_client: NonZeroU32,
    /// Concurrent tunnels per agent; over it: `503`. Default [`DEFAULT_MAX_TUNNELS_PER_AGENT`].
    pub max_tunnels_per_agent: NonZeroU32,
    /// New tunnels per client source, checked before authentication; over it: `429` with
    /// `Retry-After`. Default [`DEFAULT_CLIENT_RATE`]; `None` for no limit.
    pub client_rate: Option<Quota>,
    /// New tunnels per agent, checked after authentication (so that strangers cannot spend an
    /// agent's quota); over it: `429`. Default [`DEFAULT_AGENT_RATE`]; `None` for no limit.
    pub agent_rate: Option<Quota>,
    /// Failed authentications per source. Each failure costs one cell; when a failure uses the
    /// last cell (after `burst` failures in a row) the source is blocked until the quota earns
    /// a cell back: its connections are answered `429` with `Retry-After` at once, without
    /// reading the request, even with valid credentials. Default [`DEFAULT_AUTH_FAILURES`];
    /// `None` turns the block off (not recommended).
    pub auth_failures: Option<Quota>,
    /// Prefix length IPv6 sources are keyed by. Default /64.
    pub v6_prefix: V6Prefix,
    /// Connections one agent may hold to this gateway in its connection group (the agent's
    /// `connections`); a connection beyond it is refused `group full` and waits. 1 to 16.
    /// Default 8.
    pub max_connections_per_agent: std::num::NonZeroU8,
}

impl Default for FrontLimits {
    fn default() -> Self {
        Self {
            max_tunnels: NonZeroUsize::new(DEFAULT_MAX_TUNNELS).unwrap_or(NonZeroUsize::MIN),
            max_tunnels_per_client: NonZeroU32::new(DEFAULT_MAX_TUNNELS_PER_CLIENT)
                .unwrap_or(NonZeroU32::MIN),
            max_tunnels_per_agent: NonZeroU32::new(DEFAULT_MAX_TUNNELS_PER_AGENT)
                .unwrap_or(NonZeroU32::MIN),
            client_rate: quota(DEFAULT_CLIENT_RATE),
            agent_rate: quota(DEFAULT_AGENT_RATE),
            auth_failures: quota(DEFAULT_AUTH_FAILURES),
            v6_prefix: V6Prefix::DEFAULT,
            max_connections_per_agent: ferry_tunnel::GatewayConfig::default()
                .max_connections_per_agent,
        }
    }
}

/// Why a new tunnel was refused by a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A rate or per-key limit: `429`, with the wait in seconds.
    TooMany(u32),
    /// A capacity limit: `503`.
    Busy,
}

/// The live limiter state of one front.
pub(crate) struct Limiters {
    keyer: ClientKeyer,
    client_rate: Option<RateLimiter>,
    agent_rate: Option<RateLimiter>,
    client_conns: ConcurrencyLimiter,
    agent_conns: ConcurrencyLimiter,
    auth_failures: Option<(RateLimiter, Duration)>,
    blocked: Mutex<HashMap<ClientKey, Instant>>,
}

/// Permits held for the life of a tunnel.
pub(crate) struct Permits {
    _client: ferry_limit::Permit,
    _agent: ferry_limit::Permit,
}

fn retry_secs(d: &Decision) -> Option<u32> {
    match d {
        Decision::Allowed(_) => None,
        Decision::Denied(denied) => {
            Some(u32::try_from(denied.retry_after_secs().max(1)).unwrap_or(u32::MAX))
        }
    }
}

impl Limiters {
    pub(crate) fn new(limits: &FrontLimits, epoch: Instant) -> Self {
        let cfg = LimiterConfig::default();
        Self {
            keyer: ClientKeyer::new(limits.v6_prefix),
            client_rate: limits.client_rate.map(|q| RateLimiter::new(q, &cfg, epoch)),
            agent_rate: limits.agent_rate.map(|q| RateLimiter::new(q, &cfg, epoch)),
            client_conns: ConcurrencyLimiter::new(
                limits.max_tunnels,
                limits.max_tunnels_per_client,
            ),
            agent_conns: ConcurrencyLimiter::new(limits.max_tunnels, limits.max_tunnels_per_agent),
            auth_failures: limits
                .auth_failures
                .map(|q| (RateLimiter::new(q, &cfg, epoch), q.emission_interval())),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn source(&self, ip: std::net::IpAddr) -> ClientKey {
        self.keyer.key_for_ip(ip)
    }

    fn agent(&self, agent: &str) -> ClientKey {
        self.keyer.key_for(agent)
    }

    /// Seconds left in the source's failed-auth block, if blocked.
    pub(crate) fn blocked_for(&self, source: ClientKey, now: Instant) -> Option<u32> {
        let mut map = self
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = *map.get(&source)?;
        if until > now {
            let secs = (until - now).as_secs_f64().ceil();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Some((secs as u32).max(1));
        }
        map.remove(&source);
        None
    }

    /// Charges one failed authentication; `true` when the source is now blocked.
    pub(crate) fn auth_failed(&self, source: ClientKey, now: Instant) -> bool {
        let Some((limiter, interval)) = &self.auth_failures else {
            return false;
        };
        let until = match limiter.check(source, now) {
            Decision::Allowed(a) if a.remaining() > 0 => return false,
            Decision::Allowed(_) => now + *interval,
            Decision::Denied(d) => d.earliest().max(now + *interval),
        };
        let mut map = self
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_BLOCKED_SOURCES {
            map.retain(|_, u| *u > now);
        }
        if map.len() < MAX_BLOCKED_SOURCES {
            map.insert(source, until);
        }
        true
    }

    /// The per-source new-tunnel rate (before authentication).
    pub(crate) fn check_client_rate(&self, source: ClientKey, now: Instant) -> Result<(), Refusal> {
        match self.client_rate.as_ref().map(|l| l.check(source, now)) {
            Some(d) => retry_secs(&d).map_or(Ok(()), |s| Err(Refusal::TooMany(s))),
            None => Ok(()),
        }
    }

    /// The per-agent rate and both concurrency limits (after authentication).
    pub(crate) fn admit(
        &self,
        source: ClientKey,
        agent: &str,
        now: Instant,
    ) -> Result<Permits, Refusal> {
        let agent_key = self.agent(agent);
        if let Some(d) = self.agent_rate.as_ref().map(|l| l.check(agent_key, now))
            && let Some(s) = retry_secs(&d)
        {
            return Err(Refusal::TooMany(s));
        }
        let client = self.client_conns.try_acquire(source).map_err(|e| match e {
            ferry_limit::LimitExceeded::PerKey { .. } => Refusal::TooMany(1),
            _ => Refusal::Busy,
        })?;
        let agent = self
            .agent_conns
            .try_acquire(agent_key)
            .map_err(|_full| Refusal::Busy)?;
        Ok(Permits {
            _client: client,
            _agent: agent,
        })
    }

    /// Tunnels open now.
    pub(crate) fn in_flight(&self) -> usize {
        self.client_conns.in_flight()
    }
}
