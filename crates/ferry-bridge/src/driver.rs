//! Drives both directions of a session in one future and enforces the three timeouts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use atomic_waker::AtomicWaker;

use tokio::time::{Instant, Sleep};

use crate::{BridgeConfig, Direction, End};

/// The timeouts of one session, evaluated lazily against one [`Sleep`].
///
/// Activity only moves the inactivity deadline later, so the sleep is not reset on every chunk:
/// when it fires early, the deadline is recomputed from the last activity and the sleep re-armed.
struct Deadlines {
    idle: Option<Duration>,
    half_close: Option<Duration>,
    lifetime_end: Option<Instant>,
    last_activity: Instant,
    half_closed: bool,
}

impl Deadlines {
    fn new(config: &BridgeConfig, start: Instant) -> Self {
        Self {
            idle: config.idle_timeout,
            half_close: config.half_close_timeout,
            lifetime_end: config.max_lifetime.and_then(|d| start.checked_add(d)),
            last_activity: start,
            half_closed: false,
        }
    }

    /// The inactivity timeout in force and the end it produces.
    fn inactivity(&self) -> Option<(Duration, fn() -> End)> {
        let idle = self.idle.map(|d| (d, (|| End::IdleTimeout) as fn() -> End));
        if !self.half_closed {
            return idle;
        }
        let half = self
            .half_close
            .map(|d| (d, (|| End::HalfCloseTimeout) as fn() -> End));
        match (idle, half) {
            (Some(i), Some(h)) => Some(if h.0 <= i.0 { h } else { i }),
            (i, h) => h.or(i),
        }
    }

    /// The earliest deadline, if any.
    fn next(&self) -> Option<Instant> {
        let inactivity = self
            .inactivity()
            .and_then(|(d, _)| self.last_activity.checked_add(d));
        match (inactivity, self.lifetime_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The end to report if a deadline has passed at `now`.
    fn expired(&self, now: Instant) -> Option<End> {
        if self.lifetime_end.is_some_and(|end| end <= now) {
            return Some(End::LifetimeExceeded);
        }
        let (timeout, end) = self.inactivity()?;
        let deadline = self.last_activity.checked_add(timeout)?;
        (deadline <= now).then(end)
    }
}

/// Which of a session's wake-up sources fired since its last poll, and the task to wake.
///
/// Itself the waker of the timer; each direction, when the session polls directions only when
/// woken, has a [`DirWaker`]. A wake-up sets the source's bit and wakes the task.
struct Wakes {
    woken: AtomicU8,
    task: AtomicWaker,
}

const WOKEN_AB: u8 = 1;
const WOKEN_BA: u8 = 2;
const WOKEN_TIMER: u8 = 4;
const WOKEN_ALL: u8 = WOKEN_AB | WOKEN_BA | WOKEN_TIMER;

impl Wakes {
    fn set(&self, bit: u8) {
        self.woken.fetch_or(bit, Ordering::AcqRel);
        self.task.wake();
    }
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.set(WOKEN_TIMER);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set(WOKEN_TIMER);
    }
}

/// The waker a direction registers with its streams when directions are polled only when woken.
struct DirWaker {
    wakes: Arc<Wakes>,
    bit: u8,
}

impl Wake for DirWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.set(self.bit);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.set(self.bit);
    }
}

/// When [`drive`] polls a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Polling {
    /// On every wake-up of the session, with the task's waker. Needed when the two directions
    /// may share a waker slot of one stream (a TLS stream's read can write and the other way
    /// round, and a stream keeps one waker per slot: the last registered wins).
    Both,
    /// Only when something it registered with woke it: each direction has its own waker. Only
    /// for streams with separate read and write slots used by one direction each (TCP: the
    /// direction `a -> b` reads `a` and writes `b`, the other reads `b` and writes `a`).
    WokenOnly,
}

/// Runs a session: polls each unfinished direction with `poll_dir(cx, dir, &mut activity)`,
/// which returns `Ready(Ok)` once that direction is done and `Ready(Err(end))` to end the
/// session at once. Returns when both directions are done or a timeout fires.
///
/// Both directions are driven by the same task, so a direction that is done never stops the
/// other (half-close), and an error in either ends the session immediately. With
/// [`Polling::WokenOnly`] a wake-up polls only the direction that was woken; the timer is polled
/// only when it fired or was re-armed, in both modes (it has its own waker).
pub(crate) fn drive<F>(config: &BridgeConfig, polling: Polling, poll_dir: F) -> Drive<F>
where
    F: FnMut(&mut Context<'_>, Direction, &mut bool) -> Poll<Result<(), End>>,
{
    let start = Instant::now();
    let deadlines = Deadlines::new(config, start);
    let armed = deadlines.next();
    let wakes = Arc::new(Wakes {
        woken: AtomicU8::new(WOKEN_ALL),
        task: AtomicWaker::new(),
    });
    let timer_waker = Waker::from(Arc::clone(&wakes));
    let dir_wakers = (polling == Polling::WokenOnly).then(|| {
        [WOKEN_AB, WOKEN_BA].map(|bit| {
            Waker::from(Arc::new(DirWaker {
                wakes: Arc::clone(&wakes),
                bit,
            }))
        })
    });
    Drive {
        poll_dir,
        deadlines,
        armed,
        done: [false, false],
        wakes,
        timer_waker,
        dir_wakers,
        sleep: tokio::time::sleep_until(armed.unwrap_or(start)),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`drive`]: a struct rather than an `async fn`, so that a session (which
    /// may idle for hours) carries each piece of state once, not also the references an
    /// `async fn`'s `poll_fn` closure would hold to it.
    pub(crate) struct Drive<F> {
        poll_dir: F,
        deadlines: Deadlines,
        armed: Option<Instant>,
        done: [bool; 2],
        wakes: Arc<Wakes>,
        timer_waker: Waker,
        // One waker per direction with `Polling::WokenOnly`.
        dir_wakers: Option<[Waker; 2]>,
        #[pin]
        sleep: Sleep,
    }
}

impl<F> Future for Drive<F>
where
    F: FnMut(&mut Context<'_>, Direction, &mut bool) -> Poll<Result<(), End>>,
{
    type Output = End;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End> {
        let this = self.project();
        // Registered before the bits are read: a wake-up after the read wakes this task again.
        this.wakes.task.register(cx.waker());
        let woken = this.wakes.woken.swap(0, Ordering::AcqRel);
        let mut activity = false;
        for (i, (dir, bit)) in [(Direction::AToB, WOKEN_AB), (Direction::BToA, WOKEN_BA)]
            .into_iter()
            .enumerate()
        {
            if this.done[i] {
                continue;
            }
            let polled = match this.dir_wakers {
                None => (this.poll_dir)(cx, dir, &mut activity),
                Some(_) if woken & bit == 0 => continue,
                Some(wakers) => {
                    (this.poll_dir)(&mut Context::from_waker(&wakers[i]), dir, &mut activity)
                }
            };
            match polled {
                Poll::Ready(Ok(())) => this.done[i] = true,
                Poll::Ready(Err(end)) => return Poll::Ready(end),
                Poll::Pending => {}
            }
        }
        if *this.done == [true, true] {
            return Poll::Ready(End::Closed);
        }
        if activity {
            this.deadlines.last_activity = Instant::now();
        }
        if (this.done[0] || this.done[1]) && !this.deadlines.half_closed {
            this.deadlines.half_closed = true;
        }
        poll_deadlines(
            &mut Context::from_waker(this.timer_waker),
            woken & WOKEN_TIMER != 0,
            this.deadlines,
            this.armed,
            this.sleep,
        )
    }
}

/// Polls the timer when it fired (`fired`: its waker woke the task) or was re-armed; re-arms
/// it when the deadline moved.
fn poll_deadlines(
    cx: &mut Context<'_>,
    mut fired: bool,
    deadlines: &mut Deadlines,
    armed: &mut Option<Instant>,
    mut sleep: Pin<&mut Sleep>,
) -> Poll<End> {
    loop {
        let Some(next) = deadlines.next() else {
            *armed = None;
            return Poll::Pending;
        };
        // Re-arm at once when the deadline moved earlier (half-close) or was not armed;
        // a later deadline (activity) is handled when the sleep fires.
        if armed.is_none_or(|at| next < at) {
            sleep.as_mut().reset(next);
            *armed = Some(next);
            fired = true;
        }
        // An armed sleep that did not wake the task has not fired: no need to poll it.
        if !fired || sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(end) = deadlines.expired(Instant::now()) {
            return Poll::Ready(end);
        }
        // Fired early: activity moved the deadline later.
        sleep.as_mut().reset(next);
        *armed = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn half_close_uses_the_shorter_timeout() {
        let config = BridgeConfig::default()
            .idle_timeout(Some(Duration::from_secs(10)))
            .half_close_timeout(Some(Duration::from_secs(30)));
        let mut d = Deadlines::new(&config, Instant::now());
        d.half_closed = true;
        let now = Instant::now();
        assert!(matches!(
            d.expired(now + Duration::from_secs(10)),
            Some(End::IdleTimeout)
        ));
        let config = config.half_close_timeout(Some(Duration::from_secs(5)));
        let mut d = Deadlines::new(&config, now);
        assert!(d.expired(now + Duration::from_secs(5)).is_none());
        d.half_closed = true;
        assert!(matches!(
            d.expired(now + Duration::from_secs(5)),
            Some(End::HalfCloseTimeout)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_timeouts_do_not_overflow() {
        let config = BridgeConfig::default()
            .idle_timeout(Some(Duration::MAX))
            .max_lifetime(Some(Duration::MAX));
        let d = Deadlines::new(&config, Instant::now());
        assert_eq!(d.next(), None);
        assert!(
            d.expired(Instant::now() + Duration::from_secs(1 << 40))
                .is_none()
        );
    }
}
