//! The wall clock the proxy reads for time-of-day windows and dump file names, injectable for
//! tests.

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of UTC wall-clock time.
pub trait UtcClock: Debug + Send + Sync {
    /// Seconds since the Unix epoch, UTC (0 for a clock before 1970).
    fn unix_secs(&self) -> u64;
}

/// The system's real-time clock; the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl UtcClock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the one place the injected clock is read
    fn unix_secs(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }
}

/// A clock stopped at a fixed instant (tests, replays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl UtcClock for FixedClock {
    fn unix_secs(&self) -> u64 {
        self.0
    }
}

/// `unix_secs` as `YYYYMMDDTHHMMSSZ` (proleptic Gregorian calendar, UTC).
pub(crate) fn compact_utc(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_utc_formats_known_instants() {
        assert_eq!(compact_utc(0), "19700101T000000Z");
        assert_eq!(compact_utc(951_782_400), "20000229T000000Z");
        assert_eq!(compact_utc(1_795_403_045), "20261123T030405Z");
        assert_eq!(compact_utc(4_102_444_799), "20991231T235959Z");
    }
}
