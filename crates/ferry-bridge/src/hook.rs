//! The inspection hook: see, rewrite, drop or refuse the bytes of a session.

use bytes::BytesMut;

use crate::Direction;

/// What to do with a chunk after [`Inspect::on_chunk`] looked at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Write the chunk (as the hook left it: it may have been rewritten, grown or shrunk; an
    /// empty chunk writes nothing).
    Forward,
    /// Swallow the chunk: nothing is written and the session goes on.
    Drop,
    /// End the session now with [`End::HookClosed`](crate::End::HookClosed); the chunk is not
    /// written.
    Close,
}

/// An inspection hook called with every chunk a session reads, before it is written.
///
/// Setting a hook (with [`Session::hook`](crate::Session::hook)) forces the copy path, since
/// spliced bytes never reach user space. A chunk is what one read returned (at most
/// [`BridgeConfig::buffer_size`](crate::BridgeConfig::buffer_size) bytes), so a pattern can be
/// split across two chunks: a hook that matches patterns must keep its own state between calls.
/// The [`Session`](crate::Session) prefixes are passed to the hook as the first chunk of their
/// direction. The hook runs inside the session's task: keep it fast and never block.
///
/// ```
/// use bytes::BytesMut;
/// use ferry_bridge::{Direction, Inspect, Verdict};
///
/// /// Ends the session when the client sends `QUIT`, upper-cases everything else.
/// struct Shout;
///
/// impl Inspect for Shout {
///     fn on_chunk(&mut self, dir: Direction, chunk: &mut BytesMut) -> Verdict {
///         if dir == Direction::AToB && chunk.starts_with(b"QUIT") {
///             return Verdict::Close;
///         }
///         chunk.make_ascii_uppercase();
///         Verdict::Forward
///     }
/// }
///
/// let mut chunk = BytesMut::from(&b"hello"[..]);
/// assert_eq!(Shout.on_chunk(Direction::AToB, &mut chunk), Verdict::Forward);
/// assert_eq!(&chunk[..], b"HELLO");
/// let session = ferry_bridge::Session::new().hook(Box::new(Shout));
/// # let _ = session;
/// ```
pub trait Inspect {
    /// Called with each chunk read in direction `dir`, before it is written.
    fn on_chunk(&mut self, dir: Direction, chunk: &mut BytesMut) -> Verdict;

    /// Called once when the source of direction `dir` reaches EOF. Default: does nothing.
    fn on_eof(&mut self, dir: Direction) {
        let _ = dir;
    }
}
