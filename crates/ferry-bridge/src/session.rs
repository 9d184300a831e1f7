//! Per-session options: live counters, hook, throttles and prefixes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::{Direction, Inspect, Throttle};

/// Live byte counters of a session, readable while it runs (for metrics or an admin view).
///
/// Share one through [`Session::counters`]. Each count is the number of bytes written to the
/// destination so far, exactly as in [`Outcome`](crate::Outcome). A `Counters` given to several
/// sessions adds them up.
#[derive(Debug, Default)]
pub struct Counters {
    a_to_b: AtomicU64,
    b_to_a: AtomicU64,
}

impl Counters {
    /// New counters at zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes written to `b` so far.
    #[must_use]
    pub fn a_to_b(&self) -> u64 {
        self.a_to_b.load(Ordering::Relaxed)
    }

    /// Bytes written to `a` so far.
    #[must_use]
    pub fn b_to_a(&self) -> u64 {
        self.b_to_a.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, dir: Direction, n: u64) {
        let counter = match dir {
            Direction::AToB => &self.a_to_b,
            Direction::BToA => &self.b_to_a,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Options for one session (one pair of streams). All optional; [`Session::default()`] has none.
///
/// ```
/// use std::num::NonZeroU64;
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use ferry_bridge::{Counters, Session, Throttle};
///
/// let counters = Arc::new(Counters::new());
/// let rate = NonZeroU64::new(1 << 20).unwrap();
/// let session = Session::new()
///     .counters(Arc::clone(&counters))
///     .throttle_b_to_a(Some(Throttle::per_second(rate)))
///     // bytes the caller already read from `a` while parsing a header:
///     .prefix_a_to_b(Bytes::from_static(b"GET / HTTP/1.1\r\n"));
/// # let _ = session;
/// ```
#[derive(Default)]
pub struct Session {
    pub(crate) counters: Option<Arc<Counters>>,
    pub(crate) hook: Option<Box<dyn Inspect + Send>>,
    pub(crate) throttle_a_to_b: Option<Throttle>,
    pub(crate) throttle_b_to_a: Option<Throttle>,
    pub(crate) prefix_a_to_b: Bytes,
    pub(crate) prefix_b_to_a: Bytes,
}

impl Session {
    /// A session with no options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Live counters updated as bytes are written (default: none).
    #[must_use]
    pub fn counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// An inspection hook called with every chunk (default: none). Forces the copy path.
    #[must_use]
    pub fn hook(mut self, hook: Box<dyn Inspect + Send>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// A bandwidth limit on bytes read from `a` (default: none). Forces the copy path.
    #[must_use]
    pub fn throttle_a_to_b(mut self, throttle: Option<Throttle>) -> Self {
        self.throttle_a_to_b = throttle;
        self
    }

    /// A bandwidth limit on bytes read from `b` (default: none). Forces the copy path.
    #[must_use]
    pub fn throttle_b_to_a(mut self, throttle: Option<Throttle>) -> Self {
        self.throttle_b_to_a = throttle;
        self
    }

    /// Bytes already read from `a` (for example the leftovers after a parsed header), written to
    /// `b` before anything else, also before splicing starts (default: empty). They pass through
    /// the hook like any chunk and count in [`Outcome::a_to_b`](crate::Outcome::a_to_b).
    #[must_use]
    pub fn prefix_a_to_b(mut self, prefix: Bytes) -> Self {
        self.prefix_a_to_b = prefix;
        self
    }

    /// Bytes already read from `b`, written to `a` before anything else (default: empty). See
    /// [`Session::prefix_a_to_b`].
    #[must_use]
    pub fn prefix_b_to_a(mut self, prefix: Bytes) -> Self {
        self.prefix_b_to_a = prefix;
        self
    }

    /// Whether the session needs user-space copying (a hook or a throttle is set).
    #[cfg(target_os = "linux")]
    pub(crate) fn needs_copy(&self) -> bool {
        self.hook.is_some() || self.throttle_a_to_b.is_some() || self.throttle_b_to_a.is_some()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("counters", &self.counters)
            .field("hook", &self.hook.as_ref().map(|_| "..."))
            .field("throttle_a_to_b", &self.throttle_a_to_b)
            .field("throttle_b_to_a", &self.throttle_b_to_a)
            .field("prefix_a_to_b", &self.prefix_a_to_b.len())
            .field("prefix_b_to_a", &self.prefix_b_to_a.len())
            .finish()
    }
}
