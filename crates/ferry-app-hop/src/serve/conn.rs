//! One client connection of a hop: limits, the record, the policy check, the dial, the status,
//! the relay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_bridge::{Bridge, Session};
use ferry_chain::{Flags, ReplayGuard, Status};
use ferry_limit::{ClientKeyer, ConcurrencyLimiter, RateLimiter};
use ring::rand::SystemRandom;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::dial::{dial_next, status_label};
use super::handshake::{ReadFail, answer, read_request};
use crate::ServeConfig;
use crate::metrics::{ActiveGuard, connection_ended};
use ferry_app_core::stream::{Stream, relay};

/// One generation of a hop's settings, as every connection accepted while it is in force sees
/// it (see `generation.rs`). The replay guard, the counters and the drain token are shared by
/// every generation.
pub(crate) struct ServeCtx {
    pub(crate) config: ServeConfig,
    pub(crate) guard: Arc<Mutex<ReplayGuard>>,
    pub(crate) keyer: ClientKeyer,
    pub(crate) rate: Option<Arc<RateLimiter>>,
    pub(crate) conns: ConcurrencyLimiter,
    pub(crate) handshakes: ConcurrencyLimiter,
    pub(crate) bridge: Bridge,
    pub(crate) rng: SystemRandom,
    pub(crate) cut: CancellationToken,
    pub(crate) stats: Arc<Stats>,
}

/// Counters of a serve run.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) accepted: AtomicU64,
    pub(crate) relayed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) bytes_up: AtomicU64,
    pub(crate) bytes_down: AtomicU64,
    pub(crate) udp_forwarded: AtomicU64,
    pub(crate) udp_dropped: AtomicU64,
    pub(crate) udp_refused: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

const MODE: &str = "serve";

/// Handles one accepted connection to the end.
pub(crate) async fn handle(up: TcpStream, peer: SocketAddr, ctx: &ServeCtx) {
    let _ = up.set_nodelay(true);
    let listener = "serve";
    let key = ctx.keyer.key_for_ip(peer.ip());
    let reject = |end: &'static str| {
        bump(&ctx.stats.rejected);
        connection_ended(MODE, listener, end, 0, 0);
        tracing::info!(target: "ferry::access", mode = MODE, client = %peer, end, "connection");
    };
    if let Some(rate) = &ctx.rate
        && !rate
            .check(key, tokio::time::Instant::now().into_std())
            .is_allowed()
    {
        return reject("rate_limited");
    }
    let Ok(_conn_permit) = ctx.conns.try_acquire(key) else {
        return reject("too_many_connections");
    };
    let Ok(handshake_permit) = ctx.handshakes.try_acquire(key) else {
        return reject("too_many_handshakes");
    };
    let _active = ActiveGuard::new(MODE, listener);
    let deadline = tokio::time::Instant::now() + ctx.config.handshake_timeout;
    let mut up = match &ctx.config.tls {
        None => Stream::Plain(up),
        Some(acceptor) => {
            let accepted = tokio::time::timeout_at(deadline, acceptor.accept(up));
            match unless_cut(&ctx.cut, accepted).await {
                None => return reject("cut_at_drain"),
                Some(Err(_elapsed)) => return reject("handshake_timeout"),
                Some(Ok(Err(e))) => {
                    tracing::debug!(client = %peer, error = %e, "tls handshake failed");
                    return reject("tls_failed");
                }
                Some(Ok(Ok((tls, _info)))) => Stream::Server(Box::new(tls)),
            }
        }
    };
    let read = tokio::time::timeout_at(
        deadline,
        read_request(&mut up, &ctx.config.keys, &ctx.guard, &*ctx.config.clock),
    );
    let (opened, rest) = match unless_cut(&ctx.cut, read).await {
        None => return reject("cut_at_drain"),
        Some(Err(_elapsed)) => return reject("handshake_timeout"),
        Some(Ok(Err(fail))) => {
            if let ReadFail::Refused(e) = &fail
                && let Some((info, status)) = e.reply()
            {
                let _ = answer(&mut up, &ctx.config.keys, &info, status, &ctx.rng).await;
            }
            tracing::debug!(client = %peer, reason = ?fail, "record refused");
            return reject(fail.label());
        }
        Some(Ok(Ok(done))) => done,
    };
    drop(handshake_permit);
    let request = &opened.request;
    let info = opened.info;
    let next = request.next.clone();
    let final_hop = request.flags.contains(Flags::FINAL);
    let refusal = if request.flags.contains(Flags::UDP) {
        Some(Status::ProtocolError) // a datagram chain's record on the stream listener
    } else if !final_hop && request.hop_limit < 2 {
        Some(Status::HopLimitExceeded) // another hop would follow, but none is left
    } else {
        None
    };
    let dialed = match refusal {
        Some(status) => Err(status),
        None => {
            let tls = ctx.config.next_hop_tls.as_ref().filter(|_| !final_hop);
            let dialed = dial_next(&next, &ctx.config.allow, ctx.config.connect_timeout, tls);
            match unless_cut(&ctx.cut, dialed).await {
                None => return reject("cut_at_drain"),
                Some(r) => r,
            }
        }
    };
    let (down, down_addr) = match dialed {
        Ok(d) => d,
        Err(status) => {
            let _ = answer(&mut up, &ctx.config.keys, &info, status, &ctx.rng).await;
            bump(&ctx.stats.failed);
            let end = status_label(status);
            connection_ended(MODE, listener, end, 0, 0);
            tracing::info!(
                target: "ferry::access",
                mode = MODE,
                client = %peer,
                hop = info.hop_index,
                next = %next,
                final_hop,
                status = %status,
                end,
                "connection"
            );
            return;
        }
    };
    if answer(&mut up, &ctx.config.keys, &info, Status::Ok, &ctx.rng)
        .await
        .is_err()
    {
        return reject("closed_early");
    }
    let session = Session::new().prefix_a_to_b(rest.into());
    let started = tokio::time::Instant::now();
    let Some(outcome) = unless_cut(&ctx.cut, relay(&ctx.bridge, up, down, session)).await else {
        return reject("cut_at_drain");
    };
    bump(&ctx.stats.relayed);
    ctx.stats
        .bytes_up
        .fetch_add(outcome.a_to_b, Ordering::Relaxed);
    ctx.stats
        .bytes_down
        .fetch_add(outcome.b_to_a, Ordering::Relaxed);
    let end = outcome.end.label();
    connection_ended(MODE, listener, end, outcome.a_to_b, outcome.b_to_a);
    tracing::info!(
        target: "ferry::access",
        mode = MODE,
        client = %peer,
        hop = info.hop_index,
        next = %next,
        upstream = %down_addr,
        final_hop,
        status = "ok",
        bytes_up = outcome.a_to_b,
        bytes_down = outcome.b_to_a,
        spliced = outcome.spliced,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        end,
        "connection"
    );
}

/// Runs `fut` unless `cut` fires first.
pub(crate) async fn unless_cut<F: Future>(cut: &CancellationToken, fut: F) -> Option<F::Output> {
    tokio::select! {
        () = cut.cancelled() => None,
        out = fut => Some(out),
    }
}
