//! One local TCP client of an access listener: its request, the route, the connection over a
//! chain (or direct), the reply, the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferry_bridge::Session;
use ferry_chain::{Address, Status};
use ferry_front::http_connect::Reply;
use ferry_front::socks5::{Command, ReplyCode};
use tokio::net::TcpStream;

use super::chains::{ChainsFailed, connect_chains, connect_direct};
use super::front::{HttpFront, http_reply, socks5_request};
use super::{AccessCtx, ListenerRt, bump};
use crate::config::{AccessMode, RouteAction};
use crate::metrics::{ActiveGuard, connection_ended};
use crate::serve::dial::status_of;
use ferry_app_core::stream::{Stream, relay};

pub(crate) const MODE: &str = "access";

/// Why no upstream connection was made.
pub(crate) enum Fail {
    Blocked,
    Cut,
    BadTarget,
    Chains(ChainsFailed),
    Direct(std::io::Error),
}

impl Fail {
    fn label(&self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::Cut => "cut_at_drain",
            Self::BadTarget => "bad_target",
            Self::Chains(_) => "chain_failed",
            Self::Direct(_) => "direct_failed",
        }
    }

    fn status(&self) -> Option<Status> {
        match self {
            Self::Blocked => Some(Status::Denied),
            Self::BadTarget | Self::Cut => None,
            Self::Chains(c) => c.status(),
            Self::Direct(e) => Some(status_of(e)),
        }
    }

    fn socks_code(&self) -> ReplyCode {
        match (self, self.status()) {
            (Self::BadTarget, _) => ReplyCode::ADDRESS_TYPE_NOT_SUPPORTED,
            (_, Some(Status::Denied)) => ReplyCode::NOT_ALLOWED,
            (_, Some(Status::Refused)) => ReplyCode::CONNECTION_REFUSED,
            (_, Some(Status::Timeout)) => ReplyCode::TTL_EXPIRED,
            (_, Some(Status::DnsFailure | Status::Unreachable)) => ReplyCode::HOST_UNREACHABLE,
            _ => ReplyCode::GENERAL_FAILURE,
        }
    }

    fn http_reply(&self) -> Reply<'static> {
        match (self, self.status()) {
            (Self::BadTarget, _) => Reply::BadRequest,
            (_, Some(Status::Denied)) => Reply::Forbidden,
            (_, Some(Status::Timeout)) => Reply::GatewayTimeout,
            _ => Reply::BadGateway,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Blocked => "blocked by a route".to_owned(),
            Self::Cut => "cut at drain".to_owned(),
            Self::BadTarget => "invalid destination".to_owned(),
            Self::Chains(c) => match &c.last {
                Some((name, e)) => format!("{} chain(s) failed, last {name}: {e}", c.tried),
                None => "no chain to try".to_owned(),
            },
            Self::Direct(e) => format!("direct connection failed: {e}"),
        }
    }
}

/// An upstream connection: a chain's hop-1 socket or a direct one.
pub(crate) struct Upstream {
    pub(crate) stream: Stream,
    pub(crate) early: Vec<u8>,
    pub(crate) via: String,
}

impl Upstream {
    /// The local address of the TCP connection under it.
    fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.tcp().local_addr().ok()
    }
}

/// Routes `target` and connects.
pub(crate) async fn open(ctx: &AccessCtx, target: &Address) -> Result<Upstream, Fail> {
    let route = ctx.router.route(target);
    match &route.action {
        RouteAction::Block => Err(Fail::Blocked),
        RouteAction::Direct => {
            let tcp = connect_direct(target, &*ctx.config.resolver, ctx.config.connect_timeout)
                .await
                .map_err(Fail::Direct)?;
            let _ = tcp.set_nodelay(true);
            Ok(Upstream {
                stream: Stream::Plain(tcp),
                early: Vec::new(),
                via: "direct".to_owned(),
            })
        }
        RouteAction::Chains(_) => {
            let order = route.chain_order();
            let c = connect_chains(
                &ctx.config.chains,
                &order,
                target,
                &*ctx.config.resolver,
                ctx.config.connect_timeout,
            )
            .await
            .map_err(|f| {
                ctx.stats.failovers.fetch_add(
                    u64::try_from(f.tried).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                Fail::Chains(f)
            })?;
            ctx.stats.failovers.fetch_add(c.skipped, Ordering::Relaxed);
            Ok(Upstream {
                stream: c.stream,
                early: c.early,
                via: c.via,
            })
        }
    }
}

/// A `ferry_front` address as a chain address (port 0 and odd names are refused).
pub(crate) fn chain_address(a: &ferry_front::Address) -> Option<Address> {
    match (a.socket_addr(), a.domain()) {
        (Some(sa), _) => Address::try_from(sa).ok(),
        (None, Some(name)) => format!("{name}:{}", a.port()).parse().ok(),
        (None, None) => None,
    }
}

/// Handles one accepted client to the end.
pub(crate) async fn handle(
    mut client: TcpStream,
    peer: SocketAddr,
    ctx: Arc<AccessCtx>,
    l: Arc<ListenerRt>,
) {
    let _ = client.set_nodelay(true);
    let _active = ActiveGuard::new(MODE, &l.name);
    let deadline = ctx.config.handshake_timeout;
    let fail_front = |e: &super::front::FrontError| {
        bump(&ctx.stats.failed);
        connection_ended(MODE, &l.name, e.label(), 0, 0);
        tracing::info!(target: "ferry::access", mode = MODE, listener = %l.name, client = %peer, error = %ferry_app_core::error::error_line(e), end = e.label(), "connection");
    };
    let (target, leftover, front) = match &l.mode {
        AccessMode::Tcp { destination } => (destination.clone(), Vec::new(), Front::Plain),
        AccessMode::Socks5 => match socks5_request(&mut client, l.auth.as_ref(), deadline).await {
            Err(e) => return fail_front(&e),
            Ok(mut req) => {
                if req.command == Command::UdpAssociate {
                    super::udp::associate(client, req, peer, ctx, l).await;
                    return;
                }
                match chain_address(&req.target) {
                    Some(t) => {
                        let leftover = std::mem::take(&mut req.leftover);
                        (t, leftover, Front::Socks5(req))
                    }
                    None => {
                        let _ = req
                            .reply(&mut client, Fail::BadTarget.socks_code(), &unspecified())
                            .await;
                        return finish_failed(&ctx, &l, peer, "-", &Fail::BadTarget);
                    }
                }
            }
        },
        AccessMode::HttpConnect => {
            let front = HttpFront::new(l.auth.clone());
            match front.read_request(&mut client, deadline).await {
                Err(e) => return fail_front(&e),
                Ok(req) => match chain_address(&req.target) {
                    Some(t) => (t, req.leftover, Front::Http),
                    None => {
                        let _ = http_reply(&mut client, &Fail::BadTarget.http_reply()).await;
                        return finish_failed(
                            &ctx,
                            &l,
                            peer,
                            &req.target.to_string(),
                            &Fail::BadTarget,
                        );
                    }
                },
            }
        }
        AccessMode::Udp { .. } => return, // UDP listeners have no TCP clients
    };
    let opened = tokio::select! {
        () = ctx.cut.cancelled() => return finish_failed(&ctx, &l, peer, &target.to_string(), &Fail::Cut),
        o = open(&ctx, &target) => o,
    };
    let up = match opened {
        Ok(up) => up,
        Err(fail) => {
            match front {
                Front::Socks5(mut req) => {
                    let _ = req
                        .reply(&mut client, fail.socks_code(), &unspecified())
                        .await;
                }
                Front::Http => {
                    let _ = http_reply(&mut client, &fail.http_reply()).await;
                }
                Front::Plain => {}
            }
            return finish_failed(&ctx, &l, peer, &target.to_string(), &fail);
        }
    };
    let replied = match front {
        Front::Socks5(mut req) => {
            let bound = up
                .local_addr()
                .map_or_else(unspecified, ferry_front::Address::Ip);
            req.reply(&mut client, ReplyCode::SUCCEEDED, &bound).await
        }
        Front::Http => http_reply(&mut client, &Reply::Established).await,
        Front::Plain => Ok(()),
    };
    if let Err(e) = replied {
        return finish_failed(&ctx, &l, peer, &target.to_string(), &Fail::Direct(e));
    }
    let session = Session::new()
        .prefix_a_to_b(leftover.into())
        .prefix_b_to_a(up.early.into());
    let started = tokio::time::Instant::now();
    let outcome = tokio::select! {
        () = ctx.cut.cancelled() => {
            connection_ended(MODE, &l.name, "cut_at_drain", 0, 0);
            return;
        }
        o = relay(&ctx.bridge, Stream::Plain(client), up.stream, session) => o,
    };
    bump(&ctx.stats.relayed);
    ctx.stats
        .bytes_up
        .fetch_add(outcome.a_to_b, Ordering::Relaxed);
    ctx.stats
        .bytes_down
        .fetch_add(outcome.b_to_a, Ordering::Relaxed);
    let end = outcome.end.label();
    connection_ended(MODE, &l.name, end, outcome.a_to_b, outcome.b_to_a);
    tracing::info!(
        target: "ferry::access",
        mode = MODE,
        listener = %l.name,
        client = %peer,
        destination = %target,
        via = %up.via,
        bytes_up = outcome.a_to_b,
        bytes_down = outcome.b_to_a,
        spliced = outcome.spliced,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        end,
        "connection"
    );
}

enum Front {
    Plain,
    Socks5(super::front::Socks5Request),
    Http,
}

pub(crate) fn unspecified() -> ferry_front::Address {
    ferry_front::Address::Ip(SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn finish_failed(ctx: &AccessCtx, l: &ListenerRt, peer: SocketAddr, target: &str, fail: &Fail) {
    if matches!(fail, Fail::Blocked) {
        bump(&ctx.stats.blocked);
    } else {
        bump(&ctx.stats.failed);
    }
    let end = fail.label();
    connection_ended(MODE, &l.name, end, 0, 0);
    tracing::info!(
        target: "ferry::access",
        mode = MODE,
        listener = %l.name,
        client = %peer,
        destination = target,
        error = %fail.describe(),
        end,
        "connection"
    );
}
