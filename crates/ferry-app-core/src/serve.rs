//! The one accept-and-drain loop every program serves its listeners with.
//!
//! A [`Server`] owns what a program's listeners share: the connections' task tracker, the
//! token that stops the accept loops, the token that cuts live connections at the end of the
//! drain, and an optional cap on open connections. [`Server::accept`] spawns one accept loop
//! per listener (EMFILE back-off from [`Acceptor`]; every connection on its own task);
//! [`Server::drain`] stops accepting, waits for live connections up to a timeout, then cuts the
//! rest. [`serve`] does all of it for one listener and a shutdown future.
//!
//! With a [`MemoryBudget`] ([`Server::memory_budget`]), [`Server::accept_reserving`] reserves
//! each new connection's buffer memory before its handler runs, and closes the connection at
//! once (no handshake, no dial) when the reservation would pass the budget; the reservation is
//! held beside the connection's future and given back when it ends.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::listen::Acceptor;
use crate::memory::{Charge, Charged, MemoryBudget};
use crate::workers::Workers;

/// The accept loops and live connections of one program (see the [module docs](self)).
/// Cheap to clone: clones share everything.
#[derive(Clone, Debug, Default)]
pub struct Server {
    stop: CancellationToken,
    cut: CancellationToken,
    loops: TaskTracker,
    conns: TaskTracker,
    limit: Option<Arc<Semaphore>>,
    memory: Option<MemoryBudget>,
}

impl Server {
    /// A server with no cap on open connections.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A server whose accept loops stop on `stop` and whose connections are cut on `cut`: for
    /// a program whose connections already hold these tokens (they live in its reloadable
    /// state). [`Server::drain`] cancels both in turn, as with [`Server::new`].
    #[must_use]
    pub fn with_tokens(stop: CancellationToken, cut: CancellationToken) -> Self {
        Self {
            stop,
            cut,
            ..Self::default()
        }
    }

    /// Caps the connections open at once over all listeners: at the cap, the accept loops
    /// wait (the kernel's backlog holds new clients) until a connection ends. Default: no cap.
    #[must_use]
    pub fn max_connections(mut self, max: NonZeroUsize) -> Self {
        self.limit = Some(Arc::new(Semaphore::new(max.get())));
        self
    }

    /// Reserves the memory of every connection accepted with [`Server::accept_reserving`]
    /// from `budget`, refusing (closing at once, counted by the budget) those that would pass
    /// it; publishes the budget's metrics. Default: no budget.
    #[must_use]
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        budget.publish();
        self.memory = Some(budget);
        self
    }

    /// Cancelled when the drain's time is up: a connection selects on it to end at once.
    #[must_use]
    pub fn cut(&self) -> &CancellationToken {
        &self.cut
    }

    /// Cancelled when the drain starts: loops spawned with [`Server::spawn_loop`] end on it.
    #[must_use]
    pub fn stopping(&self) -> &CancellationToken {
        &self.stop
    }

    /// Connections running now.
    #[must_use]
    pub fn live(&self) -> usize {
        self.conns.len()
    }

    /// Spawns the accept loop of `listener`: every accepted connection goes to `handler`, and
    /// the future it returns runs on a task of its own, counted until it ends (`None` closes
    /// the connection at once). The loop ends, dropping `listener`, when the drain starts.
    pub fn accept<F, Fut>(&self, listener: TcpListener, handler: F)
    where
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.accept_reserving(listener, || 0, handler);
    }

    /// [`Server::accept`], reserving `cost()` bytes of the [memory budget](Self::memory_budget)
    /// for each accepted connection before `handler` sees it (`cost` is asked per connection,
    /// so a reload that changes it applies to the next one). A connection whose reservation
    /// would pass the budget is closed at once and `handler` is not called; the reservation of
    /// an admitted one is given back when its future ends (or when `handler` returns `None`).
    /// Without a budget, or with a cost of 0, nothing is reserved.
    pub fn accept_reserving<C, F, Fut>(&self, listener: TcpListener, cost: C, handler: F)
    where
        C: FnMut() -> u64 + Send + 'static,
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.accept_reserving_until(listener, CancellationToken::new(), cost, handler);
    }

    /// [`Server::accept_reserving`] for one listener of a changing set (a listener removed at
    /// a reload): its loop also ends, dropping `listener`, when `until` is cancelled, while
    /// the connections it accepted run on and are waited for by [`Server::drain`] like all
    /// the others.
    pub fn accept_reserving_until<C, F, Fut>(
        &self,
        listener: TcpListener,
        until: CancellationToken,
        cost: C,
        handler: F,
    ) where
        C: FnMut() -> u64 + Send + 'static,
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.loops.spawn(self.clone().accept_loop(
            listener,
            until,
            cost,
            handler,
            |this: &Self, stream, peer, admission, handler: &mut F| {
                if let Some(conn) = handler(stream, peer) {
                    this.conns.spawn(Held {
                        conn,
                        _admission: admission,
                    });
                }
            },
        ));
    }

    /// [`Server::accept_reserving`] on [`Workers`]: `listener` is shared by one accept loop on
    /// each worker (every worker waits on the same socket; the kernel hands each new
    /// connection to one of them), and each connection runs on the worker that accepted it,
    /// so its socket, timers and task stay on one thread. The connection cap, the memory
    /// budget and the drain cover all workers as one.
    ///
    /// # Errors
    ///
    /// When `listener` cannot be handed to the workers (taken off this runtime, or duplicated
    /// for each worker: running out of file descriptors).
    pub fn accept_on_workers<C, F, Fut>(
        &self,
        workers: &Workers,
        listener: TcpListener,
        cost: C,
        handler: F,
    ) -> std::io::Result<()>
    where
        C: FnMut() -> u64 + Clone + Send + 'static,
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = listener.into_std()?;
        let mut shared = Vec::with_capacity(workers.count());
        for _ in 1..workers.count() {
            shared.push(listener.try_clone()?);
        }
        shared.push(listener);
        let balance = Arc::new(Balance {
            live: workers
                .handles()
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            handles: workers.handles().to_vec(),
        });
        for (index, listener) in shared.into_iter().enumerate() {
            let this = self.clone();
            let (cost, handler) = (cost.clone(), handler.clone());
            let balance = Arc::clone(&balance);
            workers.handles()[index].spawn(self.loops.track_future(async move {
                // Registered with this worker's reactor: it must be converted on the worker.
                match TcpListener::from_std(listener) {
                    Ok(listener) => {
                        let place = move |this: &Self, stream, peer, admission, handler: &mut F| {
                            balance.place(index, this, stream, peer, admission, handler);
                        };
                        this.accept_loop(listener, CancellationToken::new(), cost, handler, place)
                            .await;
                    }
                    Err(e) => tracing::error!(error = %e, "a worker cannot watch its listener"),
                }
            }));
        }
        Ok(())
    }

    /// One accept loop, on the runtime it is polled on; `place` runs each admitted connection
    /// (through `handler`) where it should.
    async fn accept_loop<C, F, Fut, P>(
        self,
        listener: TcpListener,
        until: CancellationToken,
        mut cost: C,
        mut handler: F,
        mut place: P,
    ) where
        C: FnMut() -> u64 + Send + 'static,
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        P: FnMut(&Self, TcpStream, SocketAddr, Admission, &mut F) + Send + 'static,
    {
        let this = self;
        let mut acceptor = Acceptor::new();
        // The cost of the last connection, shared by its successors while it is the same.
        let mut charge: Option<Arc<Charge>> = None;
        // One future for the loop's life: waiting on the tokens registers once, not once
        // per accepted connection.
        let stopped = async {
            tokio::select! {
                () = this.stop.cancelled() => {}
                () = until.cancelled() => {}
            }
        };
        let mut stopped = std::pin::pin!(stopped);
        loop {
            let mut admission = Admission::default();
            if let Some(limit) = &this.limit {
                tokio::select! {
                    () = &mut stopped => return,
                    p = limit.acquire() => match p {
                        // Given back by the admission's drop (see `Admission`).
                        Ok(p) => {
                            p.forget();
                            admission.slot = Some(Arc::clone(limit));
                        }
                        Err(_closed) => return,
                    },
                }
            }
            let (stream, peer) = tokio::select! {
                () = &mut stopped => return,
                c = acceptor.accept(&listener) => c,
            };
            if let Some(budget) = &this.memory {
                let bytes = cost();
                if bytes > 0 {
                    let shared = match &charge {
                        Some(c) if c.bytes == bytes => Arc::clone(c),
                        _ => {
                            let c = Arc::new(Charge {
                                budget: budget.clone(),
                                bytes,
                            });
                            charge = Some(Arc::clone(&c));
                            c
                        }
                    };
                    match MemoryBudget::try_charge(&shared) {
                        Some(r) => admission.charge = Some(r),
                        None => {
                            tracing::debug!(client = %peer, bytes, "refused: memory budget full");
                            // Dropping the stream closes it; the slot goes back too.
                            continue;
                        }
                    }
                }
            }
            place(&this, stream, peer, admission, &mut handler);
        }
    }

    /// Spawns another loop of the program (a UDP socket's, say) that the drain waits for;
    /// it must end when [`Server::stopping`] is cancelled.
    pub fn spawn_loop(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.loops.spawn(task);
    }

    /// Spawns a connection that did not come from an accept loop (a datagram flow, a tunnel);
    /// the drain waits for it like for the accepted ones.
    pub fn spawn_connection(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.conns.spawn(task);
    }

    /// Drains: stops the accept loops (their listeners close), waits for the other loops, gives
    /// live connections `timeout`, then cancels [`Server::cut`] and waits for them to end.
    /// Logs the start of the drain and, if it comes to that, the cut.
    pub async fn drain(&self, timeout: Duration) {
        self.loops.close();
        crate::drain::drain(&self.stop, &self.loops, &self.conns, timeout, &self.cut).await;
    }
}

pin_project_lite::pin_project! {
    /// A connection's future with its admission (connection slot and memory reservation),
    /// released when the future ends. A struct rather
    /// than an `async` block: an async block would keep the captured future and the awaited one
    /// in separate slots, doubling every idle connection's task.
    struct Held<F> {
        #[pin]
        conn: F,
        _admission: Admission,
    }
}

/// What an admitted connection holds until it ends: a slot of the connection cap, a memory
/// reservation and, on workers, its place in their count. Four words: no pointer or count
/// more than these needs.
#[derive(Default)]
struct Admission {
    /// The cap's semaphore; one permit was taken (and forgotten) for this connection.
    slot: Option<Arc<Semaphore>>,
    charge: Option<Charged>,
    /// On [`Workers`]: the worker the connection runs on, counted there while it lives.
    worker: Option<(Arc<Balance>, usize)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.add_permits(1);
        }
        if let Some((balance, index)) = &self.worker {
            balance.live[*index].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The workers sharing a listener and the connections each runs: a worker that accepts a
/// connection while another runs more than one fewer hands it over (as HAProxy gives a new
/// connection to its least loaded thread), so a burst accepted by whichever worker woke first
/// does not stay on one core.
struct Balance {
    live: Vec<AtomicUsize>,
    handles: Vec<tokio::runtime::Handle>,
}

impl Balance {
    /// Runs `stream` on worker `index` (the one that accepted it) or, when another runs at
    /// least two fewer connections, on that one: the socket is moved to its reactor.
    fn place<F, Fut>(
        self: &Arc<Self>,
        index: usize,
        server: &Server,
        stream: TcpStream,
        peer: SocketAddr,
        mut admission: Admission,
        handler: &mut F,
    ) where
        F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mine = self.live[index].load(Ordering::Relaxed);
        let (least, fewest) = self
            .live
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .enumerate()
            .min_by_key(|&(_, n)| n)
            .unwrap_or((index, mine));
        let target = if least == index || mine <= fewest.saturating_add(1) {
            index
        } else {
            least
        };
        let stream = if target == index {
            stream
        } else {
            // Registered with the other worker's reactor (entering its context here).
            let moved = stream.into_std().and_then(|std| {
                let _there = self.handles[target].enter();
                TcpStream::from_std(std)
            });
            match moved {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(client = %peer, error = %e, "closed: cannot move to another worker");
                    return;
                }
            }
        };
        self.live[target].fetch_add(1, Ordering::Relaxed);
        admission.worker = Some((Arc::clone(self), target));
        if let Some(conn) = handler(stream, peer) {
            self.handles[target].spawn(server.conns.track_future(Held {
                conn,
                _admission: admission,
            }));
        }
    }
}

impl<F: Future> Future for Held<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().conn.poll(cx)
    }
}

/// Serves `listener` until `shutdown` completes, every connection through `handler` (see
/// [`Server::accept`]), then drains with `drain_timeout` (see [`Server::drain`]). Returns when
/// every connection has ended.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
    handler: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Option<Fut> + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = Server::new();
    server.accept(listener, handler);
    shutdown.await;
    server.drain(drain_timeout).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn listener() -> (TcpListener, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    }

    /// Echoes until the peer closes or the cut comes.
    fn echo(
        cut: CancellationToken,
    ) -> impl FnMut(TcpStream, SocketAddr) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>
    {
        move |mut s, _| {
            let cut = cut.clone();
            Some(Box::pin(async move {
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        () = cut.cancelled() => return,
                        n = s.read(&mut buf) => match n {
                            Ok(0) | Err(_) => return,
                            Ok(n) => { let _ = s.write_all(&buf[..n]).await; }
                        }
                    }
                }
            }))
        }
    }

    #[tokio::test]
    async fn drain_waits_for_live_connections_then_stops_accepting() {
        let (l, addr) = listener().await;
        let server = Server::new();
        server.accept(l, echo(server.cut().clone()));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(server.live(), 1);
        let drain = tokio::spawn({
            let server = server.clone();
            async move { server.drain(Duration::from_secs(30)).await }
        });
        // The live connection still works during the drain, and ends it when it closes.
        c.write_all(b"y").await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"y");
        drop(c);
        drain.await.unwrap();
        assert_eq!(server.live(), 0);
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }

    #[tokio::test(start_paused = true)]
    async fn drain_cuts_connections_past_the_timeout() {
        let (l, addr) = listener().await;
        let server = Server::new();
        server.accept(l, echo(server.cut().clone()));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
        server.drain(Duration::from_secs(5)).await;
        assert!(server.cut().is_cancelled());
        assert_eq!(
            c.read(&mut b).await.unwrap(),
            0,
            "cut: the server side closed"
        );
    }

    #[tokio::test]
    async fn the_cap_holds_new_connections_until_one_ends() {
        let (l, addr) = listener().await;
        let server = Server::new().max_connections(NonZeroUsize::MIN);
        server.accept(l, echo(server.cut().clone()));
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"1").await.unwrap();
        let mut b = [0u8; 1];
        first.read_exact(&mut b).await.unwrap();
        // The second is accepted by the kernel but not served while the first is open.
        let mut second = TcpStream::connect(addr).await.unwrap();
        second.write_all(b"2").await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(200), second.read_exact(&mut b)).await;
        assert!(waited.is_err(), "served above the cap");
        drop(first);
        second.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"2");
        drop(second);
        server.drain(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_listener_stopped_alone_closes_while_its_connections_run_on() {
        let (l, addr) = listener().await;
        let (other, other_addr) = listener().await;
        let server = Server::new();
        let until = CancellationToken::new();
        server.accept_reserving_until(l, until.clone(), || 0, echo(server.cut().clone()));
        server.accept(other, echo(server.cut().clone()));
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
        until.cancel();
        // The loop drops its listener: new connections are refused once it has.
        let mut refused = false;
        for _ in 0..1000 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(refused, "the stopped listener still accepts");
        // Its live connection and the other listener still work.
        c.write_all(b"y").await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"y");
        let mut d = TcpStream::connect(other_addr).await.unwrap();
        d.write_all(b"z").await.unwrap();
        d.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"z");
        drop((c, d));
        server.drain(Duration::from_secs(30)).await;
        assert_eq!(server.live(), 0);
    }

    #[tokio::test]
    async fn serve_returns_after_shutdown_and_a_none_handler_closes() {
        let (l, addr) = listener().await;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(
            l,
            stop.clone().cancelled_owned(),
            Duration::from_secs(1),
            |_s, _p| None::<std::future::Ready<()>>,
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut b = [0u8; 1];
        assert_eq!(
            c.read(&mut b).await.unwrap(),
            0,
            "refused connections are closed"
        );
        stop.cancel();
        task.await.unwrap();
    }
}
