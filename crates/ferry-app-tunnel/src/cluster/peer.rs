//! [`PeerFront`]: the owner side, the inter-gateway listener.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use ferry_allow::Allowlist;
use ferry_app_core::serve::Server;
use ferry_bridge::{Bridge, BridgeConfig, Session};
use ferry_front::Address;
use ferry_front::http_connect::{HttpLimits, Reply, write_response};
use ferry_tls::TlsAcceptor;
use ferry_tunnel::AgentId;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;

use super::credential::GatewayCredential;
use super::{
    AGENT_HEADER, AGENT_NOT_CONNECTED, CLIENT_HEADER, PROTOCOL_HEADER, REASON_HEADER, VIA_HEADER,
};
use crate::front::head::{HeadError, read_head};
use crate::opener::{OpenFailure, TunnelOpener};

/// Realm in the peer listener's `407`.
pub const PEER_REALM: &str = "ferry-peer";

/// The peer listener's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeerConfig {
    /// Deadline for the TLS handshake plus the request head, from accept. Default 10 s.
    pub header_timeout: Duration,
    /// Largest request head. Default 8 KiB.
    pub max_head: usize,
    /// Deadline for opening the tunnel through the local agent. Default 10 s.
    pub open_timeout: Duration,
    /// Destinations accepted (checked again here, as on the client front). Default: the
    /// empty list, which denies everything; a gateway passes its own `allow`.
    pub allow: Arc<Allowlist>,
    /// Most forwarded tunnels open at once; beyond, `503` (not "agent absent"). Default 16384.
    pub max_tunnels: NonZeroUsize,
    /// Relay settings. Default: 5 min idle timeout.
    pub bridge: BridgeConfig,
    /// Time live tunnels get after shutdown. Default 30 s.
    pub drain_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            header_timeout: crate::front::DEFAULT_HEADER_TIMEOUT,
            max_head: ferry_front::http_connect::DEFAULT_MAX_HEAD,
            open_timeout: crate::front::DEFAULT_OPEN_TIMEOUT,
            allow: Arc::new(Allowlist::default()),
            max_tunnels: NonZeroUsize::new(16_384).unwrap_or(NonZeroUsize::MIN),
            bridge: BridgeConfig::default()
                .idle_timeout(Some(crate::front::DEFAULT_TUNNEL_IDLE_TIMEOUT)),
            drain_timeout: crate::front::DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// What a connection runs with; [`PeerFront::reload`] swaps it for new connections.
struct Settings {
    config: PeerConfig,
    tls: TlsAcceptor,
    bridge: Bridge,
}

struct Inner<L> {
    settings: ArcSwap<Settings>,
    credential: GatewayCredential,
    local: L,
    permits: Semaphore,
    cut: CancellationToken,
}

/// The inter-gateway listener: accepts tunnels forwarded by other gateways of the cluster.
///
/// Per connection, in order (the first refusal answers and closes):
///
/// 1. TLS (required: there is no plaintext mode) and the request head within
///    [`PeerConfig::header_timeout`] (`408`), at most [`PeerConfig::max_head`] bytes (`400`);
/// 2. `Proxy-Authorization: Basic` whose password is the shared gateway credential (compared in
///    constant time; the username is only logged): otherwise `407`;
/// 3. `Ferry-Agent` (a valid agent id) required, `Ferry-Client` (`ip:port`) optional, both
///    trusted: the forwarding gateway authenticated the client; otherwise `400`;
/// 4. the destination against [`PeerConfig::allow`]: `403`;
/// 5. the concurrency cap [`PeerConfig::max_tunnels`]: `503`;
/// 6. the **local** opener only (never forwards again: no loops), within
///    [`PeerConfig::open_timeout`]; an agent not connected here is answered `503` with
///    `Ferry-Reason: agent-not-connected`, which tells the forwarder its record is stale;
/// 7. `200`, then bytes both ways.
///
/// There is no failed-authentication rate limit here: the peer listener is meant to be
/// reachable from the other gateways only (firewall it); failures are counted in
/// `ferry_gateway_peer_auth_failures_total`.
pub struct PeerFront<L> {
    inner: Arc<Inner<L>>,
}

impl<L> Clone for PeerFront<L> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<L: TunnelOpener> PeerFront<L> {
    /// A peer front opening tunnels with `local`, terminating TLS with `tls`, accepting
    /// `credential`.
    #[must_use]
    pub fn new(
        config: PeerConfig,
        credential: GatewayCredential,
        local: L,
        tls: TlsAcceptor,
    ) -> Self {
        let bridge = Bridge::new(config.bridge.clone());
        let permits = Semaphore::new(config.max_tunnels.get());
        Self {
            inner: Arc::new(Inner {
                settings: ArcSwap::from_pointee(Settings {
                    config,
                    tls,
                    bridge,
                }),
                credential,
                local,
                permits,
                cut: CancellationToken::new(),
            }),
        }
    }

    /// The TLS acceptor new connections use.
    pub(crate) fn tls(&self) -> TlsAcceptor {
        self.inner.settings.load().tls.clone()
    }

    /// Swaps in `config` (allowlist, timeouts, relay settings) and `tls` for new connections;
    /// live ones keep what they started with. [`PeerConfig::max_tunnels`] keeps the value the
    /// front was created with, and so does the gateway credential.
    pub fn reload(&self, config: PeerConfig, tls: TlsAcceptor) {
        let bridge = Bridge::new(config.bridge.clone());
        self.inner.settings.store(Arc::new(Settings {
            config,
            tls,
            bridge,
        }));
    }

    /// Serves one accepted TCP connection to its end.
    pub async fn handle_tcp(&self, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let inner = &self.inner;
        let g = inner.settings.load_full();
        let deadline = Instant::now() + g.config.header_timeout;
        match timeout_at(deadline, Box::pin(g.tls.accept(tcp))).await {
            Ok(Ok((stream, _info))) => Box::pin(serve(inner, &g, stream, peer, deadline)).await,
            Ok(Err(e)) => log(peer, None, None, "tls_handshake_failed", &e.to_string()),
            Err(_elapsed) => log(peer, None, None, "header_timeout", "-"),
        }
    }

    /// Accepts connections until `shutdown` completes; then drains like
    /// [`ClientFront::serve`](crate::ClientFront::serve).
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let server = Server::with_tokens(CancellationToken::new(), self.inner.cut.clone());
        let front = self.clone();
        server.accept(listener, move |tcp, peer| {
            let front = front.clone();
            Some(async move { front.handle_tcp(tcp, peer).await })
        });
        shutdown.await;
        server
            .drain(self.inner.settings.load().config.drain_timeout)
            .await;
    }
}

fn log(peer: SocketAddr, agent: Option<&str>, status: Option<u16>, end: &str, error: &str) {
    tracing::info!(
        target: "ferry::access",
        kind = "peer",
        peer = %peer,
        agent = agent.unwrap_or("-"),
        status = status.map_or(0, u32::from),
        end,
        error,
        "peer tunnel"
    );
}

async fn reply<S: AsyncWrite + Unpin>(
    client: &mut S,
    status: u16,
    extra: &[(&str, &str)],
    wait: Duration,
) {
    let mut out = Vec::with_capacity(128);
    let written = match status {
        407 => Reply::ProxyAuthRequired { realm: PEER_REALM }.write(&mut out),
        _ => write_response(&mut out, status, reason(status), extra),
    };
    if written.is_err() {
        return;
    }
    super::peer_reply(status);
    let _ = timeout(wait, async {
        client.write_all(&out).await?;
        client.flush().await?;
        if status != 200 {
            client.shutdown().await?;
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "Connection established",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

async fn serve<L, S>(
    inner: &Inner<L>,
    g: &Settings,
    mut conn: S,
    peer: SocketAddr,
    deadline: Instant,
) where
    L: TunnelOpener,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let cfg = &g.config;
    let wait = cfg.header_timeout;
    let limits = HttpLimits::default().with_max_head(cfg.max_head);
    let head = tokio::select! {
        () = inner.cut.cancelled() => return log(peer, None, None, "cut_at_drain", "-"),
        r = timeout_at(deadline, read_head(&mut conn, &limits)) => r,
    };
    let (request, early) = match head {
        Err(_elapsed) => {
            reply(&mut conn, 408, &[], wait).await;
            return log(peer, None, Some(408), "header_timeout", "-");
        }
        Ok(Err(HeadError::Http(e))) => {
            let code = e.status();
            reply(&mut conn, code, &[], wait).await;
            return log(peer, None, Some(code), "bad_request", &e.to_string());
        }
        Ok(Err(HeadError::Closed { .. } | HeadError::Io(_))) => {
            return log(peer, None, None, "closed_in_request", "-");
        }
        Ok(Ok(parsed)) => parsed,
    };
    let authorized = match request.proxy_authorization(&limits) {
        Ok(Some(creds)) => inner.credential.verify(&creds.password),
        Ok(None) | Err(_) => false,
    };
    if !authorized {
        super::peer_auth_failure();
        reply(&mut conn, 407, &[], wait).await;
        return log(peer, None, Some(407), "peer_auth_failed", "-");
    }
    // Parsed once, here: the id travels typed to the opener.
    let agent_id = request
        .header(AGENT_HEADER)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|a| ferry_auth::is_valid_agent_id(a))
        .and_then(|a| AgentId::new(a).ok());
    let Some(agent_id) = agent_id else {
        reply(&mut conn, 400, &[], wait).await;
        return log(peer, None, Some(400), "bad_agent_header", "-");
    };
    let agent = agent_id.as_str();
    let client = match request.header(CLIENT_HEADER) {
        None => Some(peer),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.trim().parse::<SocketAddr>().ok()),
    };
    let Some(client) = client else {
        reply(&mut conn, 400, &[], wait).await;
        return log(peer, Some(agent), Some(400), "bad_client_header", "-");
    };
    let via = request.header(VIA_HEADER).map(|v| {
        String::from_utf8_lossy(v)
            .chars()
            .take(64)
            .collect::<String>()
    });
    // Absent: TCP (what every gateway before UDP services sends).
    let udp = match request.header(PROTOCOL_HEADER).map(<[u8]>::trim_ascii) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case(b"tcp") => false,
        Some(v) if v.eq_ignore_ascii_case(b"udp") => true,
        Some(_) => {
            reply(&mut conn, 400, &[], wait).await;
            return log(peer, Some(agent), Some(400), "bad_protocol_header", "-");
        }
    };
    tracing::debug!(agent, %client, via = via.as_deref().unwrap_or("-"), target = %request.target, udp, "forwarded tunnel");

    let target = &request.target;
    let allowed = match target {
        Address::Ip(sa) => cfg.allow.check_ip(sa.ip(), sa.port()).is_allowed(),
        Address::Domain(name, port) => cfg.allow.matches(name, *port).is_allowed(),
        _ => false,
    };
    if !allowed {
        reply(&mut conn, 403, &[], wait).await;
        return log(peer, Some(agent), Some(403), "denied_by_gateway", "-");
    }
    let destination = match crate::destination::from_target(target) {
        Ok(d) => d,
        Err(e) => {
            reply(&mut conn, 502, &[], wait).await;
            return log(
                peer,
                Some(agent),
                Some(502),
                "dial_failed",
                &format!("destination: {e}"),
            );
        }
    };
    let Ok(_permit) = inner.permits.try_acquire() else {
        reply(&mut conn, 503, &[], wait).await;
        return log(peer, Some(agent), Some(503), "limited", "-");
    };
    let opened = tokio::select! {
        () = inner.cut.cancelled() => return log(peer, Some(agent), None, "cut_at_drain", "-"),
        r = timeout(cfg.open_timeout, async {
            if udp {
                inner.local.open_udp(&agent_id, &destination, client).await
            } else {
                inner.local.open(&agent_id, &destination, client).await
            }
        }) => r,
    };
    let tunnel = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(OpenFailure::AgentNotConnected)) => {
            reply(
                &mut conn,
                503,
                &[(REASON_HEADER, AGENT_NOT_CONNECTED)],
                wait,
            )
            .await;
            return log(peer, Some(agent), Some(503), "agent_not_connected", "-");
        }
        Ok(Err(failure)) => {
            reply(&mut conn, failure.status(), &[], wait).await;
            return log(
                peer,
                Some(agent),
                Some(failure.status()),
                failure.label(),
                &failure.to_string(),
            );
        }
        Err(_elapsed) => {
            reply(&mut conn, 504, &[], wait).await;
            return log(peer, Some(agent), Some(504), "open_timeout", "-");
        }
    };
    // A UDP tunnel is confirmed, so that the forwarder knows this gateway did not open TCP.
    let confirm: &[(&str, &str)] = if udp {
        &[(PROTOCOL_HEADER, "udp")]
    } else {
        &[]
    };
    reply(&mut conn, 200, confirm, wait).await;
    let session = Session::new().prefix_a_to_b(Bytes::from(early));
    let relay = g.bridge.run(conn, tunnel, session);
    let end = tokio::select! {
        () = inner.cut.cancelled() => "cut_at_drain",
        outcome = relay => outcome.end.label(),
    };
    log(peer, Some(agent), Some(200), end, "-");
}
