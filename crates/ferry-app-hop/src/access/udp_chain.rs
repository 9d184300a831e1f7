//! A UDP flow over a route's chains, with failover.
//!
//! Datagram chains have no handshake: a hop answers only when something fails (a sealed
//! failing status in place of a reply) and hop 1's socket sees ICMP errors as failed
//! receives. The flow starts on the route's first pick; when a verified reply carries a
//! failing status (any hop), or hop 1's socket reports an error (nothing listens there), the
//! flow moves to the route's next chain and sends the last datagram again there. When every
//! chain has failed the flow ends; the client's next datagram starts a new one. A chain
//! that silently drops datagrams is not detected: the wire format has no probe and a
//! destination may legitimately never answer.

use std::sync::atomic::Ordering;

use ferry_chain::Address;
use ferry_chain::client::{ClientConfig, ClientError, UdpChain};
use tokio::sync::mpsc;

use super::AccessCtx;
use super::conn::MODE;
use super::udp::{ReplyTo, send_back};
use crate::metrics::{datagram, failover};

/// What ended a flow's time on one chain.
enum ChainEnd {
    /// The client's side went away or the flow was idle: the flow is over.
    Done,
    /// The chain failed: try the next one, resending `last` (the latest datagram sent).
    Failed {
        error: ClientError,
        last: Option<Vec<u8>>,
    },
}

/// Forwards `rx`'s datagrams to `dest` over the chains of `order` (indices into the config's
/// chains, first pick first) and sends the replies back through `reply`, until the flow is idle, its
/// sender is dropped, or every chain has failed.
pub(super) async fn chain_flow(
    ctx: &AccessCtx,
    listener: &str,
    dest: &Address,
    order: &[usize],
    mut rx: mpsc::Receiver<Vec<u8>>,
    reply: &ReplyTo,
) {
    let mut pending: Option<Vec<u8>> = None;
    for &i in order {
        let Some(chain) = ctx.config.chains.get(i) else {
            continue;
        };
        let end = match UdpChain::bind(chain.chain.clone(), ClientConfig::default()).await {
            Ok(udp) => on_chain(ctx, listener, dest, &udp, &mut rx, pending.take(), reply).await,
            Err(error) => ChainEnd::Failed {
                error,
                last: pending.take(),
            },
        };
        match end {
            ChainEnd::Done => return,
            ChainEnd::Failed { error, last } => {
                tracing::info!(
                    listener,
                    destination = %dest,
                    chain = %chain.name,
                    error = %ferry_app_core::error::error_line(&error),
                    "udp flow: chain failed, moving to the next"
                );
                failover(&chain.name);
                ctx.stats.failovers.fetch_add(1, Ordering::Relaxed);
                pending = last;
            }
        }
    }
    // Every chain failed: the flow ends (datagrams still queued are dropped) and the
    // client's next datagram starts a new flow with a new first pick.
    if pending.is_some() {
        datagram(MODE, listener, "dropped");
    }
    drop(rx);
}

/// Relays over one chain until the flow ends or the chain fails; `resend` goes first.
async fn on_chain(
    ctx: &AccessCtx,
    listener: &str,
    dest: &Address,
    udp: &UdpChain,
    rx: &mut mpsc::Receiver<Vec<u8>>,
    resend: Option<Vec<u8>>,
    reply: &ReplyTo,
) -> ChainEnd {
    let mut last: Option<Vec<u8>> = None;
    if let Some(payload) = resend {
        if let Err(error) = udp.send_to(dest, &payload).await {
            return ChainEnd::Failed {
                error,
                last: Some(payload),
            };
        }
        datagram(MODE, listener, "forwarded");
        last = Some(payload);
    }
    let mut buf = vec![0u8; ferry_chain::udp::MAX_DATAGRAM];
    loop {
        let ev = tokio::time::timeout(ctx.config.udp_idle_timeout, async {
            tokio::select! {
                m = rx.recv() => m.map(Ok),
                r = udp.recv(&mut buf) => Some(Err(r)),
            }
        })
        .await;
        match ev {
            Err(_) | Ok(None) => return ChainEnd::Done, // idle, or the flow is gone
            Ok(Some(Ok(payload))) => match udp.send_to(dest, &payload).await {
                Ok(()) => {
                    datagram(MODE, listener, "forwarded");
                    last = Some(payload);
                }
                Err(ClientError::TooLarge { .. } | ClientError::Seal(_)) => {
                    datagram(MODE, listener, "dropped"); // this datagram's fault, not the chain's
                }
                Err(error) => {
                    return ChainEnd::Failed {
                        error,
                        last: Some(payload),
                    };
                }
            },
            Ok(Some(Err(Ok(n)))) => {
                send_back(reply, buf.get(..n).unwrap_or_default(), listener).await
            }
            Ok(Some(Err(Err(error)))) => return ChainEnd::Failed { error, last },
        }
    }
}
