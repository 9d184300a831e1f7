//! Wall-clock time for credential checks (JWT `exp`/`nbf`), injectable for tests.

use std::sync::Arc;

/// A source of the current time in unix seconds.
pub trait UnixClock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl UnixClock for SystemClock {
    // The one place the gateway reads the wall clock; everything below takes it as a parameter.
    #[allow(clippy::disallowed_methods)]
    fn now_unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A fixed time (tests).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub u64);

impl UnixClock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn UnixClock>;
