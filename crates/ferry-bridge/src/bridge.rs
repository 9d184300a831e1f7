//! [`Bridge`]: the entry point, shared by all sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

#[cfg(target_os = "linux")]
use crate::SplicePolicy;
use crate::driver::{Polling, drive};
use crate::pool::BufPool;
use crate::sys::PipePool;
use crate::transfer::{Env, Transfer};
use crate::{BridgeConfig, BridgeStats, Direction, Outcome, Session};

/// A bidirectional byte bridge. Cheap to clone: clones share the configuration, the buffer pool,
/// the pipe pool and the statistics.
#[derive(Clone, Debug)]
pub struct Bridge {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BridgeConfig,
    buffers: BufPool,
    pipes: PipePool,
}

impl Default for Bridge {
    fn default() -> Self {
        Self::new(BridgeConfig::default())
    }
}

impl Bridge {
    /// A bridge with this configuration.
    #[must_use]
    pub fn new(config: BridgeConfig) -> Self {
        let buffers = BufPool::new(config.buffer_size.get(), config.max_pooled_buffers);
        let pipes = PipePool::new(config.max_pipes);
        Self {
            inner: Arc::new(Inner {
                config,
                buffers,
                pipes,
            }),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BridgeConfig {
        &self.inner.config
    }

    /// A snapshot of the shared pools and counters.
    #[must_use]
    pub fn stats(&self) -> BridgeStats {
        let mut stats = BridgeStats {
            buffers_in_use: self.inner.buffers.in_use(),
            buffers_pooled: self.inner.buffers.pooled(),
            ..BridgeStats::default()
        };
        self.inner.pipes.fill_stats(&mut stats);
        stats
    }

    /// Bridges `a` and `b` through user-space buffers until both directions finish, one side
    /// fails, the hook closes the session, or a timeout fires.
    ///
    /// EOF from one side is forwarded as a write shutdown to the other while the other
    /// direction keeps flowing (half-close). The streams are dropped when this returns.
    /// Nothing here fails as such: failures are reported in [`Outcome::end`], with the byte
    /// counts moved until then.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops both streams; bytes read and not yet written are lost, and
    /// borrowed buffers go back to the pool.
    pub fn run<A, B>(
        &self,
        mut a: A,
        mut b: B,
        opts: Session,
    ) -> impl Future<Output = Outcome> + Send + use<'_, A, B>
    where
        A: AsyncRead + AsyncWrite + Unpin + Send,
        B: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Session {
            counters,
            mut hook,
            throttle_a_to_b,
            throttle_b_to_a,
            prefix_a_to_b,
            prefix_b_to_a,
        } = opts;
        let inner = &*self.inner;
        let mut ab = Transfer::new(Direction::AToB, prefix_a_to_b, throttle_a_to_b);
        let mut ba = Transfer::new(Direction::BToA, prefix_b_to_a, throttle_b_to_a);
        // An `async` block, not an `async fn`: it keeps each of these once, where an `async fn`
        // would keep its arguments and also the locals made from them for the session's life.
        async move {
            let end = drive(&inner.config, Polling::Both, |cx, dir, activity| {
                let mut env = Env {
                    pool: &inner.buffers,
                    hook: hook.as_deref_mut(),
                    counters: counters.as_deref(),
                    activity,
                };
                match dir {
                    Direction::AToB => {
                        ab.poll_copy(cx, Pin::new(&mut a), Pin::new(&mut b), &mut env)
                    }
                    Direction::BToA => {
                        ba.poll_copy(cx, Pin::new(&mut b), Pin::new(&mut a), &mut env)
                    }
                }
            })
            .await;
            Outcome {
                a_to_b: ab.written(),
                b_to_a: ba.written(),
                end,
                spliced: false,
            }
        }
    }

    /// Bridges two TCP streams like [`Bridge::run`], moving bytes with `splice(2)` when
    /// [`BridgeConfig::splice`] is [`SplicePolicy::Auto`](crate::SplicePolicy::Auto), the
    /// platform is Linux, and the session has no hook and no throttle; otherwise this is
    /// [`Bridge::run`].
    ///
    /// Prefixes are written with ordinary writes before splicing starts. A direction that cannot
    /// get a pipe (see [`BridgeConfig::max_pipes`]) copies that chunk instead; the session never
    /// fails for lack of pipes. [`Outcome::spliced`] says whether any byte went through a pipe.
    ///
    /// # Cancel safety
    ///
    /// As for [`Bridge::run`]; bytes sitting in a pipe are lost as well (and counted in
    /// [`BridgeStats::pipe_bytes_discarded`]).
    pub fn run_tcp(
        &self,
        a: TcpStream,
        b: TcpStream,
        opts: Session,
    ) -> impl Future<Output = Outcome> + Send + use<'_> {
        // The path is chosen here and only its future is kept (an `async fn` would hold the
        // streams and options twice beside it).
        #[cfg(target_os = "linux")]
        if self.inner.config.splice == SplicePolicy::Auto && !opts.needs_copy() {
            let inner = &*self.inner;
            return OneOf::Spliced {
                future: crate::sys::run_spliced(
                    &inner.config,
                    &inner.buffers,
                    &inner.pipes,
                    a,
                    b,
                    opts,
                ),
            };
        }
        #[cfg(not(target_os = "linux"))]
        return OneOf::<std::future::Ready<Outcome>, _>::Copied {
            future: self.run(a, b, opts),
        };
        #[cfg(target_os = "linux")]
        OneOf::Copied {
            future: self.run(a, b, opts),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Bridge::run_tcp`]: the splice path's or the copy path's.
    #[project = OneOfProj]
    enum OneOf<S, C> {
        Spliced { #[pin] future: S },
        Copied { #[pin] future: C },
    }
}

impl<S, C> Future for OneOf<S, C>
where
    S: Future<Output = Outcome>,
    C: Future<Output = Outcome>,
{
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.project() {
            OneOfProj::Spliced { future } => future.poll(cx),
            OneOfProj::Copied { future } => future.poll(cx),
        }
    }
}
