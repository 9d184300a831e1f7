//! [`Quota`]: burst size and emission interval of a GCRA limiter, validated at construction.

use std::num::NonZeroU32;
use std::time::Duration;

/// Largest time span, in nanoseconds, that `burst × emission interval` may cover (2^62 ns, about
/// 146 years). Keeping it far below `u64::MAX` leaves room for "now + τ + T" in the limiter's
/// nanosecond arithmetic.
const MAX_SPAN_NS: u128 = 1 << 62;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why a [`Quota`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// The emission interval is zero: either given as zero, or the rate is above one cell per
    /// nanosecond (10^9 per second) so the interval rounds down to zero.
    #[error("emission interval rounds to zero (rate above one cell per nanosecond)")]
    ZeroInterval,
    /// `burst × emission interval` does not fit the limiter's time range (about 146 years).
    #[error("burst of {burst} cells at one per {interval:?} spans more than 146 years")]
    SpanTooLong {
        /// The requested burst size.
        burst: u32,
        /// The requested emission interval.
        interval: Duration,
    },
}

/// A rate-limiting quota: at most `burst` cells at once, refilled at one cell per emission
/// interval `T`.
///
/// In GCRA terms the tolerance is `τ = (burst − 1) · T`: a client may run up to `τ` ahead of the
/// steady schedule. Over any window of length `W` a key is allowed at most `burst + ⌊W / T⌋`
/// cells.
///
/// The interval is kept in whole nanoseconds. Rate constructors ([`Quota::per_second`] and
/// friends) round it **down** (exactly as `governor` does), so a rate that does not divide the
/// period admits at most one extra cell per `T / (period mod rate)` periods: for 3 per second,
/// one extra cell every ~10^8 seconds. Use [`Quota::with_interval`] to state `T` exactly.
///
/// Constructors never panic; they return [`QuotaError`] for values the limiter cannot represent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    burst: NonZeroU32,
    interval_ns: u64,
}

impl Quota {
    /// `rate` cells per second, with a burst of `rate` cells.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] if `rate` exceeds 10^9 (the interval would round to zero).
    pub fn per_second(rate: NonZeroU32) -> Result<Self, QuotaError> {
        Self::per_period(rate, NANOS_PER_SEC)
    }

    /// `rate` cells per minute, with a burst of `rate` cells.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] if the interval `60 s / rate` rounds to zero (never for a
    /// `u32` rate; kept for symmetry).
    pub fn per_minute(rate: NonZeroU32) -> Result<Self, QuotaError> {
        Self::per_period(rate, 60 * NANOS_PER_SEC)
    }

    /// `rate` cells per hour, with a burst of `rate` cells.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] if the interval `3600 s / rate` rounds to zero (never for a
    /// `u32` rate; kept for symmetry).
    pub fn per_hour(rate: NonZeroU32) -> Result<Self, QuotaError> {
        Self::per_period(rate, 3600 * NANOS_PER_SEC)
    }

    /// A byte-rate quota for a per-client data throttle: `bytes_per_sec` bytes per second, with a
    /// bucket of `burst_bytes` bytes. One cell is one byte; charge a chunk with
    /// [`RateLimiter::check_n`](crate::RateLimiter::check_n) with `n` = its length, in chunks no
    /// larger than `burst_bytes` (see the crate docs, "Byte rates").
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] above 10^9 bytes per second (one byte per nanosecond);
    /// [`QuotaError::SpanTooLong`] if the bucket would take more than ~146 years to refill.
    pub fn bytes_per_second(
        bytes_per_sec: NonZeroU32,
        burst_bytes: NonZeroU32,
    ) -> Result<Self, QuotaError> {
        Self::per_second(bytes_per_sec)?.with_burst(burst_bytes)
    }

    /// One cell per `interval`, with a burst of 1. Combine with [`Quota::with_burst`].
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] if `interval` is shorter than one nanosecond;
    /// [`QuotaError::SpanTooLong`] if it is longer than ~146 years.
    pub fn with_interval(interval: Duration) -> Result<Self, QuotaError> {
        Self::new(NonZeroU32::MIN, interval)
    }

    /// `burst` cells at once, refilled at one cell per `interval`.
    ///
    /// # Errors
    ///
    /// [`QuotaError::ZeroInterval`] if `interval` is shorter than one nanosecond;
    /// [`QuotaError::SpanTooLong`] if `burst × interval` exceeds ~146 years.
    pub fn new(burst: NonZeroU32, interval: Duration) -> Result<Self, QuotaError> {
        let ns = interval.as_nanos();
        if ns == 0 {
            return Err(QuotaError::ZeroInterval);
        }
        if ns.saturating_mul(u128::from(burst.get())) > MAX_SPAN_NS {
            return Err(QuotaError::SpanTooLong {
                burst: burst.get(),
                interval,
            });
        }
        // Fits: ns ≤ MAX_SPAN_NS < u64::MAX was checked just above.
        let interval_ns = u64::try_from(ns).map_err(|_too_big| QuotaError::SpanTooLong {
            burst: burst.get(),
            interval,
        })?;
        Ok(Self { burst, interval_ns })
    }

    /// The same rate with a different burst size.
    ///
    /// # Errors
    ///
    /// [`QuotaError::SpanTooLong`] if `burst × interval` exceeds ~146 years.
    pub fn with_burst(self, burst: NonZeroU32) -> Result<Self, QuotaError> {
        Self::new(burst, self.emission_interval())
    }

    fn per_period(rate: NonZeroU32, period_ns: u64) -> Result<Self, QuotaError> {
        let interval_ns = period_ns / u64::from(rate.get());
        Self::new(rate, Duration::from_nanos(interval_ns))
    }

    /// Maximum number of cells allowed at once (and the largest `n` that
    /// [`check_n`](crate::RateLimiter::check_n) can ever allow).
    #[must_use]
    pub const fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// Emission interval `T`: the time it takes to earn back one cell.
    #[must_use]
    pub const fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// Tolerance `τ = (burst − 1) · T`: how far a key may run ahead of the steady schedule.
    #[must_use]
    pub const fn tolerance(&self) -> Duration {
        Duration::from_nanos(self.tolerance_ns())
    }

    /// Time for an exhausted key to earn back a full burst (`burst · T`); a key idle this long is
    /// indistinguishable from a new one.
    #[must_use]
    pub const fn refill_time(&self) -> Duration {
        Duration::from_nanos(self.tolerance_ns() + self.interval_ns)
    }

    pub(crate) const fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    /// `(burst − 1) · T`; cannot overflow because `burst · T ≤ 2^62` was validated.
    pub(crate) const fn tolerance_ns(&self) -> u64 {
        (self.burst.get() as u64 - 1) * self.interval_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn per_second_rounds_interval_down_like_governor() {
        let q = Quota::per_second(nz(3)).unwrap();
        assert_eq!(q.emission_interval(), Duration::from_nanos(333_333_333));
        assert_eq!(q.burst().get(), 3);
        assert_eq!(q.tolerance(), Duration::from_nanos(666_666_666));
        assert_eq!(q.refill_time(), Duration::from_nanos(999_999_999));
    }

    #[test]
    fn per_minute_and_hour() {
        assert_eq!(
            Quota::per_minute(nz(60)).unwrap().emission_interval(),
            Duration::from_secs(1)
        );
        assert_eq!(
            Quota::per_hour(nz(2)).unwrap().emission_interval(),
            Duration::from_secs(1800)
        );
    }

    #[test]
    fn rate_above_one_per_nanosecond_is_an_error_not_a_panic() {
        assert_eq!(
            Quota::per_second(nz(1_000_000_000)).unwrap().interval_ns(),
            1
        );
        assert_eq!(
            Quota::per_second(nz(1_000_000_001)),
            Err(QuotaError::ZeroInterval)
        );
        assert_eq!(
            Quota::per_second(NonZeroU32::MAX),
            Err(QuotaError::ZeroInterval)
        );
        assert_eq!(
            Quota::with_interval(Duration::ZERO),
            Err(QuotaError::ZeroInterval)
        );
    }

    #[test]
    fn overlong_span_is_an_error() {
        let year = Duration::from_secs(365 * 24 * 3600);
        assert!(Quota::with_interval(year * 100).is_ok());
        assert!(matches!(
            Quota::with_interval(year * 200),
            Err(QuotaError::SpanTooLong { burst: 1, .. })
        ));
        assert!(matches!(
            Quota::with_interval(year).unwrap().with_burst(nz(1000)),
            Err(QuotaError::SpanTooLong { burst: 1000, .. })
        ));
        assert!(Quota::with_interval(Duration::MAX).is_err());
        assert!(Quota::new(NonZeroU32::MAX, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn byte_rate_constructor() {
        let q = Quota::bytes_per_second(nz(1_000_000), nz(65_536)).unwrap();
        assert_eq!(q.emission_interval(), Duration::from_nanos(1_000));
        assert_eq!(q.burst().get(), 65_536);
    }
}
