//! Linux `splice(2)` fast path: socket → pipe → socket without copying through user space.
//!
//! The pattern (also used by tokio-splice and tokio-splice2): wait for read readiness, then
//! `try_io(READABLE, splice(socket → pipe))`; wait for write readiness, then
//! `try_io(WRITABLE, splice(pipe → socket))`. `try_io` clears tokio's readiness when the closure
//! returns `WouldBlock`, so a `WouldBlock` must only ever come from the socket: bytes are spliced
//! *into* a pipe only when it is empty (an `EAGAIN` from a full pipe would otherwise wrongly
//! clear the socket's read readiness), and *out of* it only when it holds bytes. A splice of 0
//! bytes into an empty pipe is EOF.
//!
//! A direction takes a pipe from the [`PipePool`] when its socket is readable and gives it back
//! once the pipe is drained and the socket has nothing more, so an idle session holds no pipe.
//! Everything here is safe code: rustix wraps the syscalls.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use rustix::io::Errno;
use rustix::pipe::{SpliceFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::pipe_pool::{NoPipe, PipePool, PooledPipe};
use crate::driver::Polling;
use crate::pool::BufPool;
use crate::transfer::{Env, MAX_CHUNKS_PER_POLL, State, Transfer};
use crate::{BridgeConfig, Direction, End, Op, Outcome, Session};

const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

/// One spliced direction: the copy [`Transfer`] (prefix, fallback chunks, counts, state) plus a
/// pipe while bytes are in flight.
struct SpliceDir<'p> {
    copy: Transfer<'p>,
    pipe: Option<PooledPipe<'p>>,
    /// The kernel refused a pipe or splicing: copy for the rest of the session.
    copy_only: bool,
    /// A fallback was already counted for this direction.
    fell_back: bool,
    spliced: bool,
    /// The last read filled a whole buffer (or pipe): the flow is bulk, so splice. Small reads
    /// (request/response traffic) are copied, which costs two system calls instead of four and
    /// no pipe (HAProxy's `splice-auto` makes the same choice).
    bulk: bool,
}

impl<'p> SpliceDir<'p> {
    fn new(copy: Transfer<'p>) -> Self {
        Self {
            copy,
            pipe: None,
            copy_only: false,
            fell_back: false,
            spliced: false,
            bulk: false,
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        src: &mut TcpStream,
        dst: &mut TcpStream,
        env: &mut Env<'_, 'p>,
        pipes: &'p PipePool,
    ) -> Poll<Result<(), End>> {
        let mut chunks = 0;
        loop {
            match self.copy.state {
                State::Running => {
                    ready!(self.copy.poll_write_pending(cx, Pin::new(&mut *dst), env))?;
                    ready!(self.poll_drain(cx, dst, env))?;
                    if self.copy.read_eof {
                        self.pipe = None;
                        self.copy.state = State::ShuttingDown;
                        continue;
                    }
                    if chunks == MAX_CHUNKS_PER_POLL {
                        self.go_idle();
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    chunks += 1;
                    // Readiness is asked for only before a splice; a copy's read asks itself.
                    if self.pipe.is_some() || (self.bulk && !self.copy_only) {
                        match src.poll_read_ready(cx) {
                            Poll::Pending => {
                                self.go_idle();
                                return Poll::Pending;
                            }
                            Poll::Ready(Err(e)) => {
                                return Poll::Ready(Err(self.copy.fail(Op::Read, e)));
                            }
                            Poll::Ready(Ok(())) => {}
                        }
                        if self.pipe.is_none() {
                            self.take_pipe(pipes);
                        }
                    }
                    if self.pipe.is_some() {
                        self.splice_in(src, env, pipes)?;
                        continue;
                    }
                    let read = if self.copy.reads_on_stack(env) {
                        self.copy.poll_read_stack(
                            cx,
                            Pin::new(&mut *src),
                            Pin::new(&mut *dst),
                            env,
                        )?
                    } else {
                        self.copy.poll_read_chunk(cx, Pin::new(&mut *src), env)?
                    };
                    if read.is_pending() {
                        self.go_idle();
                        return Poll::Pending;
                    }
                    self.bulk = self.copy.last_read >= env.pool.buffer_size();
                }
                State::ShuttingDown => {
                    ready!(self.copy.poll_shutdown(cx, Pin::new(&mut *dst), env))?;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Gives back the pipe (empty here) and the spare buffer while the source has nothing.
    fn go_idle(&mut self) {
        self.pipe = None;
        self.copy.release_spare();
    }

    fn take_pipe(&mut self, pipes: &'p PipePool) {
        match pipes.acquire() {
            Ok(pipe) => self.pipe = Some(pipe),
            Err(why) => {
                if matches!(why, NoPipe::Refused) {
                    self.copy_only = true;
                }
                if !self.fell_back {
                    self.fell_back = true;
                    pipes.fallbacks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Moves what the socket has into the (empty) pipe. `Err` ends the session.
    fn splice_in(
        &mut self,
        src: &TcpStream,
        env: &mut Env<'_, 'p>,
        pipes: &'p PipePool,
    ) -> Result<(), End> {
        let Some(pooled) = self.pipe.as_ref() else {
            return Ok(());
        };
        let Some(pipe) = pooled.pipe.as_ref() else {
            return Ok(());
        };
        debug_assert_eq!(pooled.in_pipe, 0, "splice into a non-empty pipe");
        let result = src.try_io(Interest::READABLE, || {
            splice(src, None, &pipe.write, None, pipe.capacity, FLAGS).map_err(io::Error::from)
        });
        match result {
            Ok(0) => {
                self.copy.read_eof = true;
                *env.activity = true;
            }
            Ok(n) => {
                self.bulk = n >= env.pool.buffer_size();
                if let Some(pooled) = self.pipe.as_mut() {
                    pooled.in_pipe = n;
                }
                self.spliced = true;
                *env.activity = true;
            }
            // Not readable after all (readiness cleared) or interrupted: poll again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) if is_unsupported(&e) => {
                // Nothing was consumed: copy instead, for the rest of the session.
                tracing::debug!(error = %e, "splice refused, copying instead");
                self.copy_only = true;
                self.pipe = None;
                if !self.fell_back {
                    self.fell_back = true;
                    pipes.fallbacks.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => return Err(self.copy.fail(Op::Read, e)),
        }
        Ok(())
    }

    /// Writes out what the pipe holds; ready when it is empty.
    fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        dst: &TcpStream,
        env: &mut Env<'_, 'p>,
    ) -> Poll<Result<(), End>> {
        loop {
            let Some(pooled) = self.pipe.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let (Some(pipe), in_pipe) = (pooled.pipe.as_ref(), pooled.in_pipe) else {
                return Poll::Ready(Ok(()));
            };
            if in_pipe == 0 {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = ready!(dst.poll_write_ready(cx)) {
                return Poll::Ready(Err(self.copy.fail(Op::Write, e)));
            }
            let result = dst.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, dst, None, in_pipe, FLAGS).map_err(io::Error::from)
            });
            match result {
                Ok(0) => {
                    return Poll::Ready(Err(End::Error {
                        side: self.copy.direction().destination(),
                        op: Op::Write,
                        error: crate::BridgeError::WriteZero,
                    }));
                }
                Ok(n) => {
                    pooled.in_pipe -= n.min(in_pipe);
                    self.spliced = true;
                    self.copy.record(n, env);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Poll::Ready(Err(self.copy.fail(Op::Write, e))),
            }
        }
    }
}

/// Errors meaning "this fd pair cannot be spliced", not "the connection failed".
fn is_unsupported(error: &io::Error) -> bool {
    error.raw_os_error().is_some_and(|code| {
        let errno = Errno::from_raw_os_error(code);
        errno == Errno::INVAL || errno == Errno::NOSYS || errno == Errno::OPNOTSUPP
    })
}

/// Runs a session over two TCP streams with the splice path (the session has no hook and no
/// throttle: the caller checked).
pub(crate) fn run_spliced<'p>(
    config: &'p BridgeConfig,
    buffers: &'p BufPool,
    pipes: &'p PipePool,
    mut a: TcpStream,
    mut b: TcpStream,
    opts: Session,
) -> impl Future<Output = Outcome> + Send + use<'p> {
    let Session {
        counters,
        prefix_a_to_b,
        prefix_b_to_a,
        ..
    } = opts;
    let mut ab = SpliceDir::new(Transfer::new(Direction::AToB, prefix_a_to_b, None));
    let mut ba = SpliceDir::new(Transfer::new(Direction::BToA, prefix_b_to_a, None));
    // An `async` block, not an `async fn`: each piece is kept once (see `Bridge::run`).
    async move {
        let end = crate::driver::drive(config, Polling::WokenOnly, |cx, dir, activity| {
            let mut env = Env {
                pool: buffers,
                hook: None,
                counters: counters.as_deref(),
                activity,
            };
            match dir {
                Direction::AToB => ab.poll(cx, &mut a, &mut b, &mut env, pipes),
                Direction::BToA => ba.poll(cx, &mut b, &mut a, &mut env, pipes),
            }
        })
        .await;
        Outcome {
            a_to_b: ab.copy.written(),
            b_to_a: ba.copy.written(),
            end,
            spliced: ab.spliced || ba.spliced,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::super::pipe_pool::Pipe;
    use super::*;
    use crate::BridgeStats;

    fn refuse() -> io::Result<Pipe> {
        Err(io::Error::from_raw_os_error(Errno::MFILE.raw_os_error()))
    }

    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (c.unwrap(), s.unwrap().0)
    }

    /// `pipe2` failing (here `EMFILE`, injected) makes both (bulk) directions copy; nothing fails.
    #[tokio::test]
    async fn refused_pipes_fall_back_to_copy() {
        let pipes = PipePool::with_creator(8, refuse);
        let buffers = BufPool::new(16 * 1024, 4);
        let config = BridgeConfig::default();
        let (mut client, a) = tcp_pair().await;
        let (b, mut upstream) = tcp_pair().await;
        let body = vec![3u8; 200_000];
        let run = run_spliced(&config, &buffers, &pipes, a, b, Session::new());
        let peers = async {
            client.write_all(&body).await.unwrap();
            client.shutdown().await.unwrap();
            let mut up = Vec::new();
            upstream.read_to_end(&mut up).await.unwrap();
            upstream.write_all(&[4u8; 100_000]).await.unwrap();
            upstream.shutdown().await.unwrap();
            let mut down = Vec::new();
            client.read_to_end(&mut down).await.unwrap();
            (up, down)
        };
        let (outcome, (up, down)) = tokio::join!(run, peers);
        assert!(outcome.end.is_closed(), "{:?}", outcome.end);
        assert!(!outcome.spliced);
        assert!(up == body);
        assert!(down.len() == 100_000 && down.iter().all(|&b| b == 4));
        assert_eq!((outcome.a_to_b, outcome.b_to_a), (200_000, 100_000));
        let mut stats = BridgeStats::default();
        pipes.fill_stats(&mut stats);
        assert_eq!(stats.splice_fallbacks, 2, "{stats:?}");
        assert_eq!(
            stats.pipe_create_failures, 2,
            "one try per direction: {stats:?}"
        );
        assert_eq!(pipes.total.load(Ordering::Relaxed), 0);
        assert_eq!(buffers.in_use(), 0);
    }

    /// Small request/response chunks are copied (no pipe); once a read fills a whole buffer the
    /// direction switches to splicing.
    #[tokio::test]
    async fn small_chunks_copy_and_bulk_flows_splice() {
        let pipes = PipePool::new(8);
        let buffers = BufPool::new(16 * 1024, 4);
        let config = BridgeConfig::default();
        let (mut client, a) = tcp_pair().await;
        let (b, mut upstream) = tcp_pair().await;
        let run = run_spliced(&config, &buffers, &pipes, a, b, Session::new());
        let peers = async {
            let mut msg = [0u8; 64];
            for i in 0..20u8 {
                client.write_all(&[i; 64]).await.unwrap();
                upstream.read_exact(&mut msg).await.unwrap();
                assert_eq!(msg, [i; 64]);
                upstream.write_all(&msg).await.unwrap();
                client.read_exact(&mut msg).await.unwrap();
            }
            let mut stats = BridgeStats::default();
            pipes.fill_stats(&mut stats);
            let small_used_pipes = stats.pipes_in_use + stats.pipes_pooled;
            // Bulk: 4 MiB one way.
            let body = vec![9u8; 4 << 20];
            let send = async {
                client.write_all(&body).await.unwrap();
                client.shutdown().await.unwrap();
            };
            let recv = async {
                let mut up = Vec::new();
                upstream.read_to_end(&mut up).await.unwrap();
                up
            };
            let ((), up) = tokio::join!(send, recv);
            upstream.shutdown().await.unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            (small_used_pipes, up.len())
        };
        let (outcome, (small_used_pipes, got)) = tokio::join!(run, peers);
        assert_eq!(small_used_pipes, 0, "request/response traffic took a pipe");
        assert_eq!(got, 4 << 20);
        assert!(outcome.spliced, "the bulk flow was not spliced");
        assert_eq!(outcome.a_to_b, 20 * 64 + (4 << 20));
        assert_eq!(outcome.b_to_a, 20 * 64);
    }
}
