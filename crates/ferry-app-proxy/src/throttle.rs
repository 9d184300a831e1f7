//! The per-client byte rate: token buckets shared by every connection of one client, and a
//! stream wrapper that reads and writes only as many bytes as its bucket allows.
//!
//! `ferry_bridge::Throttle` is per session and direction (its bucket lives inside the
//! session), so it cannot be shared; this uses the same spec and the same GCRA arithmetic with
//! the state behind a mutex, reserving tokens before an I/O call and refunding what the call
//! did not use.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ferry_bridge::Throttle;
use ferry_limit::ClientKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// One token bucket kept as a theoretical arrival time: full when `tat <= now`, each byte
/// pushes `tat` forward by `1 / rate`.
#[derive(Debug)]
pub(crate) struct SharedBucket {
    spec: Throttle,
    tat: Mutex<Instant>,
}

impl SharedBucket {
    fn new(spec: Throttle, now: Instant) -> Self {
        Self {
            spec,
            tat: Mutex::new(now),
        }
    }

    fn cost(&self, tokens: u64) -> Duration {
        let nanos = (u128::from(tokens) * NANOS_PER_SEC)
            .div_ceil(u128::from(self.spec.bytes_per_sec().get()));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Takes up to `want` tokens if at least `min(want, burst, rate / 20)` are there;
    /// otherwise the instant at which they will be.
    fn reserve(&self, want: u64, now: Instant) -> Result<u64, Instant> {
        let burst = self.spec.burst().get();
        let rate = self.spec.bytes_per_sec().get();
        let threshold = want.min(burst).min((rate / 20).max(1)).max(1);
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        let debt = tat.saturating_duration_since(now).as_nanos();
        let debt_tokens =
            u64::try_from((debt * u128::from(rate)).div_ceil(NANOS_PER_SEC)).unwrap_or(u64::MAX);
        let available = burst.saturating_sub(debt_tokens);
        if available >= threshold {
            let take = available.min(want);
            let base = (*tat).max(now);
            *tat = base.checked_add(self.cost(take)).unwrap_or(base);
            return Ok(take);
        }
        // Enough tokens once the debt is down to `burst - threshold`.
        let allowed_debt = self.cost(burst - threshold);
        let at = tat.checked_sub(allowed_debt).unwrap_or(now);
        Err(at.max(now + Duration::from_millis(1).min(self.cost(threshold))))
    }

    /// Gives back tokens reserved and not used.
    fn refund(&self, tokens: u64) {
        if tokens == 0 {
            return;
        }
        let back = self.cost(tokens);
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        *tat = tat.checked_sub(back).unwrap_or(*tat);
    }
}

/// The two buckets of one client: bytes from it and bytes to it.
#[derive(Debug)]
pub(crate) struct ClientBuckets {
    pub(crate) from_client: SharedBucket,
    pub(crate) to_client: SharedBucket,
}

/// The buckets of every client of one listener. A client's buckets live while it has
/// connections and until they are full again (so reconnecting does not refill them); a sweep
/// when the map has doubled since the last one drops the others, which bounds the map by the
/// live and recently throttled clients.
#[derive(Debug)]
pub(crate) struct BucketMap {
    spec: Throttle,
    inner: Mutex<MapInner>,
}

#[derive(Debug, Default)]
struct MapInner {
    map: HashMap<u64, Arc<ClientBuckets>>,
    next_sweep: usize,
}

impl BucketMap {
    pub(crate) fn new(spec: Throttle) -> Self {
        Self {
            spec,
            inner: Mutex::new(MapInner::default()),
        }
    }

    /// The buckets of `key`, created full when missing.
    pub(crate) fn get(&self, key: ClientKey, now: Instant) -> Arc<ClientBuckets> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.map.len() >= inner.next_sweep {
            inner.map.retain(|_, b| {
                Arc::strong_count(b) > 1
                    || [&b.from_client, &b.to_client].iter().any(|bucket| {
                        *bucket.tat.lock().unwrap_or_else(PoisonError::into_inner) > now
                    })
            });
            inner.next_sweep = (inner.map.len() * 2).max(64);
        }
        let spec = self.spec;
        Arc::clone(inner.map.entry(key.get()).or_insert_with(|| {
            Arc::new(ClientBuckets {
                from_client: SharedBucket::new(spec, now),
                to_client: SharedBucket::new(spec, now),
            })
        }))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}

/// Waiting for one bucket: the buckets plus this connection's timer.
struct Gate {
    buckets: Arc<ClientBuckets>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Incremented the first time this connection has to wait (then dropped).
    on_first_wait: Option<metrics::Counter>,
}

impl Gate {
    fn poll_reserve(
        &mut self,
        cx: &mut Context<'_>,
        pick: fn(&ClientBuckets) -> &SharedBucket,
        want: usize,
    ) -> Poll<usize> {
        let want64 = u64::try_from(want).unwrap_or(u64::MAX).max(1);
        loop {
            match pick(&self.buckets).reserve(want64, Instant::now()) {
                Ok(n) => {
                    self.sleep = None;
                    return Poll::Ready(usize::try_from(n).unwrap_or(want));
                }
                Err(at) => {
                    if let Some(c) = self.on_first_wait.take() {
                        c.increment(1);
                    }
                    let sleep = self
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    sleep.as_mut().reset(at);
                    ready!(sleep.as_mut().poll(cx));
                }
            }
        }
    }
}

/// A client stream whose reads and writes take tokens from its client's buckets.
pub(crate) struct Throttled<S> {
    inner: S,
    gate: Gate,
    /// Separate timer for writes, which are polled independently of reads.
    write_sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Throttled<S> {
    pub(crate) fn new(inner: S, buckets: Arc<ClientBuckets>, hits: metrics::Counter) -> Self {
        Self {
            inner,
            gate: Gate {
                buckets,
                sleep: None,
                on_first_wait: Some(hits),
            },
            write_sleep: None,
        }
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let allowed = ready!(
            this.gate
                .poll_reserve(cx, |b| &b.from_client, buf.remaining())
        );
        let window = buf.initialize_unfilled_to(allowed.min(buf.remaining()));
        let mut limited = ReadBuf::new(window);
        let result = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        let n = match &result {
            Poll::Ready(Ok(())) => limited.filled().len(),
            _ => 0,
        };
        this.gate
            .buckets
            .from_client
            .refund(u64::try_from(allowed - n).unwrap_or(0));
        if n > 0 {
            buf.advance(n);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if data.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        // Writes use their own timer: swap it in so the read side's stays untouched.
        std::mem::swap(&mut this.gate.sleep, &mut this.write_sleep);
        let allowed = this.gate.poll_reserve(cx, |b| &b.to_client, data.len());
        std::mem::swap(&mut this.gate.sleep, &mut this.write_sleep);
        let allowed = ready!(allowed).min(data.len());
        let slice = data.get(..allowed).unwrap_or(data);
        let result = Pin::new(&mut this.inner).poll_write(cx, slice);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        this.gate
            .buckets
            .to_client
            .refund(u64::try_from(allowed.saturating_sub(n)).unwrap_or(0));
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    fn spec(rate: u64, burst: u64) -> Throttle {
        Throttle::new(
            NonZeroU64::new(rate).unwrap(),
            NonZeroU64::new(burst).unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn reserve_refund_and_wait_time() {
        let now = Instant::now();
        let b = SharedBucket::new(spec(1000, 500), now);
        assert_eq!(b.reserve(4096, now), Ok(500));
        // Threshold min(4096, 500, 50) = 50 tokens, 50 ms away.
        assert_eq!(b.reserve(4096, now), Err(now + Duration::from_millis(50)));
        b.refund(100);
        assert_eq!(b.reserve(4096, now), Ok(100));
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_shared_per_key_and_swept_when_idle_and_full() {
        let map = BucketMap::new(spec(1000, 1000));
        let now = Instant::now();
        let a = map.get(ClientKey::from_raw(1), now);
        let a2 = map.get(ClientKey::from_raw(1), now);
        assert!(Arc::ptr_eq(&a, &a2));
        assert_eq!(a.from_client.reserve(1000, now), Ok(1000));
        drop((a, a2));
        for k in 2..70 {
            drop(map.get(ClientKey::from_raw(k), now));
        }
        // The sweep at 64 entries kept key 1 (its bucket is not full yet) and dropped the rest.
        let again = map.get(ClientKey::from_raw(1), now);
        assert!(again.from_client.reserve(1000, now).is_err(), "state kept");
        assert!(map.len() < 69);
    }
}
