//! Bandwidth throttle: a token bucket per direction on tokio time.

use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A bandwidth limit for one direction: `bytes_per_sec` on average, with bursts of up to `burst`
/// bytes.
///
/// It is a token bucket: the bucket holds at most `burst` tokens, starts full, and refills at
/// `bytes_per_sec`; each byte read from the source costs one token. When the bucket is empty the
/// direction stops reading until enough tokens are back, so the sender is slowed by TCP flow
/// control and nothing is buffered beyond one chunk. To avoid waking up for every few bytes, a
/// waiting direction resumes once it may read
/// `min(buffer_size, burst, max(1, bytes_per_sec / 20))` bytes (at most about 20 reads per
/// second when throttled). Time is [`tokio::time`], so paused-time tests see exact rates.
/// Setting a throttle forces the copy path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Throttle {
    bytes_per_sec: NonZeroU64,
    burst: NonZeroU64,
}

impl Throttle {
    /// A limit of `bytes_per_sec` with bursts of up to `burst` bytes.
    #[must_use]
    pub fn new(bytes_per_sec: NonZeroU64, burst: NonZeroU64) -> Self {
        Self {
            bytes_per_sec,
            burst,
        }
    }

    /// A limit of `bytes_per_sec` with a burst of one second's worth of bytes.
    #[must_use]
    pub fn per_second(bytes_per_sec: NonZeroU64) -> Self {
        Self::new(bytes_per_sec, bytes_per_sec)
    }

    /// The average rate in bytes per second.
    #[must_use]
    pub fn bytes_per_sec(&self) -> NonZeroU64 {
        self.bytes_per_sec
    }

    /// The largest burst in bytes.
    #[must_use]
    pub fn burst(&self) -> NonZeroU64 {
        self.burst
    }

    /// Time to earn `tokens` tokens, rounded down to the nanosecond.
    fn time_for(self, tokens: u64) -> Duration {
        let nanos = u128::from(tokens) * NANOS_PER_SEC / u128::from(self.bytes_per_sec.get());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The state of one throttled direction.
///
/// Kept as a "theoretical arrival time" (GCRA): the bucket is full when `tat <= now`, and each
/// consumed byte pushes `tat` forward by `1 / bytes_per_sec`.
pub(crate) struct Bucket {
    spec: Throttle,
    tat: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Bucket {
    pub(crate) fn new(spec: Throttle) -> Self {
        Self {
            spec,
            tat: Instant::now(),
            sleep: None,
        }
    }

    /// Tokens available at `now`.
    fn available(&self, now: Instant) -> u64 {
        let debt = self.tat.saturating_duration_since(now).as_nanos();
        let rate = u128::from(self.spec.bytes_per_sec.get());
        // Round the debt in tokens up, so that the rate is never exceeded.
        let debt_tokens = (debt * rate).div_ceil(NANOS_PER_SEC);
        self.spec
            .burst
            .get()
            .saturating_sub(u64::try_from(debt_tokens).unwrap_or(u64::MAX))
    }

    /// Resolves to the number of bytes (`1..=want`) the direction may read now.
    pub(crate) fn poll_allowance(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<usize> {
        let want64 = u64::try_from(want).unwrap_or(u64::MAX).max(1);
        let threshold = want64
            .min(self.spec.burst.get())
            .min((self.spec.bytes_per_sec.get() / 20).max(1));
        loop {
            let now = Instant::now();
            let available = self.available(now);
            if available >= threshold {
                self.sleep = None;
                let allowed = available.min(want64);
                return Poll::Ready(usize::try_from(allowed).unwrap_or(want));
            }
            // `available >= threshold` holds again once the debt is down to
            // `burst - threshold` tokens.
            let allowed_debt = self.spec.time_for(self.spec.burst.get() - threshold);
            let at = self
                .tat
                .checked_sub(allowed_debt)
                .unwrap_or(now)
                .max(now + Duration::from_millis(1).min(self.spec.time_for(threshold)));
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            sleep.as_mut().reset(at);
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Takes `n` tokens (the bytes just read).
    pub(crate) fn consume(&mut self, n: usize) {
        let now = Instant::now();
        let base = self.tat.max(now);
        let cost = u128::from(u64::try_from(n).unwrap_or(u64::MAX)) * NANOS_PER_SEC;
        let cost = cost.div_ceil(u128::from(self.spec.bytes_per_sec.get()));
        let cost = Duration::from_nanos(u64::try_from(cost).unwrap_or(u64::MAX));
        self.tat = base.checked_add(cost).unwrap_or(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_starts_full_and_refills_at_rate() {
        let mut bucket = Bucket::new(Throttle::new(nz(1000), nz(500)));
        assert_eq!(bucket.available(Instant::now()), 500);
        bucket.consume(500);
        assert_eq!(bucket.available(Instant::now()), 0);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(bucket.available(Instant::now()), 100);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(bucket.available(Instant::now()), 500, "capped at burst");
    }

    #[tokio::test(start_paused = true)]
    async fn allowance_waits_for_threshold() {
        let mut bucket = Bucket::new(Throttle::new(nz(1000), nz(100)));
        let start = Instant::now();
        let n = std::future::poll_fn(|cx| bucket.poll_allowance(cx, 4096)).await;
        assert_eq!(n, 100);
        bucket.consume(n);
        // Threshold is min(4096, 100, 1000 / 20) = 50 tokens = 50 ms.
        let n = std::future::poll_fn(|cx| bucket.poll_allowance(cx, 4096)).await;
        assert_eq!(n, 50);
        assert_eq!(start.elapsed(), Duration::from_millis(50));
    }
}
