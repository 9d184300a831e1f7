//! One client connection through the steps listed in the [module docs](super).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_app_core::proxy_protocol::{self, AcceptProxy};
use ferry_auth::Role;
use ferry_bridge::{Counters, Session};
use ferry_front::http_connect::{HttpLimits, Reply, write_response};
use ferry_limit::ClientKey;
use ferry_tunnel::AgentId;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use super::head::{HeadError, read_head};
use super::limits::Refusal;
use super::{Generation, Inner, RevokedClientTunnels};
use crate::opener::TunnelOpener;

/// What the access-log line says about a connection.
struct Access {
    peer: SocketAddr,
    started: Instant,
    agent: Option<String>,
    target: Option<String>,
    /// The client certificate's subject and serial (mTLS on the client front).
    client_cert: Option<String>,
}

impl Access {
    fn log(&self, status: Option<u16>, end: &str, up: u64, down: u64, error: Option<&str>) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "ferry::access",
            client = %self.peer,
            agent = self.agent.as_deref().unwrap_or("-"),
            client_cert = self.client_cert.as_deref().unwrap_or("-"),
            target_addr = self.target.as_deref().unwrap_or("-"),
            status = status.map_or(0, u32::from),
            end,
            bytes_up = up,
            bytes_down = down,
            ms,
            error = error.unwrap_or("-"),
            "tunnel"
        );
    }
}

/// The presented agent id as logged: at most 64 characters, escaped by `Debug`.
fn shown(name: &str) -> String {
    let cut: String = name.chars().take(64).collect();
    format!("{cut:?}")
}

fn chain(e: &dyn std::error::Error) -> String {
    ferry_app_core::error::error_line(e)
}

pub(super) async fn handle_tcp<O: TunnelOpener>(
    inner: &Arc<Inner<O>>,
    mut tcp: TcpStream,
    peer: SocketAddr,
) {
    let started = Instant::now();
    let g = inner.current.load_full();
    let mut access = Access {
        peer,
        started,
        agent: None,
        target: None,
        client_cert: None,
    };
    // Behind a load balancer, the client is who its header says, from here on. Boxed: fronts
    // without `accept_proxy` should not carry the header reader in their tasks.
    if let Some(accept) = &g.config.accept_proxy {
        match Box::pin(client_address(inner, &mut tcp, peer, accept)).await {
            Ok(client) => access.peer = client,
            Err((end, error)) => {
                if end != "cut_at_drain" {
                    inner.stats.proxy_rejected.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::proxy_rejected(end);
                }
                return access.log(None, end, 0, 0, error.as_deref());
            }
        }
    }
    let source = g.limiters.source(access.peer.ip());
    if let Some(secs) = g.limiters.blocked_for(source, Instant::now().into_std()) {
        inner.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
        crate::metrics::auth_failure("blocked");
        respond(
            inner,
            &g,
            &mut tcp,
            Reply::TooManyRequests {
                retry_after_secs: secs,
            },
        )
        .await;
        access.log(Some(429), "auth_blocked", 0, 0, None);
        return;
    }
    // From accept, or from the end of the PROXY header: TLS and the request head together.
    let deadline = Instant::now() + g.config.header_timeout;
    match &g.tls {
        None => serve(inner, &g, tcp, source, deadline, access).await,
        Some(acceptor) => match timeout_at(deadline, Box::pin(acceptor.accept(tcp))).await {
            Ok(Ok((stream, info))) => {
                access.client_cert = info.peer_certificate.as_ref().map(|cert| {
                    ferry_tls::CertIdentity::parse(cert)
                        .map_or_else(|e| e.to_string(), |id| id.to_string())
                });
                Box::pin(serve(inner, &g, stream, source, deadline, access)).await
            }
            Ok(Err(e)) => access.log(None, "tls_handshake_failed", 0, 0, Some(&chain(&e))),
            Err(_elapsed) => access.log(None, "header_timeout", 0, 0, None),
        },
    }
}

/// Reads the PROXY header of a trusted peer (within `accept.timeout`, before anything else)
/// and returns the client it names (the peer itself for a `LOCAL` header). Refused: the `end`
/// label (`proxy_untrusted`, `proxy_header_invalid`, `proxy_header_timeout`, or `cut_at_drain`)
/// and the error.
async fn client_address<O>(
    inner: &Inner<O>,
    tcp: &mut TcpStream,
    peer: SocketAddr,
    accept: &AcceptProxy,
) -> Result<SocketAddr, (&'static str, Option<String>)> {
    if !accept.trusts(peer.ip()) {
        return Err((proxy_protocol::UNTRUSTED, Some(UNTRUSTED_WHY.to_owned())));
    }
    let read = tokio::select! {
        () = inner.cut.cancelled() => return Err(("cut_at_drain", None)),
        r = proxy_protocol::accept(tcp, peer, accept) => r,
    };
    read.map(|(source, _destination)| source)
        .map_err(|e| (e.end(), Some(chain(&e))))
}

/// The error logged for a peer outside `accept_proxy.trusted`.
pub(crate) const UNTRUSTED_WHY: &str = "peer is not in accept_proxy.trusted";

/// Writes a reply (bounded in time) and closes the write side.
async fn respond<O, S>(inner: &Inner<O>, g: &Generation, client: &mut S, reply: Reply<'_>)
where
    S: AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(128);
    if reply.write(&mut out).is_err() {
        // Only a realm with a control character fails, and config validation refuses those.
        let _ = write_response(&mut out, reply.status(), reply.reason(), &[]);
    }
    inner.stats.count_reply(reply.status());
    let write = async {
        client.write_all(&out).await?;
        client.flush().await?;
        if reply.status() != 200 {
            client.shutdown().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let _ = timeout(g.config.header_timeout, write).await;
}

async fn respond_code<O, S: AsyncWrite + Unpin>(
    inner: &Inner<O>,
    g: &Generation,
    client: &mut S,
    code: u16,
) {
    let reply = match code {
        403 => Reply::Forbidden,
        405 => Reply::MethodNotAllowed,
        407 => Reply::ProxyAuthRequired {
            realm: &g.config.realm,
        },
        502 => Reply::BadGateway,
        503 => Reply::ServiceUnavailable,
        504 => Reply::GatewayTimeout,
        _ => Reply::BadRequest,
    };
    respond(inner, g, client, reply).await;
}

async fn refuse<O, S: AsyncWrite + Unpin>(
    inner: &Inner<O>,
    g: &Generation,
    client: &mut S,
    r: Refusal,
) -> u16 {
    match r {
        Refusal::TooMany(secs) => {
            respond(
                inner,
                g,
                client,
                Reply::TooManyRequests {
                    retry_after_secs: secs,
                },
            )
            .await;
            429
        }
        Refusal::Busy => {
            respond(inner, g, client, Reply::ServiceUnavailable).await;
            503
        }
    }
}

async fn serve<O, S>(
    inner: &Arc<Inner<O>>,
    g: &Generation,
    mut client: S,
    source: ClientKey,
    deadline: Instant,
    mut access: Access,
) where
    O: TunnelOpener,
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let cfg = &g.config;
    let limits = HttpLimits::default().with_max_head(cfg.max_head);
    let head = tokio::select! {
        () = inner.cut.cancelled() => return access.log(None, "cut_at_drain", 0, 0, None),
        r = timeout_at(deadline, read_head(&mut client, &limits)) => r,
    };
    let (request, early) = match head {
        Err(_elapsed) => {
            let mut out = Vec::new();
            let _ = write_response(&mut out, 408, "Request Timeout", &[]);
            inner.stats.count_reply(408);
            let _ = timeout(cfg.header_timeout, client.write_all(&out)).await;
            return access.log(Some(408), "header_timeout", 0, 0, None);
        }
        Ok(Err(HeadError::Closed { empty })) => {
            let end = if empty {
                "closed_before_request"
            } else {
                "closed_in_request"
            };
            return access.log(None, end, 0, 0, None);
        }
        Ok(Err(HeadError::Io(e))) => {
            return access.log(None, "read_failed", 0, 0, Some(&e.to_string()));
        }
        Ok(Err(HeadError::Http(e))) => {
            let code = e.status();
            respond_code(inner, g, &mut client, code).await;
            return access.log(Some(code), "bad_request", 0, 0, Some(&e.to_string()));
        }
        Ok(Ok(parsed)) => parsed,
    };
    let target = request.target.clone();
    access.target = Some(target.to_string());
    let now = Instant::now().into_std();

    if let Err(r) = g.limiters.check_client_rate(source, now) {
        let code = refuse(inner, g, &mut client, r).await;
        return access.log(Some(code), "client_rate_limited", 0, 0, None);
    }

    // Credentials: username = agent id, password = client token or JWT.
    let creds = match request.proxy_authorization(&limits) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(("missing", None)),
        Err(e) => Err(("malformed", Some(e.to_string()))),
    };
    let remember = cfg.revoked_client_tunnels == RevokedClientTunnels::Cut;
    let mut presented = None;
    let identity = match creds {
        Ok(c) => {
            access.agent = Some(shown(&c.username));
            let verified = g
                .auth
                .verify(
                    Role::Client,
                    &c.username,
                    &c.password,
                    inner.clock.unix_secs(),
                )
                .map_err(|e| ("refused", Some(chain(&e))));
            if remember && verified.is_ok() {
                presented = Some(c);
            }
            verified
        }
        Err(e) => Err(e),
    };
    let identity = match identity {
        Ok(id) => id,
        Err((reason, error)) => {
            inner.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
            crate::metrics::auth_failure(reason);
            let blocked = g.limiters.auth_failed(source, now);
            respond_code(inner, g, &mut client, 407).await;
            let end = if blocked {
                "auth_failed_now_blocked"
            } else {
                "auth_failed"
            };
            return access.log(
                Some(407),
                end,
                0,
                0,
                Some(error.as_deref().unwrap_or(reason)),
            );
        }
    };
    access.agent = Some(identity.agent_id.clone());
    // Remembered with its credential, from now on, only when revoked clients' tunnels are cut
    // at reloads (a reload while the tunnel opens is seen below).
    let live = presented
        .take()
        .map(|c| inner.live.add(&c.username, &c.password));

    if !crate::config::gateway_allows(&cfg.allow, &target) {
        respond_code(inner, g, &mut client, 403).await;
        return access.log(Some(403), "denied_by_gateway", 0, 0, None);
    }

    let _permits = match g.limiters.admit(source, &identity.agent_id, now) {
        Ok(p) => p,
        Err(r) => {
            let code = refuse(inner, g, &mut client, r).await;
            return access.log(Some(code), "limited", 0, 0, None);
        }
    };

    // The id and the destination are parsed once, here, and travel typed from now on. An id
    // the tunnel cannot carry can never be connected (503); a destination it cannot carry
    // cannot be dialled (502).
    let Ok(agent_id) = AgentId::new(&identity.agent_id) else {
        respond_code(inner, g, &mut client, 503).await;
        return access.log(Some(503), "agent_not_connected", 0, 0, None);
    };
    let destination = match crate::destination::from_target(&target) {
        Ok(d) => d,
        Err(e) => {
            respond_code(inner, g, &mut client, 502).await;
            let why = format!("destination: {e}");
            return access.log(Some(502), "dial_failed", 0, 0, Some(&why));
        }
    };
    let open = inner.opener.open(&agent_id, &destination, access.peer);
    let opened = tokio::select! {
        () = inner.cut.cancelled() => return access.log(None, "cut_at_drain", 0, 0, None),
        r = timeout(cfg.open_timeout, open) => r,
    };
    let tunnel = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(failure)) => {
            let code = failure.status();
            respond_code(inner, g, &mut client, code).await;
            return access.log(
                Some(code),
                failure.label(),
                0,
                0,
                Some(&failure.to_string()),
            );
        }
        Err(_elapsed) => {
            respond_code(inner, g, &mut client, 504).await;
            return access.log(Some(504), "open_timeout", 0, 0, None);
        }
    };

    if live.as_ref().is_some_and(|l| l.revoked().is_cancelled()) {
        // Revoked by a reload while the tunnel was opening.
        respond_code(inner, g, &mut client, 407).await;
        return access.log(Some(407), "auth_revoked", 0, 0, None);
    }
    let revoked = async {
        match &live {
            Some(l) => l.revoked().cancelled().await,
            None => std::future::pending().await,
        }
    };
    respond(inner, g, &mut client, Reply::Established).await;
    let _active = crate::metrics::ActiveTunnel::new();
    let counters = Arc::new(Counters::new());
    let session = Session::new()
        .counters(Arc::clone(&counters))
        .prefix_a_to_b(Bytes::from(early));
    let relay = g.bridge.run(client, tunnel, session);
    let (up, down, end) = tokio::select! {
        () = inner.cut.cancelled() => (counters.a_to_b(), counters.b_to_a(), "cut_at_drain"),
        () = revoked => (counters.a_to_b(), counters.b_to_a(), "cut_revoked"),
        outcome = relay => (outcome.a_to_b, outcome.b_to_a, outcome.end.label()),
    };
    inner.stats.tunnels_done.fetch_add(1, Ordering::Relaxed);
    inner.stats.bytes_up.fetch_add(up, Ordering::Relaxed);
    inner.stats.bytes_down.fetch_add(down, Ordering::Relaxed);
    crate::metrics::tunnel_ended(end, up, down);
    access.log(Some(200), end, up, down, None);
}
