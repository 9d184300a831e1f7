//! One UDP tunnel at the agent: datagram frames from the gateway go out of a UDP socket
//! connected to the checked destination, datagrams from it go back as frames, until the
//! gateway finishes the stream, the flow is idle for `udp_idle_timeout`, or either side fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::{AGENT_BYTES, AGENT_UDP_DATAGRAMS};
use crate::stream::TunnelStream;
use crate::udp::{DatagramError, DatagramStream, write_datagram};
use crate::wire::MAX_DATAGRAM;

/// How a UDP tunnel ended, with its counts.
pub(super) struct UdpOutcome {
    pub(super) up: Counts,
    pub(super) down: Counts,
    pub(super) end: &'static str,
}

#[derive(Default)]
pub(super) struct Counts {
    pub(super) datagrams: u64,
    pub(super) bytes: u64,
}

impl Counts {
    fn add(&mut self, n: usize) {
        self.datagrams += 1;
        self.bytes += n as u64;
    }
}

/// Relays between `stream` and `socket` (see the module docs). A clean end (the gateway
/// finished, or idle) finishes the stream; an error resets it. Once `draining` is cancelled
/// the idle timeout is at most [`DRAIN_IDLE`](crate::udp::DRAIN_IDLE).
pub(super) async fn relay(
    mut stream: TunnelStream,
    socket: UdpSocket,
    idle: Duration,
    draining: &CancellationToken,
) -> UdpOutcome {
    let start = Instant::now();
    // Milliseconds since `start` of the last datagram either way.
    let last = AtomicU64::new(0);
    let touch = || {
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        last.store(ms, Ordering::Relaxed);
    };
    let mut up = Counts::default();
    let mut down = Counts::default();
    // Halves through the stream's own I/O, so that each direction waits on its own.
    let (recv, mut send) = tokio::io::split(&mut stream);
    let mut frames = DatagramStream::new(recv);
    let to_destination = async {
        loop {
            match frames.next().await {
                Ok(Some(d)) => {
                    touch();
                    // A send error (no route, refused by ICMP) loses this datagram only.
                    if socket.send(d).await.is_ok() {
                        up.add(d.len());
                    }
                }
                Ok(None) => return Ok("gateway_finished"),
                Err(e) => return Err(e),
            }
        }
    };
    let to_gateway = async {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut scratch = Vec::new();
        loop {
            // An error is ICMP's answer to an earlier datagram: the flow goes on.
            let Ok(n) = socket.recv(&mut buf).await else {
                continue;
            };
            touch();
            let d = buf.get(..n).unwrap_or_default();
            write_datagram(&mut send, d, &mut scratch).await?;
            down.add(n);
        }
    };
    let expiry = crate::udp::idle_expiry(start, &last, idle, draining);
    let result: Result<&'static str, DatagramError> = tokio::select! {
        r = to_destination => r,
        r = to_gateway => r,
        () = expiry => Ok("idle"),
    };
    drop(frames);
    drop(send);
    let end = match result {
        Ok(end) => {
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            end
        }
        Err(e) => {
            tracing::debug!(request = stream.request_id(), error = %e, "udp tunnel failed");
            stream.abort();
            e.label()
        }
    };
    for (direction, c) in [
        ("gateway_to_destination", &up),
        ("destination_to_gateway", &down),
    ] {
        if c.datagrams > 0 {
            metrics::counter!(AGENT_UDP_DATAGRAMS, "direction" => direction).increment(c.datagrams);
            metrics::counter!(AGENT_BYTES, "direction" => direction).increment(c.bytes);
        }
    }
    UdpOutcome { up, down, end }
}
