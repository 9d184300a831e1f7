//! The Linux pipe pool: kernel pipes for `splice(2)`, capped and reused.
//!
//! A pipe is one pair of file descriptors ([`OwnedFd`]s, closed on drop). The pool creates pipes
//! lazily up to its cap, lends them to spliced directions while bytes are in flight, and keeps
//! the empty ones it gets back. A pipe given back while still holding bytes (its session ended
//! early) is closed, never pooled, and its bytes are counted as discarded. When the cap is
//! reached or the kernel refuses a new pipe (`EMFILE`, `ENFILE`, `ENOMEM`, or the per-user pipe
//! quota), `acquire` fails and the caller copies instead.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rustix::pipe::{PipeFlags, fcntl_getpipe_size, pipe_with};

use crate::BridgeStats;

/// Capacity assumed when the kernel does not report one (one page).
const MIN_PIPE_CAPACITY: usize = 4096;

/// One kernel pipe.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(super) read: OwnedFd,
    pub(super) write: OwnedFd,
    pub(super) capacity: usize,
}

fn create_pipe() -> io::Result<Pipe> {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let capacity = fcntl_getpipe_size(&read)
        .unwrap_or(MIN_PIPE_CAPACITY)
        .max(1);
    Ok(Pipe {
        read,
        write,
        capacity,
    })
}

/// The bridge-wide pool of pipes, capped at `max` pipes in existence.
#[derive(Debug)]
pub(crate) struct PipePool {
    max: usize,
    free: Mutex<Vec<Pipe>>,
    /// Pipes in existence: in use plus pooled.
    pub(super) total: AtomicUsize,
    in_use: AtomicUsize,
    pub(super) fallbacks: AtomicU64,
    create_failures: AtomicU64,
    discarded: AtomicU64,
    create: fn() -> io::Result<Pipe>,
}

/// Why no pipe could be had.
pub(super) enum NoPipe {
    /// The pool is at its cap; try again for a later chunk.
    Cap,
    /// The kernel refused a new pipe; stop trying for this direction.
    Refused,
}

impl PipePool {
    pub(crate) fn new(max: usize) -> Self {
        Self::with_creator(max, create_pipe)
    }

    pub(super) fn with_creator(max: usize, create: fn() -> io::Result<Pipe>) -> Self {
        Self {
            max,
            free: Mutex::new(Vec::new()),
            total: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            fallbacks: AtomicU64::new(0),
            create_failures: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            create,
        }
    }

    pub(super) fn acquire(&self) -> Result<PooledPipe<'_>, NoPipe> {
        let pooled = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let pipe = match pooled {
            Some(pipe) => pipe,
            None => {
                let reserve = |t: usize| (t < self.max).then_some(t + 1);
                if self
                    .total
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, reserve)
                    .is_err()
                {
                    return Err(NoPipe::Cap);
                }
                match (self.create)() {
                    Ok(pipe) => pipe,
                    Err(error) => {
                        self.total.fetch_sub(1, Ordering::AcqRel);
                        self.create_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%error, "cannot create a pipe, copying instead");
                        return Err(NoPipe::Refused);
                    }
                }
            }
        };
        self.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(PooledPipe {
            pipe: Some(pipe),
            pool: self,
            in_pipe: 0,
        })
    }

    fn release(&self, pipe: Pipe, in_pipe: usize) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        if in_pipe == 0 {
            self.free
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(pipe);
        } else {
            self.discarded.fetch_add(in_pipe as u64, Ordering::Relaxed);
            self.total.fetch_sub(1, Ordering::AcqRel);
            drop(pipe);
        }
    }

    pub(crate) fn fill_stats(&self, stats: &mut BridgeStats) {
        stats.pipes_in_use = self.in_use.load(Ordering::Relaxed);
        stats.pipes_pooled = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        stats.splice_fallbacks = self.fallbacks.load(Ordering::Relaxed);
        stats.pipe_create_failures = self.create_failures.load(Ordering::Relaxed);
        stats.pipe_bytes_discarded = self.discarded.load(Ordering::Relaxed);
    }
}

/// A pipe borrowed from the pool with the number of bytes it holds; goes back on drop (or is
/// closed if it still holds bytes).
pub(super) struct PooledPipe<'p> {
    pub(super) pipe: Option<Pipe>,
    pool: &'p PipePool,
    pub(super) in_pipe: usize,
}

impl Drop for PooledPipe<'_> {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            self.pool.release(pipe, self.in_pipe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_caps_pipes_and_closes_pipes_that_hold_bytes() {
        let pool = PipePool::new(2);
        let mut first = pool.acquire().ok().unwrap();
        let second = pool.acquire().ok().unwrap();
        assert!(matches!(pool.acquire(), Err(NoPipe::Cap)));
        first.in_pipe = 5;
        drop(first);
        let mut stats = BridgeStats::default();
        pool.fill_stats(&mut stats);
        assert_eq!(
            (
                stats.pipes_in_use,
                stats.pipes_pooled,
                stats.pipe_bytes_discarded
            ),
            (1, 0, 5)
        );
        let third = pool.acquire().ok().unwrap();
        drop((second, third));
        pool.fill_stats(&mut stats);
        assert_eq!((stats.pipes_in_use, stats.pipes_pooled), (0, 2));
        assert_eq!(pool.total.load(Ordering::Relaxed), 2);
    }
}
