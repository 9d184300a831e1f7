//! One client connection: TLS handshake (TLS listeners), pool choice (by SNI when routed),
//! upstream connect (and TLS), relay, and the access-log line.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use ferry_bridge::{Counters, End, Outcome, Session};
use ferry_tls::HandshakeInfo;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::listener::ListenerRt;
use crate::reload::error_chain;
use crate::report::{Stats, bump};
use crate::upstream::{Upstream, UpstreamConn, UpstreamError};
use ferry_app_core::stream::Stream;

/// What a connection task needs.
pub(crate) struct ConnCtx {
    pub(crate) listener: Arc<ListenerRt>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) cut: CancellationToken,
    /// Wall clock for time windows and dump file names.
    pub(crate) clock: Arc<dyn crate::clock::UtcClock>,
}

/// The drain's cut, waited on by one future for the connection's life (registered with the
/// token once, not once per phase).
type Cut<'a, 'c> = Pin<&'a mut WaitForCancellationFuture<'c>>;

/// Runs `fut` unless the drain cuts first (then counts the connection as cut).
///
/// `fut` is polled first on every wake-up. The cut's wait is polled once, which leaves the
/// task's waker registered with the token, and again only when the token is cancelled or the
/// waker changed: not on every wake-up of a busy connection.
fn unless_cut<'a, 'b, 'c, F: Future>(
    ctx: &'a ConnCtx,
    cut: &'a mut Cut<'b, 'c>,
    fut: F,
) -> UnlessCut<'a, 'b, 'c, F> {
    UnlessCut {
        ctx,
        cut,
        fut,
        registered: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`unless_cut`]: a struct, so that a connection idling in its relay holds
    /// `fut` once (an `async fn` would also hold its argument).
    struct UnlessCut<'a, 'b, 'c, F> {
        ctx: &'a ConnCtx,
        cut: &'a mut Cut<'b, 'c>,
        #[pin]
        fut: F,
        // The waker the cut's wait last saw.
        registered: Option<Waker>,
    }
}

impl<F: Future> Future for UnlessCut<'_, '_, '_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.fut.poll(cx) {
            return Poll::Ready(Some(r));
        }
        let poll_cut = this
            .registered
            .as_ref()
            .is_none_or(|w| !w.will_wake(cx.waker()) || this.ctx.cut.is_cancelled());
        if poll_cut {
            if this.cut.as_mut().poll(cx).is_ready() {
                bump(&this.ctx.stats.cut_at_drain);
                return Poll::Ready(None);
            }
            *this.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// `a`, or `-` when absent, for log fields.
fn or_dash(a: Option<&str>) -> &str {
    a.unwrap_or("-")
}

/// A connection ready to relay: both streams, and what the access log says about it.
struct Ready<'a> {
    /// The client side after the (optional) handshake: plain or `Stream::Server`.
    client: Stream,
    up: UpstreamConn,
    upstream: &'a Upstream,
    /// The client handshake (TLS listeners), boxed: plain connections carry a null pointer.
    info: Option<Box<HandshakeInfo>>,
}

/// The connection's task. An `async` block that owns `ctx` and uses its arguments where they
/// are (an `async fn`, and a block around it, would each hold them again beside what the
/// relay needs: the task is what an idle connection costs).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its arguments twice in every connection's task"
)]
pub(crate) fn handle(
    mut client: TcpStream,
    peer: SocketAddr,
    ctx: ConnCtx,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let ctx = &ctx;
        let started = Instant::now();
        let active = ctx.listener.metrics.active(&ctx.listener.name);
        let mut cut: Cut<'_, '_> = std::pin::pin!(ctx.cut.cancelled());
        // With `accept_proxy`, the client is who the trusted peer's header says. Boxed, and
        // only there: plain listeners should not carry the header reader in their task.
        let (peer, destination) = if ctx.listener.accept_proxy.is_some() {
            match Box::pin(client_addresses(&mut client, peer, ctx, &mut cut)).await {
                Some(addresses) => addresses,
                None => return,
            }
        } else {
            (peer, client.local_addr().unwrap_or(peer))
        };
        // Limits and access rules keyed by that client, before the TLS handshake and the
        // upstream connect.
        let Some((client, admitted)) = crate::admission::admit(client, peer, ctx).await else {
            return;
        };
        // Two phases awaited one after the other, so the task holds the larger of the two
        // states, not both: a connection idles for hours in `relay` and should carry nothing
        // of `setup`.
        let Some(ready) = setup(client, peer, destination, ctx, &mut cut).await else {
            return;
        };
        relay(ready, peer, ctx, started, &admitted, active, cut).await;
    }
}

/// The client's address and the address it connected to: the TCP peer's and the listener's,
/// or on an `accept_proxy` listener those of the trusted peer's PROXY header. `None` when the
/// connection was refused (counted and logged).
async fn client_addresses(
    client: &mut TcpStream,
    peer: SocketAddr,
    ctx: &ConnCtx,
    cut: &mut Cut<'_, '_>,
) -> Option<(SocketAddr, SocketAddr)> {
    let local = client.local_addr().unwrap_or(peer);
    let l = &*ctx.listener;
    let Some(accept) = &l.accept_proxy else {
        return Some((peer, local));
    };
    let end = if accept.trusts(peer.ip()) {
        match unless_cut(
            ctx,
            cut,
            ferry_app_core::proxy_protocol::accept(client, peer, accept),
        )
        .await?
        {
            Ok((source, destination)) => return Some((source, destination.unwrap_or(local))),
            Err(error) => {
                tracing::warn!(
                    target: "ferry::access",
                    listener = %l.name,
                    peer = %peer,
                    error = %error_chain(&error),
                    end = error.end(),
                    "connection closed: bad PROXY header from a trusted peer"
                );
                error.end()
            }
        }
    } else {
        tracing::warn!(
            target: "ferry::access",
            listener = %l.name,
            peer = %peer,
            end = "proxy_untrusted",
            "connection closed: peer is not in accept_proxy.trusted"
        );
        "proxy_untrusted"
    };
    bump(&ctx.stats.proxy_rejected);
    crate::metrics::connection_ended(&l.name, end, 0, 0);
    None
}

/// TLS handshake, pool choice and upstream connect; `None` when the connection ended (it was
/// counted and logged).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its arguments twice in every connection's task"
)]
fn setup<'c>(
    client: TcpStream,
    peer: SocketAddr,
    destination: SocketAddr,
    ctx: &'c ConnCtx,
    cut: &mut Cut<'_, '_>,
) -> impl Future<Output = Option<Ready<'c>>> + Send {
    async move {
        let _ = client.set_nodelay(true);
        let l = &*ctx.listener;

        // The handshake runs here, in the connection's own task, so the accept loop never waits
        // for it; the acceptor bounds it with its deadline and in-flight cap. Boxed: the
        // handshake future is large and plain listeners should not pay for it.
        let (client, info) = match &l.tls {
            None => (Stream::Plain(client), None),
            Some(tls) => match unless_cut(ctx, cut, Box::pin(tls.acceptor.accept(client))).await? {
                Ok((stream, info)) => {
                    bump(&ctx.stats.tls_handshakes);
                    crate::metrics::tls_handshake(&l.name, info.resumed);
                    if info.resumed {
                        bump(&ctx.stats.tls_resumed);
                    }
                    (Stream::Server(Box::new(stream)), Some(Box::new(info)))
                }
                Err(error) => {
                    bump(&ctx.stats.tls_handshake_failures);
                    crate::metrics::connection_ended(&l.name, "tls_handshake_failed", 0, 0);
                    tracing::info!(
                        target: "ferry::access",
                        listener = %l.name,
                        client = %peer,
                        error = %error_chain(&error),
                        end = "tls_handshake_failed",
                        "connection"
                    );
                    return None;
                }
            },
        };
        let sni = info.as_ref().and_then(|i| i.sni.as_deref());
        let Some(upstream) = l.routing.select(sni) else {
            bump(&ctx.stats.unrouted);
            crate::metrics::connection_ended(&l.name, "no_route", 0, 0);
            tracing::warn!(
                target: "ferry::access",
                listener = %l.name,
                client = %peer,
                sni = or_dash(sni),
                end = "no_route",
                "connection closed: no route for this server name and no default pool"
            );
            return None;
        };
        // Boxed for the same reason as the handshake: the connect future is large, and only
        // needed while connecting.
        match unless_cut(ctx, cut, Box::pin(upstream.connect(peer, destination))).await? {
            Ok(up) => Some(Ready {
                client,
                up,
                upstream,
                info,
            }),
            Err(error) => {
                let end = match &error {
                    UpstreamError::Connect(_) | UpstreamError::ProxyHeader { .. } => {
                        bump(&ctx.stats.upstream_failures);
                        "upstream_unreachable"
                    }
                    UpstreamError::Tls { .. } => {
                        bump(&ctx.stats.upstream_tls_failures);
                        "upstream_tls_failed"
                    }
                };
                crate::metrics::connection_ended(&l.name, end, 0, 0);
                tracing::warn!(
                    target: "ferry::access",
                    listener = %l.name,
                    client = %peer,
                    pool = %upstream.name(),
                    sni = or_dash(sni),
                    error = %error_chain(&error),
                    end,
                    "connection"
                );
                None
            }
        }
    }
}

/// Relays until the session ends or the drain cuts it, then counts and logs. The relay is set
/// up here and only what the wait and the log line need is kept in the returned future.
fn relay<'a, 'b, 'c>(
    ready: Ready<'a>,
    peer: SocketAddr,
    ctx: &'a ConnCtx,
    started: Instant,
    admitted: &'a crate::admission::Admitted,
    active: crate::metrics::ActiveGuard,
    mut cut: Cut<'b, 'c>,
) -> impl Future<Output = ()> + Send + use<'a, 'b, 'c> {
    let Ready {
        client,
        up,
        upstream,
        info,
    } = ready;
    let UpstreamConn {
        stream: up,
        tls_version: upstream_tls,
        addr: upstream_addr,
        guard: counted_until_the_end,
    } = up;
    let counters = Arc::new(Counters::new());
    let session = Session::default().counters(Arc::clone(&counters));
    let bridge = &ctx.listener.bridge;
    // Plain to plain keeps the splice path; anything with TLS copies through user space (the
    // shared relay boxes its future, so an idle connection's task stays small). Data limits
    // and dump watch the bytes (copy path); see `guard`.
    let guard = crate::guard::Guard::new(ctx, admitted, peer);
    let request_hit = guard.as_ref().map(crate::guard::Guard::request_hit);
    let relay: Pin<Box<dyn Future<Output = Outcome> + Send + '_>> = match guard {
        Some(g) => Box::pin(g.run(bridge, client, up, session)),
        None => ferry_app_core::stream::relay(bridge, client, up, session),
    };
    async move {
        let (bytes_up, bytes_down, mut outcome_end, spliced, mut kind) =
            match unless_cut(ctx, &mut cut, relay).await {
                Some(outcome) => {
                    bump(&ctx.stats.completed);
                    let kind = outcome.end.label();
                    (
                        outcome.a_to_b,
                        outcome.b_to_a,
                        Some(outcome.end),
                        outcome.spliced,
                        kind,
                    )
                }
                None => (
                    counters.a_to_b(),
                    counters.b_to_a(),
                    None,
                    false,
                    "cut_at_drain",
                ),
            };
        if request_hit.is_some_and(|h| h.load(Ordering::Relaxed) > 0) {
            kind = crate::admission::Limit::RequestRate.end();
            outcome_end = None;
        }
        // Every metric is final before the access log line: a reader that saw the line (a test,
        // a log shipper correlating) finds the connection counted and no longer active.
        drop(active);
        ctx.listener
            .metrics
            .connection_ended(&ctx.listener.name, kind, bytes_up, bytes_down);
        ctx.stats
            .client_to_upstream
            .fetch_add(bytes_up, Ordering::Relaxed);
        ctx.stats
            .upstream_to_client
            .fetch_add(bytes_down, Ordering::Relaxed);
        let info = info.as_deref();
        // The fields are formatted only when the line is logged.
        tracing::info!(
            target: "ferry::access",
            listener = %ctx.listener.name,
            client = %peer,
            pool = %upstream.name(),
            upstream = %upstream_addr,
            tls = %TlsVersion(info),
            sni = or_dash(info.and_then(|i| i.sni.as_deref())),
            alpn = %Alpn(info),
            resumed = info.is_some_and(|i| i.resumed),
            upstream_tls = %upstream_tls.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            bytes_up,
            bytes_down,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            end = %EndText { kind, end: outcome_end.as_ref() },
            spliced,
            "connection"
        );
        // The upstream counts the connection (least-connections balancing) until here.
        drop(counted_until_the_end);
    }
}

/// The client's TLS version for the access log; `-` for plain connections.
struct TlsVersion<'a>(Option<&'a HandshakeInfo>);

impl std::fmt::Display for TlsVersion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(i) => write!(f, "{}", i.version),
            None => f.write_str("-"),
        }
    }
}

/// The negotiated ALPN protocol for the access log; `-` when none.
struct Alpn<'a>(Option<&'a HandshakeInfo>);

impl std::fmt::Display for Alpn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.and_then(|i| i.alpn.as_deref()) {
            Some(a) => f.write_str(&String::from_utf8_lossy(a)),
            None => f.write_str("-"),
        }
    }
}

/// The access log's `end`: `timeout_idle`-style label, with the failing side and error for
/// errors.
struct EndText<'a> {
    kind: &'static str,
    /// The session's end, when it gives the label (not cut, not overridden by a limit).
    end: Option<&'a End>,
}

impl std::fmt::Display for EndText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.end.and_then(End::as_error) {
            Some((side, op, error)) => write!(f, "{}: {op} on {side}: {error}", self.kind),
            None => f.write_str(self.kind),
        }
    }
}
