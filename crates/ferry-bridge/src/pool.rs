//! The bounded pool of copy buffers.
//!
//! Strategy: a direction owns no buffer while it waits. It takes one from the pool just before a
//! read, keeps it while the bytes read are being written (and for the next read if the source
//! is still ready), and gives it back as soon as a read returns `Pending` with the buffer empty.
//! An idle session therefore holds no buffer, a busy one at most one per direction, and a
//! session whose destination is slow holds exactly one per direction: it stops reading until
//! the buffer is written out. The pool keeps at most `max_pooled_buffers` idle buffers and frees
//! the rest; buffers are zero-filled once at allocation and reused as they are.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::BytesMut;

/// The pool shared by all sessions of a bridge.
#[derive(Debug)]
pub(crate) struct BufPool {
    size: usize,
    max_pooled: usize,
    free: Mutex<Vec<BytesMut>>,
    in_use: AtomicUsize,
}

impl BufPool {
    pub(crate) fn new(size: usize, max_pooled: usize) -> Self {
        Self {
            size,
            max_pooled,
            free: Mutex::new(Vec::new()),
            in_use: AtomicUsize::new(0),
        }
    }

    /// Takes a buffer of exactly `size` initialised bytes.
    pub(crate) fn take(&self) -> PooledBuf<'_> {
        let pooled = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let buf = pooled.unwrap_or_else(|| BytesMut::zeroed(self.size));
        self.in_use.fetch_add(1, Ordering::Relaxed);
        PooledBuf { buf, pool: self }
    }

    fn put(&self, mut buf: BytesMut) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
        // A hook may have grown the buffer far beyond its size, or split it: free those.
        if buf.capacity() < self.size || buf.capacity() > self.size.saturating_mul(2) {
            return;
        }
        restore(&mut buf, self.size);
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.max_pooled {
            free.push(buf);
        }
    }

    /// Buffers currently borrowed by sessions.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Idle buffers kept for reuse.
    pub(crate) fn pooled(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn buffer_size(&self) -> usize {
        self.size
    }
}

/// Gives `buf` a length of `size` again after a hook changed it.
fn restore(buf: &mut BytesMut, size: usize) {
    if buf.len() != size {
        buf.clear();
        buf.resize(size, 0);
    }
}

/// A buffer borrowed from a [`BufPool`]; goes back on drop.
#[derive(Debug)]
pub(crate) struct PooledBuf<'p> {
    buf: BytesMut,
    pool: &'p BufPool,
}

impl PooledBuf<'_> {
    /// Gives the buffer its full length again (after a hook truncated or grew it).
    pub(crate) fn restore(&mut self) {
        restore(&mut self.buf, self.pool.size);
    }
}

impl Deref for PooledBuf<'_> {
    type Target = BytesMut;

    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for PooledBuf<'_> {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl Drop for PooledBuf<'_> {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_and_caps() {
        let pool = BufPool::new(16, 1);
        let a = pool.take();
        let b = pool.take();
        assert_eq!(a.len(), 16);
        assert_eq!(pool.in_use(), 2);
        drop(a);
        drop(b);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.pooled(), 1, "excess buffer freed");
    }

    #[test]
    fn grown_or_truncated_buffers_are_restored_or_freed() {
        let pool = BufPool::new(16, 4);
        let mut a = pool.take();
        a.truncate(3);
        drop(a);
        assert_eq!(pool.take().len(), 16);
        let mut b = pool.take();
        b.resize(1000, 1);
        drop(b);
        assert_eq!(pool.pooled(), 0, "the oversized buffer was freed");
    }
}
