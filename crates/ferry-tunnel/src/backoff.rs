//! Reconnect delays: exponential back-off with full jitter, as a pure function.

use std::time::Duration;

/// Reconnect back-off: before attempt `n` (counted from 0 after the last good connection) the
/// agent waits a uniformly random delay in `[0, min(cap, base * 2^n)]` ("full jitter"), so
/// agents that lost the same gateway at the same moment spread their reconnects over the whole
/// window instead of arriving together.
///
/// After the gateway *rejected* the credential, the delay is drawn from the upper half of the
/// window instead (`[c/2, c]`), so a misconfigured agent never retries in a tight loop.
///
/// ```
/// use std::time::Duration;
/// use ferry_tunnel::Backoff;
///
/// let b = Backoff::default();
/// assert_eq!(b.ceiling(0), Duration::from_millis(500));
/// assert_eq!(b.ceiling(3), Duration::from_secs(4));
/// assert_eq!(b.ceiling(40), Duration::from_secs(30));
/// assert!(b.delay(2, u64::MAX) <= Duration::from_secs(2));
/// assert_eq!(b.delay(2, 0), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The window of the first attempt. Default: 500 ms.
    pub base: Duration,
    /// The largest window. Default: 30 s.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Back-off with the given base and cap.
    #[must_use]
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The window for attempt `attempt`: `min(cap, base * 2^attempt)`.
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before attempt `attempt`, given `random`, a uniformly random `u64`:
    /// `ceiling(attempt) * random / 2^64`.
    #[must_use]
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        scale(self.ceiling(attempt), random)
    }

    /// The delay after the gateway rejected the credential: in the upper half of the window.
    #[must_use]
    pub fn delay_after_rejection(&self, attempt: u32, random: u64) -> Duration {
        let c = self.ceiling(attempt);
        let half = c / 2;
        half + scale(c - half, random)
    }
}

fn scale(window: Duration, random: u64) -> Duration {
    let nanos = window.as_nanos().min(u128::from(u64::MAX));
    let scaled = (nanos * u128::from(random)) >> 64;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// A uniformly random `u64` from the operating system (aws-lc-rs' `SystemRandom`, the TLS provider's
/// library); 0 if it fails.
pub(crate) fn system_random() -> u64 {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 8];
    match aws_lc_rs::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => 0,
    }
}
