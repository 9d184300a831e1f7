//! One direction of the copy path: a `Running -> ShuttingDown -> Done` state machine.
//!
//! The splice path (`sys::linux`) reuses the pieces for the prefix and for chunks it has to copy
//! when no pipe is available.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::pool::{BufPool, PooledBuf};
use crate::throttle::Bucket;
use crate::{BridgeError, Counters, Direction, End, Inspect, Op, Throttle, Verdict};

/// Chunks a direction moves in one poll before yielding to the scheduler, so that a stream that
/// is always ready (and does not use tokio's cooperative budget) cannot starve other tasks.
pub(crate) const MAX_CHUNKS_PER_POLL: u32 = 32;

/// Largest read made into a buffer on the stack instead of a pooled one. Small chunks
/// (request/response traffic) are written straight from the stack, so a direction touches the
/// pool only when the destination does not take a chunk at once or the flow reads full chunks.
pub(crate) const STACK_READ: usize = 2048;

/// Where a direction is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Moving bytes.
    Running,
    /// The source reached EOF and everything was written: shutting down the destination.
    ShuttingDown,
    /// Finished.
    Done,
}

/// State shared by both directions during one poll.
pub(crate) struct Env<'a, 'p> {
    pub(crate) pool: &'p BufPool,
    pub(crate) hook: Option<&'a mut (dyn Inspect + Send + 'static)>,
    pub(crate) counters: Option<&'a Counters>,
    /// Set when bytes moved or a direction changed state (resets the idle timer).
    pub(crate) activity: &'a mut bool,
}

/// Bytes read and not yet written.
enum Chunk<'p> {
    /// The session's prefix, not shown to the hook yet (kept here, not in a field of its own, so
    /// that a [`Transfer`] carries no room for a prefix it no longer has).
    Prefix(Bytes),
    /// A prefix (possibly rewritten by the hook).
    Bytes(Bytes),
    /// A pooled buffer holding `buf[pos..end]`.
    Buf {
        buf: PooledBuf<'p>,
        pos: usize,
        end: usize,
    },
}

/// One direction of a session.
pub(crate) struct Transfer<'p> {
    dir: Direction,
    pub(crate) state: State,
    /// Starts as the prefix ([`Chunk::Prefix`]), if any.
    pending: Option<Chunk<'p>>,
    /// An empty buffer kept between a write and the next read while the source is busy.
    spare: Option<PooledBuf<'p>>,
    pub(crate) read_eof: bool,
    /// Size of the last chunk read (0 before the first); the splice path uses it to decide when a
    /// flow is bulk.
    pub(crate) last_read: usize,
    need_flush: bool,
    written: u64,
    /// Boxed: most sessions have none, and an idle session should not carry its room.
    throttle: Option<Box<Bucket>>,
}

impl<'p> Transfer<'p> {
    pub(crate) fn new(dir: Direction, prefix: Bytes, throttle: Option<Throttle>) -> Self {
        Self {
            dir,
            state: State::Running,
            pending: (!prefix.is_empty()).then_some(Chunk::Prefix(prefix)),
            spare: None,
            read_eof: false,
            last_read: 0,
            need_flush: false,
            written: 0,
            throttle: throttle.map(|t| Box::new(Bucket::new(t))),
        }
    }

    /// Bytes written to the destination so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    #[cfg(target_os = "linux")]
    pub(crate) fn direction(&self) -> Direction {
        self.dir
    }

    /// Counts `n` bytes written to the destination.
    pub(crate) fn record(&mut self, n: usize, env: &mut Env<'_, 'p>) {
        let n = n as u64;
        self.written += n;
        if let Some(counters) = env.counters {
            counters.add(self.dir, n);
        }
        *env.activity = true;
    }

    /// Frees the spare buffer (the direction is going idle).
    pub(crate) fn release_spare(&mut self) {
        self.spare = None;
    }

    /// Copy path: moves bytes until the source is not ready, the destination is full, or the
    /// direction is done.
    pub(crate) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        let mut chunks = 0;
        loop {
            match self.state {
                State::Running => {
                    ready!(self.poll_write_pending(cx, w.as_mut(), env))?;
                    if self.read_eof {
                        self.state = State::ShuttingDown;
                        continue;
                    }
                    if chunks == MAX_CHUNKS_PER_POLL {
                        self.release_spare();
                        self.try_flush(cx, w.as_mut())?;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    chunks += 1;
                    let read = if self.reads_on_stack(env) {
                        self.poll_read_stack(cx, r.as_mut(), w.as_mut(), env)?
                    } else {
                        self.poll_read_chunk(cx, r.as_mut(), env)?
                    };
                    if read.is_pending() {
                        self.try_flush(cx, w.as_mut())?;
                        return Poll::Pending;
                    }
                }
                State::ShuttingDown => {
                    ready!(self.poll_shutdown(cx, w.as_mut(), env))?;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Flushes the destination if something was written since the last flush, without
    /// waiting (a pending flush wakes the task when it can go on).
    fn try_flush<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: Pin<&mut W>,
    ) -> Result<(), End> {
        if self.need_flush
            && let Poll::Ready(result) = w.poll_flush(cx)
        {
            result.map_err(|e| self.fail(Op::Write, e))?;
            self.need_flush = false;
        }
        Ok(())
    }

    /// Shuts the destination's write half down and moves to [`State::Done`].
    pub(crate) fn poll_shutdown<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        w: Pin<&mut W>,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>> {
        match ready!(w.poll_shutdown(cx)) {
            Ok(()) => {
                self.state = State::Done;
                *env.activity = true;
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(self.fail(Op::Shutdown, e))),
        }
    }

    /// An [`End::Error`] for `op` on this direction's source (reads) or destination (others).
    pub(crate) fn fail(&self, op: Op, error: std::io::Error) -> End {
        let side = match op {
            Op::Read => self.dir.source(),
            Op::Write | Op::Shutdown => self.dir.destination(),
        };
        End::error(side, op, error)
    }

    /// Writes the prefix and any chunk already read; ready when nothing is pending.
    pub(crate) fn poll_write_pending<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        mut w: Pin<&mut W>,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>> {
        if let Some(Chunk::Prefix(_)) = &self.pending
            && let Some(Chunk::Prefix(prefix)) = self.pending.take()
        {
            self.pending = self.inspect_prefix(prefix, env)?;
        }
        loop {
            let written = {
                let data: &[u8] = match &self.pending {
                    None => return Poll::Ready(Ok(())),
                    Some(Chunk::Bytes(bytes) | Chunk::Prefix(bytes)) => bytes,
                    Some(Chunk::Buf { buf, pos, end }) => &buf[*pos..*end],
                };
                if data.is_empty() {
                    self.finish_chunk();
                    continue;
                }
                match ready!(w.as_mut().poll_write(cx, data)) {
                    Ok(0) => {
                        return Poll::Ready(Err(End::Error {
                            side: self.dir.destination(),
                            op: Op::Write,
                            error: BridgeError::WriteZero,
                        }));
                    }
                    // A stream claiming more than it was given is buggy: count what we gave.
                    Ok(n) => n.min(data.len()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Poll::Ready(Err(self.fail(Op::Write, e))),
                }
            };
            match &mut self.pending {
                Some(Chunk::Bytes(bytes) | Chunk::Prefix(bytes)) => bytes.advance(written),
                Some(Chunk::Buf { pos, .. }) => *pos += written,
                None => {}
            }
            self.need_flush = true;
            self.record(written, env);
        }
    }

    /// Drops the written chunk, keeping its buffer as the spare.
    fn finish_chunk(&mut self) {
        if let Some(Chunk::Buf { mut buf, .. }) = self.pending.take() {
            buf.restore();
            self.spare = Some(buf);
        }
    }

    /// Runs the hook on the prefix.
    fn inspect_prefix(
        &mut self,
        prefix: Bytes,
        env: &mut Env<'_, 'p>,
    ) -> Result<Option<Chunk<'p>>, End> {
        let Some(hook) = env.hook.as_deref_mut() else {
            return Ok(Some(Chunk::Bytes(prefix)));
        };
        let mut chunk = bytes::BytesMut::from(&prefix[..]);
        match hook.on_chunk(self.dir, &mut chunk) {
            Verdict::Forward => Ok(Some(Chunk::Bytes(chunk.freeze()))),
            Verdict::Drop => Ok(None),
            Verdict::Close => Err(End::HookClosed {
                direction: self.dir,
            }),
        }
    }

    /// Whether the next read goes to a buffer on the stack ([`Transfer::poll_read_stack`]): no
    /// hook (it needs a `BytesMut`), no spare buffer at hand, and the last read was smaller
    /// than the stack buffer (a flow that fills it reads into pooled buffers, the full size).
    pub(crate) fn reads_on_stack(&self, env: &Env<'_, 'p>) -> bool {
        env.hook.is_none()
            && self.spare.is_none()
            && self.last_read < STACK_READ.min(env.pool.buffer_size())
    }

    /// Reads one chunk into a buffer on the stack and writes it to `w` at once (nothing may be
    /// pending, no hook). What `w` does not take is copied into a pooled buffer and left
    /// pending. Ready and Pending as [`Transfer::poll_read_chunk`]; the pool is not touched
    /// when the whole chunk is written.
    pub(crate) fn poll_read_stack<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        let size = STACK_READ.min(env.pool.buffer_size());
        let limit = match &mut self.throttle {
            Some(bucket) => match bucket.poll_allowance(cx, size) {
                Poll::Ready(n) => n.min(size),
                Poll::Pending => return Poll::Pending,
            },
            None => size,
        };
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut read_buf = ReadBuf::uninit(&mut stack[..limit]);
        match r.poll_read(cx, &mut read_buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(Op::Read, e))),
        }
        let data = read_buf.filled();
        let n = data.len();
        *env.activity = true;
        self.last_read = n;
        if n == 0 {
            self.read_eof = true;
            return Poll::Ready(Ok(()));
        }
        if let Some(bucket) = &mut self.throttle {
            bucket.consume(n);
        }
        let mut pos = 0;
        while pos < n {
            match w.as_mut().poll_write(cx, &data[pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(End::Error {
                        side: self.dir.destination(),
                        op: Op::Write,
                        error: BridgeError::WriteZero,
                    }));
                }
                Poll::Ready(Ok(written)) => {
                    // A stream claiming more than it was given is buggy: count what we gave.
                    let written = written.min(n - pos);
                    pos += written;
                    self.need_flush = true;
                    self.record(written, env);
                }
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(Op::Write, e))),
                Poll::Pending => break,
            }
        }
        if pos < n {
            // The destination is full: keep the rest until it takes it.
            let mut buf = env.pool.take();
            let rest = n - pos;
            buf[..rest].copy_from_slice(&data[pos..]);
            self.pending = Some(Chunk::Buf {
                buf,
                pos: 0,
                end: rest,
            });
        }
        Poll::Ready(Ok(()))
    }

    /// Reads one chunk (nothing may be pending). Ready when a chunk is pending, the hook dropped
    /// it, or the source reached EOF (`read_eof`). On `Pending` the direction holds no buffer.
    pub(crate) fn poll_read_chunk<R: AsyncRead + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        r: Pin<&mut R>,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>> {
        let size = env.pool.buffer_size();
        let limit = match &mut self.throttle {
            Some(bucket) => match bucket.poll_allowance(cx, size) {
                Poll::Ready(n) => n.min(size),
                Poll::Pending => {
                    self.release_spare();
                    return Poll::Pending;
                }
            },
            None => size,
        };
        let mut buf = match self.spare.take() {
            Some(buf) => buf,
            None => env.pool.take(),
        };
        let mut read_buf = ReadBuf::new(&mut buf[..limit]);
        let n = match r.poll_read(cx, &mut read_buf) {
            // Dropping `buf` gives it back to the pool: nothing was read.
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => read_buf.filled().len(),
            Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                self.spare = Some(buf);
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(Op::Read, e))),
        };
        *env.activity = true;
        self.last_read = n;
        if n == 0 {
            self.read_eof = true;
            if let Some(hook) = env.hook.as_deref_mut() {
                hook.on_eof(self.dir);
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(bucket) = &mut self.throttle {
            bucket.consume(n);
        }
        let Some(hook) = env.hook.as_deref_mut() else {
            self.pending = Some(Chunk::Buf {
                buf,
                pos: 0,
                end: n,
            });
            return Poll::Ready(Ok(()));
        };
        buf.truncate(n);
        match hook.on_chunk(self.dir, &mut buf) {
            Verdict::Forward => {
                let end = buf.len();
                self.pending = Some(Chunk::Buf { buf, pos: 0, end });
            }
            Verdict::Drop => {
                buf.restore();
                self.spare = Some(buf);
            }
            Verdict::Close => {
                return Poll::Ready(Err(End::HookClosed {
                    direction: self.dir,
                }));
            }
        }
        Poll::Ready(Ok(()))
    }
}
