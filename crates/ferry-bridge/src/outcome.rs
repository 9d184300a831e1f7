//! What a session returns: byte counts and why it ended.

use std::fmt;
use std::io;

/// One of the two streams given to [`Bridge::run`](crate::Bridge::run): `a` or `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first stream (`a`), usually the client.
    A,
    /// The second stream (`b`), usually the upstream.
    B,
}

impl Side {
    /// The other side.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::A => "a",
            Self::B => "b",
        })
    }
}

/// The operation that failed on a [`Side`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Reading from the side.
    Read,
    /// Writing to the side.
    Write,
    /// Shutting down the write half of the side (forwarding an EOF).
    Shutdown,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Shutdown => "shutdown",
        })
    }
}

/// A direction of transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes read from `a` and written to `b`.
    AToB,
    /// Bytes read from `b` and written to `a`.
    BToA,
}

impl Direction {
    /// The side this direction reads from.
    #[must_use]
    pub fn source(self) -> Side {
        match self {
            Self::AToB => Side::A,
            Self::BToA => Side::B,
        }
    }

    /// The side this direction writes to.
    #[must_use]
    pub fn destination(self) -> Side {
        self.source().other()
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AToB => "a->b",
            Self::BToA => "b->a",
        })
    }
}

/// An I/O failure on one side of a session (see [`End::Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The peer reset or aborted the connection (`ECONNRESET`, `ECONNABORTED`, `EPIPE`).
    #[error("connection reset")]
    Reset(#[source] io::Error),
    /// The stream accepted zero bytes of a non-empty write.
    #[error("stream accepted no bytes")]
    WriteZero,
    /// Any other I/O error.
    #[error("i/o failed")]
    Io(#[source] io::Error),
}

impl BridgeError {
    /// Classifies an I/O error.
    pub(crate) fn from_io(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Self::Reset(error),
            io::ErrorKind::WriteZero => Self::WriteZero,
            _ => Self::Io(error),
        }
    }

    /// The [`io::ErrorKind`] of the underlying error.
    #[must_use]
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::Reset(e) | Self::Io(e) => e.kind(),
            Self::WriteZero => io::ErrorKind::WriteZero,
        }
    }

    /// Whether the peer reset the connection.
    #[must_use]
    pub fn is_reset(&self) -> bool {
        matches!(self, Self::Reset(_))
    }
}

/// Why a session ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum End {
    /// Both directions finished normally: each source reached EOF, everything read was written,
    /// and the EOF was forwarded as a write shutdown.
    Closed,
    /// No byte moved in either direction for
    /// [`BridgeConfig::idle_timeout`](crate::BridgeConfig::idle_timeout).
    IdleTimeout,
    /// One direction had finished and the other moved no byte for
    /// [`BridgeConfig::half_close_timeout`](crate::BridgeConfig::half_close_timeout).
    HalfCloseTimeout,
    /// The session reached [`BridgeConfig::max_lifetime`](crate::BridgeConfig::max_lifetime).
    LifetimeExceeded,
    /// An operation failed on one side; the session ended at once and both streams were dropped.
    Error {
        /// The side whose operation failed.
        side: Side,
        /// The operation that failed.
        op: Op,
        /// What went wrong.
        error: BridgeError,
    },
    /// The inspection hook returned [`Verdict::Close`](crate::Verdict::Close) for a chunk
    /// travelling in `direction`.
    HookClosed {
        /// The direction of the chunk that made the hook close the session.
        direction: Direction,
    },
}

impl End {
    pub(crate) fn error(side: Side, op: Op, error: io::Error) -> Self {
        Self::Error {
            side,
            op,
            error: BridgeError::from_io(error),
        }
    }

    /// Whether the session ended with [`End::Closed`].
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }

    /// Whether the session ended because of one of the three timeouts.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::IdleTimeout | Self::HalfCloseTimeout | Self::LifetimeExceeded
        )
    }

    /// The error, for [`End::Error`].
    #[must_use]
    pub fn as_error(&self) -> Option<(Side, Op, &BridgeError)> {
        match self {
            Self::Error { side, op, error } => Some((*side, *op, error)),
            _ => None,
        }
    }

    /// A short, stable, `snake_case` label for metrics: `closed`, `idle_timeout`,
    /// `half_close_timeout`, `lifetime_exceeded`, `error` or `hook_closed`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::IdleTimeout => "idle_timeout",
            Self::HalfCloseTimeout => "half_close_timeout",
            Self::LifetimeExceeded => "lifetime_exceeded",
            Self::Error { .. } => "error",
            Self::HookClosed { .. } => "hook_closed",
        }
    }
}

impl fmt::Display for End {
    /// Human-readable; the text is not stable (use [`End::label`] for machines). For
    /// [`End::Error`] the cause is not included: walk [`BridgeError`]'s source chain.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("closed"),
            Self::IdleTimeout => f.write_str("idle timeout"),
            Self::HalfCloseTimeout => f.write_str("half-close timeout"),
            Self::LifetimeExceeded => f.write_str("lifetime exceeded"),
            Self::Error { side, op, error } => write!(f, "{op} on side {side} failed: {error}"),
            Self::HookClosed { direction } => write!(f, "closed by hook ({direction})"),
        }
    }
}

/// The result of a session. Counts are exact and present whatever the [`End`].
#[derive(Debug)]
pub struct Outcome {
    /// Bytes written to `b` (read from `a`, plus the `a -> b` prefix, after any hook rewrite).
    pub a_to_b: u64,
    /// Bytes written to `a` (read from `b`, plus the `b -> a` prefix, after any hook rewrite).
    pub b_to_a: u64,
    /// Why the session ended.
    pub end: End,
    /// Whether at least one byte went through `splice(2)` (a kernel pipe) instead of a
    /// user-space buffer.
    pub spliced: bool,
}
