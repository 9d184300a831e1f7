//! Serving the tunnel streams of one authenticated connection.

use std::sync::Arc;

use bytes::Bytes;
use ferry_bridge::Session;
use quinn::Connection;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use super::{End, Shared, classify, dial::connect_udp, dial::dial, udp};
use crate::halves::{RecvHalf, SendHalf};
use crate::metrics::handles;
use crate::read::{ReadError, read_message};
use crate::stream::TunnelStream;
use crate::tcp::stream::{H2Recv, H2Send};
use crate::tcp::{CLOSE_CODE, CLOSE_LINGER, CLOSE_PATH, CLOSE_REASON, TUNNEL_PATH, keep_alive};
use crate::wire::{
    MAX_HEADER_LEN, Protocol, TunnelStatus, WireError, close_code, decode_header, encode_status,
};

/// Accepts tunnel streams until the connection is lost or `stop` fires; then drains.
pub(super) async fn serve(
    shared: &Arc<Shared>,
    conn: &Connection,
    stop: &CancellationToken,
) -> End {
    on_worker(serve_quic(Arc::clone(shared), conn.clone(), stop.clone())).await
}

/// Runs a connection's accept loop as a task of the runtime rather than on the caller's
/// thread. `ferry-agent` runs the agent in `block_on`, whose thread is not one of the
/// runtime's workers: there, every accepted stream meant waking that thread from the worker
/// that read it, and then a worker again for the tunnel's task (two cross-thread wake-ups per
/// tunnel); on a worker, the tunnel's task is queued where the stream was read. On the TCP
/// transport the loop also drives the HTTP/2 connection itself. The task is aborted if this
/// future is dropped, as the loop was before; a panic in it resumes here.
async fn on_worker(serving: impl Future<Output = End> + Send + 'static) -> End {
    match AbortOnDropHandle::new(tokio::spawn(serving)).await {
        Ok(end) => end,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_cancelled) => End::Lost("the agent's runtime is shutting down".to_owned()),
        },
    }
}

async fn serve_quic(shared: Arc<Shared>, conn: Connection, stop: CancellationToken) -> End {
    let (shared, conn, stop) = (&shared, &conn, &stop);
    let tunnels = TaskTracker::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let token = tunnels.token();
                    tunnels.spawn(Box::pin(handle(Arc::clone(shared), SendHalf::Quic(send), RecvHalf::Quic(recv), token, stop.clone(), false)));
                }
                Err(e) => return classify(e),
            },
        }
    }
    tunnels.close();
    let deadline = Instant::now() + shared.load().config.drain_timeout;
    loop {
        tokio::select! {
            () = tunnels.wait() => break,
            () = sleep_until(deadline) => break,
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let token = tunnels.token();
                    tunnels.spawn(Box::pin(handle(Arc::clone(shared), SendHalf::Quic(send), RecvHalf::Quic(recv), token, stop.clone(), true)));
                }
                Err(_) => break,
            },
        }
    }
    conn.close(close_code::SHUTDOWN.into(), b"agent shutting down");
    End::Shutdown
}

/// The HTTP/2 server connection of the TCP transport.
pub(crate) type H2Conn<T> = h2::server::Connection<T, Bytes>;

/// What a request on the TCP transport asks for.
enum Request {
    Tunnel(h2::server::SendResponse<Bytes>, h2::RecvStream),
    /// The gateway's close notice: code and reason.
    Close(u32, String),
    Other(h2::server::SendResponse<Bytes>),
}

fn route(
    request: http::Request<h2::RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
) -> Request {
    let post = request.method() == http::Method::POST;
    match request.uri().path() {
        TUNNEL_PATH if post => Request::Tunnel(respond, request.into_body()),
        CLOSE_PATH if post => {
            let headers = request.headers();
            let code = headers
                .get(CLOSE_CODE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(close_code::SHUTDOWN);
            let reason = headers
                .get(CLOSE_REASON)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(128)
                .collect();
            Request::Close(code, reason)
        }
        _ => Request::Other(respond),
    }
}

/// Starts a tunnel for an accepted request: `200` at once, then the tunnel bytes.
fn start_tunnel(
    shared: &Arc<Shared>,
    tunnels: &TaskTracker,
    mut respond: h2::server::SendResponse<Bytes>,
    body: h2::RecvStream,
    stop: &CancellationToken,
    draining: bool,
) {
    let Ok(response) = http::Response::builder()
        .status(http::StatusCode::OK)
        .body(())
    else {
        return;
    };
    let Ok(send) = respond.send_response(response, false) else {
        return;
    };
    let token = tunnels.token();
    tunnels.spawn(Box::pin(handle(
        Arc::clone(shared),
        SendHalf::Tcp(H2Send::new(send)),
        RecvHalf::Tcp(H2Recv::body(body)),
        token,
        stop.clone(),
        draining,
    )));
}

fn not_found(mut respond: h2::server::SendResponse<Bytes>) {
    if let Ok(response) = http::Response::builder()
        .status(http::StatusCode::NOT_FOUND)
        .body(())
    {
        let _ = respond.send_response(response, true);
    }
}

/// How the gateway's close notice ends the connection for the agent.
fn closed_by_gateway(code: u32, reason: &str) -> End {
    if code == close_code::REPLACED {
        End::Replaced
    } else {
        End::Lost(format!("closed by the gateway: code {code} ({reason})"))
    }
}

/// The TCP transport's [`serve`]: accepts HTTP/2 tunnel streams until the connection is
/// lost, idles out (no pong within the idle timeout) or `stop` fires; then drains.
pub(super) async fn serve_tcp<T>(
    shared: &Arc<Shared>,
    conn: H2Conn<T>,
    stop: &CancellationToken,
) -> End
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    on_worker(serve_tcp_on(Arc::clone(shared), conn, stop.clone())).await
}

async fn serve_tcp_on<T>(shared: Arc<Shared>, mut conn: H2Conn<T>, stop: CancellationToken) -> End
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (shared, stop) = (&shared, &stop);
    let settings = shared.load().config.quic;
    let pings = conn.ping_pong();
    let keep = async move {
        match pings {
            Some(p) => keep_alive(p, settings).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(keep);
    let tunnels = TaskTracker::new();
    let mut notice: Option<(u32, String)> = None;
    loop {
        tokio::select! {
            () = stop.cancelled(), if notice.is_none() => break,
            why = &mut keep => return End::Lost(format!("gateway connection {why}")),
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => match route(request, respond) {
                    Request::Tunnel(respond, body) => {
                        start_tunnel(shared, &tunnels, respond, body, stop, notice.is_some());
                    }
                    Request::Close(code, reason) => {
                        conn.graceful_shutdown();
                        notice = Some((code, reason));
                    }
                    Request::Other(respond) => not_found(respond),
                },
                Some(Err(e)) => {
                    return match notice {
                        Some((code, reason)) => closed_by_gateway(code, &reason),
                        None => End::Lost(e.to_string()),
                    };
                }
                None => {
                    return match notice {
                        Some((code, reason)) => closed_by_gateway(code, &reason),
                        None => End::Lost("the gateway closed the connection".to_owned()),
                    };
                }
            },
        }
    }
    tunnels.close();
    let deadline = Instant::now() + shared.load().config.drain_timeout;
    loop {
        tokio::select! {
            () = tunnels.wait() => break,
            () = sleep_until(deadline) => break,
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => match route(request, respond) {
                    Request::Tunnel(respond, body) => start_tunnel(shared, &tunnels, respond, body, stop, true),
                    Request::Close(..) => {}
                    Request::Other(respond) => not_found(respond),
                },
                Some(Err(_)) | None => break,
            },
        }
    }
    conn.graceful_shutdown();
    let _ = timeout(CLOSE_LINGER, async {
        while let Some(Ok((request, respond))) = conn.accept().await {
            if let Request::Tunnel(respond, body) = route(request, respond) {
                start_tunnel(shared, &tunnels, respond, body, stop, true);
            }
        }
    })
    .await;
    End::Shutdown
}

async fn reply(stream: &mut TunnelStream, status: TunnelStatus) {
    handles::agent_tunnel(status.label());
    let mut buf = Vec::with_capacity(2);
    encode_status(status, &mut buf);
    if stream.write_all(&buf).await.is_err() {
        return;
    }
    if status != TunnelStatus::Ok {
        let _ = stream.shutdown().await;
    }
}

/// One tunnel: header, check, dial, status, bridge. Spawned boxed: the future holds the dial
/// and the bridge and is large, and a task moves its future on spawn and on completion (a box
/// moves as a pointer).
async fn handle(
    shared: Arc<Shared>,
    send: SendHalf,
    recv: RecvHalf,
    token: TaskTrackerToken,
    stop: CancellationToken,
    draining: bool,
) {
    // The settings in force when the stream arrived, kept for the whole tunnel.
    let generation = shared.load();
    let config = &generation.config;
    let mut stream = TunnelStream::new(send, recv, Bytes::new(), 0, None, Some(token));
    if draining {
        reply(&mut stream, TunnelStatus::Unavailable).await;
        return;
    }
    let read = timeout(
        config.header_timeout,
        read_message(&mut stream.recv, MAX_HEADER_LEN, decode_header),
    )
    .await;
    let header = match read {
        Ok(Ok((header, rest))) => {
            stream.recv.set_prefix(rest);
            stream.request_id = header.request_id;
            header
        }
        Ok(Err(ReadError::Wire(
            WireError::UnsupportedVersion(_) | WireError::UnknownProtocol(_),
        ))) => {
            reply(&mut stream, TunnelStatus::UnsupportedVersion).await;
            return;
        }
        Ok(Err(ReadError::Wire(_) | ReadError::TooLarge(_))) => {
            reply(&mut stream, TunnelStatus::Malformed).await;
            return;
        }
        Ok(Err(ReadError::Eof | ReadError::Io(_))) | Err(_) => {
            tracing::debug!("tunnel header not received");
            stream.abort();
            return;
        }
    };
    let id = header.request_id;
    let dest = &header.destination;
    if header.protocol == Protocol::Udp {
        return handle_udp(stream, &header, config, &stop).await;
    }
    let upstream = match dial(
        dest,
        &config.allowlist,
        &*config.resolver,
        config.dial_timeout,
    )
    .await
    {
        Ok(tcp) => tcp,
        Err(status) => {
            tracing::info!(request = id, client = %header.client, %dest, %status, "tunnel refused");
            reply(&mut stream, status).await;
            return;
        }
    };
    reply(&mut stream, TunnelStatus::Ok).await;
    tracing::debug!(request = id, client = %header.client, %dest, "tunnel open");
    let active = ActiveTunnel::new();
    let outcome = generation
        .bridge
        .run(stream, upstream, Session::new())
        .await;
    drop(active);
    handles::agent_bytes(outcome.a_to_b, outcome.b_to_a);
    tracing::debug!(
        request = id,
        up = outcome.a_to_b,
        down = outcome.b_to_a,
        end = outcome.end.label(),
        "tunnel closed"
    );
}

/// One UDP tunnel after its header: the same checks as a TCP tunnel, a UDP socket connected to
/// the checked address, status, then datagrams both ways ([`udp::relay`]).
async fn handle_udp(
    mut stream: TunnelStream,
    header: &crate::wire::TunnelHeader,
    config: &super::AgentConfig,
    stop: &CancellationToken,
) {
    let id = header.request_id;
    let dest = &header.destination;
    let socket = match connect_udp(
        dest,
        &config.allowlist,
        &*config.resolver,
        config.dial_timeout,
    )
    .await
    {
        Ok(socket) => socket,
        Err(status) => {
            tracing::info!(request = id, client = %header.client, %dest, %status, protocol = "udp", "tunnel refused");
            reply(&mut stream, status).await;
            return;
        }
    };
    reply(&mut stream, TunnelStatus::Ok).await;
    tracing::debug!(request = id, client = %header.client, %dest, protocol = "udp", "tunnel open");
    let active = ActiveTunnel::new();
    let outcome = udp::relay(stream, socket, config.udp_idle_timeout, stop).await;
    drop(active);
    tracing::debug!(
        request = id,
        protocol = "udp",
        up_datagrams = outcome.up.datagrams,
        up = outcome.up.bytes,
        down_datagrams = outcome.down.datagrams,
        down = outcome.down.bytes,
        end = outcome.end,
        "tunnel closed"
    );
}

/// Holds `ferry_agent_active_tunnels` up while a tunnel relays.
struct ActiveTunnel;

impl ActiveTunnel {
    fn new() -> Self {
        handles::agent_active().increment(1.0);
        Self
    }
}

impl Drop for ActiveTunnel {
    fn drop(&mut self) {
        handles::agent_active().decrement(1.0);
    }
}
