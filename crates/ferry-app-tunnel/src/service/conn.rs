//! One service connection through the steps listed in the [module docs](super).

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_app_core::proxy_protocol::{self, AcceptProxy};
use ferry_bridge::{Counters, Session};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::{Inner, ServiceStats, Settings};
use crate::config::{ServiceConfig, gateway_allows};
use crate::front::UNTRUSTED_WHY;
use crate::opener::TunnelOpener;

/// The access-log line and the counters of one connection.
struct Done<'a> {
    config: &'a ServiceConfig,
    stats: &'a ServiceStats,
    peer: SocketAddr,
    started: Instant,
}

impl Done<'_> {
    fn log(&self, result: &'static str, end: &str, up: u64, down: u64, error: Option<&str>) {
        self.stats.count(result, up, down);
        self.stats
            .metrics
            .connection(&self.config.name, result, up, down);
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "ferry::access",
            service = %self.config.name,
            client = %self.peer,
            agent = self.config.agent.as_str(),
            destination = %self.config.destination,
            result,
            end,
            bytes_up = up,
            bytes_down = down,
            ms,
            error = error.unwrap_or("-"),
            "service"
        );
    }
}

/// A source outside `allow_from`, closed at accept.
pub(super) fn refused_source(config: &ServiceConfig, stats: &ServiceStats, peer: SocketAddr) {
    Done {
        config,
        stats,
        peer,
        started: Instant::now(),
    }
    .log("refused_source", "refused_source", 0, 0, None);
}

/// With `accept_proxy`: the client and the address it connected to, as the trusted peer's
/// PROXY header names them (the peer and `None` for a `LOCAL` header). Refused: the result
/// label and the error.
async fn from_balancer(
    cut: &tokio_util::sync::CancellationToken,
    tcp: &mut TcpStream,
    peer: SocketAddr,
    accept: &AcceptProxy,
) -> Result<(SocketAddr, Option<SocketAddr>), (&'static str, String)> {
    if !accept.trusts(peer.ip()) {
        return Err((proxy_protocol::UNTRUSTED, UNTRUSTED_WHY.to_owned()));
    }
    tokio::select! {
        () = cut.cancelled() => Err(("cut_at_drain", String::new())),
        r = proxy_protocol::accept(tcp, peer, accept) => {
            r.map_err(|e| (e.end(), ferry_app_core::error::error_line(&e)))
        }
    }
}

pub(super) async fn handle<O: TunnelOpener>(
    inner: &Inner<O>,
    settings: &Settings,
    stats: &ServiceStats,
    mut tcp: TcpStream,
    peer: SocketAddr,
) {
    let started = Instant::now();
    let _ = tcp.set_nodelay(true);
    let config = &settings.config;
    let mut done = Done {
        config,
        stats,
        peer,
        started,
    };
    let cut = inner.server.cut();
    let mut destination = None;
    if let Some(accept) = &config.accept_proxy {
        match Box::pin(from_balancer(cut, &mut tcp, peer, accept)).await {
            Ok((client, to)) => {
                done.peer = client;
                destination = to;
            }
            Err((result, why)) => {
                let error = (!why.is_empty()).then_some(why.as_str());
                return done.log(result, result, 0, 0, error);
            }
        }
        if !config.admits(done.peer.ip()) {
            return done.log("refused_source", "refused_source", 0, 0, None);
        }
    }
    let peer = done.peer;
    let now = Instant::now().into_std();
    let limiters = &settings.limiters;
    let source = limiters.source(peer.ip());
    if limiters.check_client_rate(source, now).is_err() {
        return done.log("client_rate_limited", "client_rate_limited", 0, 0, None);
    }
    let _permits = match limiters.admit(source, config.agent.as_str(), now) {
        Ok(p) => p,
        Err(_refused) => return done.log("limited", "limited", 0, 0, None),
    };
    // The gateway's allowlist of now (a reload may have narrowed it).
    let g = inner.front.generation();
    if !gateway_allows(
        &g.config.allow,
        &crate::destination::to_target(&config.destination),
    ) {
        return done.log("denied_by_gateway", "denied_by_gateway", 0, 0, None);
    }
    let open = inner
        .front
        .opener()
        .open(&config.agent, &config.destination, peer);
    let opened = tokio::select! {
        () = cut.cancelled() => return done.log("cut_at_drain", "cut_at_drain", 0, 0, None),
        r = timeout(g.config.open_timeout, open) => r,
    };
    let mut tunnel = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(failure)) => {
            let why = failure.to_string();
            return done.log(failure.label(), failure.label(), 0, 0, Some(&why));
        }
        Err(_elapsed) => return done.log("open_timeout", "open_timeout", 0, 0, None),
    };
    if let Some(version) = config.send_proxy {
        let written = match destination.map_or_else(|| tcp.local_addr(), Ok) {
            Ok(local) => {
                let header = proxy_protocol::header_for(version, peer, local);
                timeout(g.config.open_timeout, tunnel.write_all(&header))
                    .await
                    .map_err(|_elapsed| "timed out".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = written {
            return done.log(
                "proxy_header_failed",
                "proxy_header_failed",
                0,
                0,
                Some(&why),
            );
        }
    }
    let _active = stats.metrics.active(&config.name);
    let counters = Arc::new(Counters::new());
    let session = Session::new().counters(Arc::clone(&counters));
    let relay = settings.bridge.run(tcp, tunnel, session);
    let (up, down, end) = tokio::select! {
        () = cut.cancelled() => (counters.a_to_b(), counters.b_to_a(), "cut_at_drain"),
        outcome = relay => (outcome.a_to_b, outcome.b_to_a, outcome.end.label()),
    };
    done.log("ok", end, up, down, None);
}
