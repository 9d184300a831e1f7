//! UDP services: one socket per service, a flow table keyed by the client's address, one
//! tunnel per flow ([`TunnelOpener::open_udp`]) carrying datagram frames.
//!
//! A datagram, in order (the first step that refuses drops it, counted in
//! `ferry_gateway_service_udp_dropped_total{reason}`; nothing is ever sent back for a dropped
//! datagram, so the port cannot be used to amplify traffic):
//!
//! 1. longer than [`MAX_DATAGRAM`] (an IPv6 datagram can be): `too_large`;
//! 2. from a client address with a live flow: queued to it (at most [`FLOW_QUEUE`] datagrams
//!    and [`FLOW_QUEUE_BYTES`] bytes waiting, else `queue_full`);
//! 3. a new client address: `allow_from` (`refused_source`), the service closing (removed at
//!    a reload, or the gateway draining: `closing`), `max_flows` (`flow_cap`: live flows are not
//!    affected), the per-source new-flow rate (`client_rate_limited`), the per-source,
//!    per-agent and total concurrency (`limited`), the gateway's `allow` (`denied_by_gateway`);
//!    then a flow starts with the datagram queued.
//!
//! A flow opens its tunnel within the gateway's `timeouts.open`; if that fails, the flow stays
//! in the table dropping its client's datagrams (`open_failed`) until it has been idle for
//! `idle_timeout`, so a failing destination costs one open per client and idle period, not
//! one per datagram. An open flow relays both ways and ends when it has been idle for
//! `idle_timeout` (the gateway finishes the stream), when the agent ends it (its own idle
//! timeout, or an error), or at the drain's cut. Each flow ends with one access-log line
//! (target `ferry::access`, message `service`, `protocol=udp`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use ferry_tunnel::MAX_DATAGRAM;
use ferry_tunnel::udp::{DatagramStream, write_datagram};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use super::{Inner, ServiceStats, Settings};
use crate::config::gateway_allows;
use crate::opener::TunnelOpener;

/// Datagrams waiting for one flow's tunnel, at most.
pub const FLOW_QUEUE: usize = 64;
/// Bytes waiting for one flow's tunnel, at most (so a flow holds at most this much besides one
/// frame of read buffer).
pub const FLOW_QUEUE_BYTES: usize = 256 * 1024;
/// Once the gateway drains, a flow ends when it has been idle this long (or its idle timeout,
/// if shorter): a flow has no connection to keep, only replies in flight.
pub const DRAIN_IDLE: Duration = ferry_tunnel::udp::DRAIN_IDLE;

/// A live flow, as the socket's loop sees it.
struct FlowHandle {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// The socket's loop: reads datagrams, keeps the flow table. Ends at the drain's cut, or once
/// the service is closing (removed, or the gateway draining) and its last flow has ended.
pub(super) async fn serve<O: TunnelOpener>(
    inner: Arc<Inner<O>>,
    settings: Arc<ArcSwap<Settings>>,
    stats: Arc<ServiceStats>,
    socket: UdpSocket,
    until: CancellationToken,
) {
    let socket = Arc::new(socket);
    let stopping = inner.server.stopping().clone();
    let cut = inner.server.cut().clone();
    let mut flows: HashMap<SocketAddr, FlowHandle> = HashMap::new();
    let (ended_tx, mut ended) = mpsc::unbounded_channel::<SocketAddr>();
    // One byte more than the largest datagram carried, to see the longer ones.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut closing = false;
    let name = settings.load().config.name.clone();
    let gauge = metrics::gauge!("ferry_gateway_service_udp_flows", "service" => name.clone());
    loop {
        if closing && flows.is_empty() {
            break;
        }
        let (n, from) = tokio::select! {
            () = cut.cancelled() => break,
            () = stopping.cancelled(), if !closing => { closing = true; continue; }
            () = until.cancelled(), if !closing => { closing = true; continue; }
            Some(gone) = ended.recv() => {
                if flows.get(&gone).is_some_and(|f| f.tx.is_closed()) {
                    flows.remove(&gone);
                }
                set_flows(&stats, &gauge, flows.len());
                continue;
            }
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // An ICMP error for an earlier reply, or a transient failure.
                Err(_) => continue,
            },
        };
        stats.datagram_in(n);
        if n > MAX_DATAGRAM {
            drop_datagram(&stats, &name, "too_large");
            continue;
        }
        let payload = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(flow) = flows.get(&from) {
            match enqueue(flow, payload) {
                Ok(()) => continue,
                Err(Some(reason)) => {
                    drop_datagram(&stats, &name, reason);
                    continue;
                }
                // The flow is ending: a new one starts below.
                Err(None) => {
                    flows.remove(&from);
                    let payload = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    new_flow(
                        &inner, &settings, &stats, &socket, &mut flows, &ended_tx, closing, from,
                        payload,
                    );
                }
            }
        } else {
            new_flow(
                &inner, &settings, &stats, &socket, &mut flows, &ended_tx, closing, from, payload,
            );
        }
        set_flows(&stats, &gauge, flows.len());
    }
    set_flows(&stats, &gauge, 0);
    tracing::debug!(service = %name, "udp service socket closed");
}

fn set_flows(stats: &ServiceStats, gauge: &metrics::Gauge, n: usize) {
    stats.flows.store(n, Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    gauge.set(n as f64);
}

fn drop_datagram(stats: &ServiceStats, service: &str, reason: &'static str) {
    stats.dropped(reason);
    metrics::counter!(
        "ferry_gateway_service_udp_dropped_total",
        "service" => service.to_owned(),
        "reason" => reason
    )
    .increment(1);
}

/// Queues `payload` on `flow`: `Err(Some(reason))` dropped, `Err(None)` the flow has ended.
fn enqueue(flow: &FlowHandle, payload: Bytes) -> Result<(), Option<&'static str>> {
    let n = payload.len();
    if flow.queued.load(Ordering::Relaxed) + n > FLOW_QUEUE_BYTES {
        return Err(Some("queue_full"));
    }
    flow.queued.fetch_add(n, Ordering::Relaxed);
    match flow.tx.try_send(payload) {
        Ok(()) => Ok(()),
        Err(e) => {
            flow.queued.fetch_sub(n, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => Err(Some("queue_full")),
                mpsc::error::TrySendError::Closed(_) => Err(None),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn new_flow<O: TunnelOpener>(
    inner: &Arc<Inner<O>>,
    settings: &Arc<ArcSwap<Settings>>,
    stats: &Arc<ServiceStats>,
    socket: &Arc<UdpSocket>,
    flows: &mut HashMap<SocketAddr, FlowHandle>,
    ended: &mpsc::UnboundedSender<SocketAddr>,
    closing: bool,
    from: SocketAddr,
    payload: Bytes,
) {
    // The settings of now; the flow keeps them to its end.
    let s = settings.load_full();
    let config = &s.config;
    let refused = |reason| drop_datagram(stats, &config.name, reason);
    if !config.admits(from.ip()) {
        tracing::debug!(service = %config.name, client = %from, "udp datagram from a source outside allow_from dropped");
        return refused("refused_source");
    }
    if closing {
        return refused("closing");
    }
    if flows.len() >= config.max_flows.get() {
        return refused("flow_cap");
    }
    let now = Instant::now().into_std();
    let source = s.limiters.source(from.ip());
    if s.limiters.check_client_rate(source, now).is_err() {
        return refused("client_rate_limited");
    }
    let Ok(permits) = s.limiters.admit(source, config.agent.as_str(), now) else {
        return refused("limited");
    };
    let g = inner.front.generation();
    if !gateway_allows(
        &g.config.allow,
        &crate::destination::to_target(&config.destination),
    ) {
        return refused("denied_by_gateway");
    }
    let (tx, rx) = mpsc::channel(FLOW_QUEUE);
    let queued = Arc::new(AtomicUsize::new(payload.len()));
    if tx.try_send(payload).is_err() {
        return;
    }
    flows.insert(
        from,
        FlowHandle {
            tx,
            queued: Arc::clone(&queued),
        },
    );
    let flow = Flow {
        inner: Arc::clone(inner),
        settings: s,
        stats: Arc::clone(stats),
        socket: Arc::clone(socket),
        client: from,
        queued,
        open_timeout: g.config.open_timeout,
    };
    let ended = ended.clone();
    inner.server.spawn_connection(async move {
        flow.run(rx).await;
        drop(permits);
        let _ = ended.send(from);
    });
}

/// One flow's task.
struct Flow<O> {
    inner: Arc<Inner<O>>,
    settings: Arc<Settings>,
    stats: Arc<ServiceStats>,
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    queued: Arc<AtomicUsize>,
    open_timeout: Duration,
}

/// Datagrams and bytes one way.
#[derive(Default)]
struct Counts {
    datagrams: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    fn add(&self, n: usize) {
        self.datagrams.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (
            self.datagrams.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl<O: TunnelOpener> Flow<O> {
    async fn run(self, mut rx: mpsc::Receiver<Bytes>) {
        let started = Instant::now();
        let config = &self.settings.config;
        let idle = config.flow_idle_timeout;
        let cut = self.inner.server.cut().clone();
        let up = Counts::default();
        let down = Counts::default();
        let open =
            self.inner
                .front
                .opener()
                .open_udp(&config.agent, &config.destination, self.client);
        let opened = tokio::select! {
            () = cut.cancelled() => return self.log(started, "cut_at_drain", "cut_at_drain", &up, &down, None),
            r = timeout(self.open_timeout, open) => r,
        };
        let failure = match opened {
            Ok(Ok(stream)) => {
                let _active = self.stats.metrics.active(&config.name);
                let end = self.relay(stream, &mut rx, &cut, idle, &up, &down).await;
                return self.log(started, "ok", end, &up, &down, None);
            }
            Ok(Err(failure)) => (failure.label(), failure.to_string()),
            Err(_elapsed) => ("open_timeout", "tunnel did not open in time".to_owned()),
        };
        // Hold the flow, dropping its datagrams, until it is idle: one open per idle period.
        let mut dropped = 0u64;
        let draining = self.inner.server.stopping();
        loop {
            let limit = if draining.is_cancelled() {
                idle.min(DRAIN_IDLE)
            } else {
                idle
            };
            tokio::select! {
                () = cut.cancelled() => break,
                () = draining.cancelled(), if !draining.is_cancelled() => continue,
                r = timeout(limit, rx.recv()) => match r {
                    Ok(Some(d)) => {
                        self.queued.fetch_sub(d.len(), Ordering::Relaxed);
                        dropped += 1;
                    }
                    Ok(None) | Err(_) => break,
                },
            }
        }
        rx.close();
        while rx.try_recv().is_ok() {
            dropped += 1;
        }
        for _ in 0..dropped {
            drop_datagram(&self.stats, &config.name, "open_failed");
        }
        self.log(started, failure.0, failure.0, &up, &down, Some(&failure.1));
    }

    /// Relays until idle, the agent's end, an error or the cut; returns the end label.
    async fn relay<S>(
        &self,
        stream: S,
        rx: &mut mpsc::Receiver<Bytes>,
        cut: &CancellationToken,
        idle: Duration,
        up: &Counts,
        down: &Counts,
    ) -> &'static str
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        let start = Instant::now();
        let last = AtomicU64::new(0);
        let touch = || {
            let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            last.store(ms, Ordering::Relaxed);
        };
        let (recv, mut send) = tokio::io::split(stream);
        let mut frames = DatagramStream::new(recv);
        let service = self.settings.config.name.as_str();
        let to_agent = async {
            let mut scratch = Vec::new();
            while let Some(d) = rx.recv().await {
                self.queued.fetch_sub(d.len(), Ordering::Relaxed);
                touch();
                write_datagram(&mut send, &d, &mut scratch).await?;
                up.add(d.len());
                udp_datagram(service, "client_to_agent");
            }
            Ok("closed")
        };
        let to_client = async {
            loop {
                match frames.next().await? {
                    Some(d) => {
                        touch();
                        if self.socket.send_to(d, self.client).await.is_ok() {
                            down.add(d.len());
                            self.stats.datagram_out(d.len());
                            udp_datagram(service, "agent_to_client");
                        }
                    }
                    None => return Ok("agent_finished"),
                }
            }
        };
        let draining = self.inner.server.stopping();
        let expiry = ferry_tunnel::udp::idle_expiry(start, &last, idle, draining);
        let result: Result<&'static str, ferry_tunnel::udp::DatagramError> = tokio::select! {
            () = cut.cancelled() => Ok("cut_at_drain"),
            r = to_agent => r,
            r = to_client => r,
            () = expiry => Ok("idle"),
        };
        match result {
            // A clean end finishes the stream (a truncated one, or an error, resets it on drop).
            Ok(end @ ("idle" | "closed" | "agent_finished")) => {
                let mut stream = frames.into_inner().unsplit(send);
                let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
                if end == "closed" { "closing" } else { end }
            }
            Ok(end) => end,
            Err(e) => {
                tracing::debug!(service, client = %self.client, error = %e, "udp flow failed");
                e.label()
            }
        }
    }

    fn log(
        &self,
        started: Instant,
        result: &'static str,
        end: &str,
        up: &Counts,
        down: &Counts,
        error: Option<&str>,
    ) {
        let config = &self.settings.config;
        let (up_n, up_b) = up.get();
        let (down_n, down_b) = down.get();
        self.stats.count(result, up_b, down_b);
        self.stats
            .metrics
            .connection(&config.name, result, up_b, down_b);
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "ferry::access",
            service = %config.name,
            protocol = "udp",
            client = %self.client,
            agent = config.agent.as_str(),
            destination = %config.destination,
            result,
            end,
            datagrams_up = up_n,
            bytes_up = up_b,
            datagrams_down = down_n,
            bytes_down = down_b,
            ms,
            error = error.unwrap_or("-"),
            "service"
        );
    }
}

fn udp_datagram(service: &str, direction: &'static str) {
    metrics::counter!(
        "ferry_gateway_service_udp_datagrams_total",
        "service" => service.to_owned(),
        "direction" => direction
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn handle(cap: usize) -> (FlowHandle, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(cap);
        let queued = Arc::new(AtomicUsize::new(0));
        (FlowHandle { tx, queued }, rx)
    }

    #[test]
    fn a_flow_queue_is_bounded_in_bytes_and_in_datagrams() {
        let (flow, _rx) = handle(FLOW_QUEUE);
        let big = Bytes::from(vec![0u8; MAX_DATAGRAM]);
        // 256 KiB hold four of the largest datagrams, not five.
        for _ in 0..4 {
            enqueue(&flow, big.clone()).unwrap();
        }
        assert_eq!(enqueue(&flow, big), Err(Some("queue_full")));
        assert_eq!(flow.queued.load(Ordering::Relaxed), 4 * MAX_DATAGRAM);
        // Small datagrams: the count bounds them.
        let (flow, _rx2) = handle(FLOW_QUEUE);
        for _ in 0..FLOW_QUEUE {
            enqueue(&flow, Bytes::from_static(b"x")).unwrap();
        }
        assert_eq!(
            enqueue(&flow, Bytes::from_static(b"x")),
            Err(Some("queue_full"))
        );
        assert_eq!(flow.queued.load(Ordering::Relaxed), FLOW_QUEUE);
        // The flow's task has ended: the caller starts a new flow.
        let (closed, rx3) = handle(1);
        drop(rx3);
        assert_eq!(enqueue(&closed, Bytes::from_static(b"x")), Err(None));
        assert_eq!(closed.queued.load(Ordering::Relaxed), 0);
    }
}
