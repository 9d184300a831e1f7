//! Bridge-wide statistics.

/// A snapshot of a bridge's shared resources, from [`Bridge::stats`](crate::Bridge::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Copy buffers currently held by sessions (each holds at most one per direction, and only
    /// while bytes are in flight).
    pub buffers_in_use: usize,
    /// Idle copy buffers kept for reuse.
    pub buffers_pooled: usize,
    /// Pipes currently held by spliced sessions (only while bytes are in flight).
    pub pipes_in_use: usize,
    /// Idle pipes kept for reuse.
    pub pipes_pooled: usize,
    /// Times a spliced direction had no pipe (cap reached or the kernel refused one) and copied
    /// a chunk in user space instead. Counted once per direction and session.
    pub splice_fallbacks: u64,
    /// Times the kernel refused to create a pipe (`EMFILE`, `ENFILE`, `ENOMEM`, ...).
    pub pipe_create_failures: u64,
    /// Bytes that were in a pipe when their session ended early (error or timeout) and were
    /// therefore never delivered.
    pub pipe_bytes_discarded: u64,
}
