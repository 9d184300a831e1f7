//! Bridge configuration: timeouts, buffer sizes, splice policy and pool caps.

use std::num::NonZeroUsize;
use std::time::Duration;

/// Default copy buffer size: 16 KiB per direction while data is in flight.
const DEFAULT_BUFFER_SIZE: NonZeroUsize = match NonZeroUsize::new(16 * 1024) {
    Some(n) => n,
    None => unreachable!(),
};

/// Whether [`Bridge::run_tcp`](crate::Bridge::run_tcp) may use `splice(2)`.
///
/// The splice path moves bytes socket → pipe → socket inside the kernel and never copies them
/// into user space. It only applies to plain TCP on both sides with no inspection hook and no
/// throttle; everything else takes the copy path, which is the reference implementation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SplicePolicy {
    /// Always use the user-space copy path.
    Off,
    /// Splice on Linux when both ends are [`tokio::net::TcpStream`] and the session has no hook
    /// and no throttle; copy otherwise (and on other platforms). This is the default.
    #[default]
    Auto,
}

/// Configuration shared by every session of a [`Bridge`](crate::Bridge).
///
/// Build it from [`BridgeConfig::default()`] with the builder-style setters; every field states its
/// default. The struct is `#[non_exhaustive]`, so new settings can be added without breaking you.
///
/// ```
/// use std::time::Duration;
/// use ferry_bridge::{BridgeConfig, SplicePolicy};
///
/// let config = BridgeConfig::default()
///     .idle_timeout(Some(Duration::from_secs(300)))
///     .max_lifetime(Some(Duration::from_secs(86_400)))
///     .splice(SplicePolicy::Off);
/// assert_eq!(config.half_close_timeout, Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// End the session when no byte moved in either direction for this long
    /// ([`End::IdleTimeout`](crate::End::IdleTimeout)). `None` disables it. Default: 1 hour.
    pub idle_timeout: Option<Duration>,
    /// Once one direction has finished (EOF read and forwarded as a write shutdown), end the
    /// session when the other direction moves no byte for this long
    /// ([`End::HalfCloseTimeout`](crate::End::HalfCloseTimeout)). `None` disables it (the idle
    /// timeout still applies). Default: 30 seconds.
    pub half_close_timeout: Option<Duration>,
    /// End the session this long after it started, whatever the traffic
    /// ([`End::LifetimeExceeded`](crate::End::LifetimeExceeded)). `None` disables it.
    /// Default: `None`.
    pub max_lifetime: Option<Duration>,
    /// Size of one copy buffer. A direction borrows one buffer from the bridge's pool only while
    /// it holds bytes that were read and not yet written. Default: 16 KiB.
    pub buffer_size: NonZeroUsize,
    /// Whether TCP-to-TCP sessions may use `splice(2)`. Default: [`SplicePolicy::Auto`].
    pub splice: SplicePolicy,
    /// Maximum number of pipes (each one pair of file descriptors) the bridge keeps, in use and
    /// pooled together. A spliced direction holds a pipe only while bytes are in flight. When the
    /// cap is reached or the kernel refuses a new pipe, that direction copies instead.
    /// Default: 1024. `0` disables splicing in practice.
    pub max_pipes: usize,
    /// Maximum number of idle copy buffers kept for reuse; extra buffers are freed.
    /// Default: 256 (4 MiB with the default buffer size).
    pub max_pooled_buffers: usize,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Some(Duration::from_secs(3600)),
            half_close_timeout: Some(Duration::from_secs(30)),
            max_lifetime: None,
            buffer_size: DEFAULT_BUFFER_SIZE,
            splice: SplicePolicy::Auto,
            max_pipes: 1024,
            max_pooled_buffers: 256,
        }
    }
}

impl BridgeConfig {
    /// Sets [`idle_timeout`](Self::idle_timeout) (default: 1 hour; `None` disables it).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`half_close_timeout`](Self::half_close_timeout) (default: 30 seconds; `None`
    /// disables it).
    #[must_use]
    pub fn half_close_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.half_close_timeout = timeout;
        self
    }

    /// Sets [`max_lifetime`](Self::max_lifetime) (default: `None`, unlimited).
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Sets [`buffer_size`](Self::buffer_size) in bytes (default: 16 KiB).
    #[must_use]
    pub fn buffer_size(mut self, size: NonZeroUsize) -> Self {
        self.buffer_size = size;
        self
    }

    /// Sets [`splice`](Self::splice) (default: [`SplicePolicy::Auto`]).
    #[must_use]
    pub fn splice(mut self, policy: SplicePolicy) -> Self {
        self.splice = policy;
        self
    }

    /// Sets [`max_pipes`](Self::max_pipes) (default: 1024 pipes).
    #[must_use]
    pub fn max_pipes(mut self, max: usize) -> Self {
        self.max_pipes = max;
        self
    }

    /// Sets [`max_pooled_buffers`](Self::max_pooled_buffers) (default: 256 buffers).
    #[must_use]
    pub fn max_pooled_buffers(mut self, max: usize) -> Self {
        self.max_pooled_buffers = max;
        self
    }
}
