//! The one injectable wall clock of the programs: time-of-day windows, dump file names,
//! credential expiry and chain-record timestamps all read a [`WallClock`], so tests pass a
//! [`FixedClock`] and nothing below the programs reads the system clock.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of UTC wall-clock time.
pub trait WallClock: Debug + Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, UTC (0 for a clock before 1970).
    fn unix_ms(&self) -> u64;

    /// Whole seconds since the Unix epoch, UTC.
    fn unix_secs(&self) -> u64 {
        self.unix_ms() / 1000
    }
}

/// A clock shared by the parts of a program.
pub type SharedClock = Arc<dyn WallClock>;

/// The system's real-time clock; the default everywhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    // The one place the programs read the system's wall clock.
    #[allow(clippy::disallowed_methods)]
    fn unix_ms(&self) -> u64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock stopped at a fixed instant, in whole seconds since the Unix epoch (tests, replays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl WallClock for FixedClock {
    fn unix_ms(&self) -> u64 {
        self.0.saturating_mul(1000)
    }

    fn unix_secs(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_system_clocks_agree_on_units() {
        let c = FixedClock(1_800_000_000);
        assert_eq!(c.unix_secs(), 1_800_000_000);
        assert_eq!(c.unix_ms(), 1_800_000_000_000);
        let s: SharedClock = Arc::new(SystemClock);
        // 2020-01-01 and 2200-01-01: a clock in ms, not seconds or microseconds.
        assert!((1_577_836_800_000..7_258_118_400_000).contains(&s.unix_ms()));
        assert_eq!(s.unix_secs() / 1000, s.unix_ms() / 1_000_000);
    }
}
