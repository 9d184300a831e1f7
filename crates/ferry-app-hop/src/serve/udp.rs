//! Datagram chains on a hop: a flow per client address (capped, expiring when idle), each with
//! its own socket towards the next address. Datagrams whose record does not authenticate get
//! no reply at all.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ferry_chain::udp::{UdpError, open_datagram, wrap_reply};
use ferry_chain::{Address, Flags, Keyring, OpenedRequest, RecordInfo, Status, random_nonce};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::conn::{ServeCtx, bump};
use super::dial::checked_addrs;
use super::hop::HopShared;
use crate::metrics::datagram;

const MODE: &str = "serve";
const LISTENER: &str = "serve";
/// Datagrams queued per flow while it resolves or sends; more are dropped.
const FLOW_QUEUE: usize = 64;
/// Receive buffer: the largest UDP payload.
const BUF: usize = 65_536;

/// Receives datagrams on `socket` until `stop`.
pub(crate) async fn udp_loop(
    socket: Arc<UdpSocket>,
    shared: Arc<HopShared>,
    stop: CancellationToken,
) {
    let mut flows: HashMap<SocketAddr, mpsc::Sender<Item>> = HashMap::new();
    let (expired_tx, mut expired) = mpsc::unbounded_channel::<SocketAddr>();
    let mut buf = vec![0u8; BUF];
    loop {
        let (n, from) = tokio::select! {
            () = stop.cancelled() => return,
            Some(gone) = expired.recv() => {
                flows.remove(&gone);
                continue;
            }
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue, // ICMP errors of earlier sends, truncation: per datagram
            },
        };
        // The generation in force now; a new flow keeps it to its end.
        let ctx = shared.current.load_full();
        let got = buf.get(..n).unwrap_or_default();
        let opened = {
            let mut g = ctx
                .guard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            open_datagram(got, &ctx.config.keys, ctx.config.clock.unix_ms(), &mut g)
        };
        let (opened, rest) = match opened {
            Ok(o) => o,
            Err(UdpError::Request(e)) => {
                match e.reply() {
                    Some((info, status)) => {
                        reply_status(&socket, &ctx, &ctx.config.keys, &info, status, from).await;
                    }
                    None => drop_one(&ctx), // no reply to what does not authenticate
                }
                continue;
            }
            Err(_) => {
                drop_one(&ctx);
                continue;
            }
        };
        let flags = opened.request.flags;
        if !flags.contains(Flags::UDP) {
            reply_status(
                &socket,
                &ctx,
                &ctx.config.keys,
                &opened.info,
                Status::ProtocolError,
                from,
            )
            .await;
            continue;
        }
        if !flags.contains(Flags::FINAL) && opened.request.hop_limit < 2 {
            reply_status(
                &socket,
                &ctx,
                &ctx.config.keys,
                &opened.info,
                Status::HopLimitExceeded,
                from,
            )
            .await;
            continue;
        }
        let mut item = (opened, rest.to_vec(), Arc::clone(&ctx.config.keys));
        if let Some(tx) = flows.get(&from) {
            match tx.try_send(item) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    drop_one(&ctx);
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    // The flow expired a moment ago: start a new one.
                    flows.remove(&from);
                    item = back;
                }
            }
        }
        if flows.len() >= ctx.config.udp_max_flows.get() {
            drop_one(&ctx);
            continue;
        }
        let (tx, rx) = mpsc::channel(FLOW_QUEUE);
        let _ = tx.try_send(item);
        flows.insert(from, tx);
        tokio::spawn(flow(
            from,
            Arc::clone(&socket),
            rx,
            Arc::clone(&ctx),
            expired_tx.clone(),
            stop.clone(),
        ));
    }
}

fn drop_one(ctx: &ServeCtx) {
    bump(&ctx.stats.udp_dropped);
    datagram(MODE, LISTENER, "dropped");
}

async fn reply_status(
    socket: &UdpSocket,
    ctx: &ServeCtx,
    keys: &Keyring,
    info: &RecordInfo,
    status: Status,
    to: SocketAddr,
) {
    bump(&ctx.stats.udp_refused);
    datagram(MODE, LISTENER, "refused");
    if let Some(out) = wrap(ctx, keys, info, status, &[]) {
        let _ = socket.send_to(&out, to).await;
    }
}

/// Wraps a reply with the key of `keys` the record was opened with (a flow's datagrams may
/// have been opened with the keys of a later reload than the flow's own).
fn wrap(
    ctx: &ServeCtx,
    keys: &Keyring,
    info: &RecordInfo,
    status: Status,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let key = keys.get(info.key_id)?;
    let nonce = random_nonce(&ctx.rng).ok()?;
    let mut out = Vec::with_capacity(ferry_chain::RESPONSE_RECORD_LEN + payload.len());
    wrap_reply(key, info, status, nonce, payload, &mut out).ok()?;
    Some(out)
}

/// One flow: forwards the client's datagrams to their next address and wraps the replies.
async fn flow(
    client: SocketAddr,
    up: Arc<UdpSocket>,
    mut rx: mpsc::Receiver<Item>,
    ctx: Arc<ServeCtx>,
    expired: mpsc::UnboundedSender<SocketAddr>,
    stop: CancellationToken,
) {
    let mut down: Option<UdpSocket> = None;
    let mut target: Option<(Address, SocketAddr)> = None;
    let mut latest: Option<(RecordInfo, Arc<Keyring>)> = None;
    let mut buf = vec![0u8; BUF];
    let idle = ctx.config.udp_idle_timeout;
    loop {
        let event = tokio::time::timeout(idle, async {
            tokio::select! {
                () = stop.cancelled() => Event::Stop,
                m = rx.recv() => m.map_or(Event::Stop, |(o, p, k)| Event::Out(o, p, k)),
                r = recv(down.as_ref(), &mut buf) => Event::Back(r),
            }
        })
        .await;
        match event {
            Err(_) | Ok(Event::Stop) => break,
            Ok(Event::Out(opened, payload, keys)) => {
                latest = Some((opened.info, Arc::clone(&keys)));
                let next = &opened.request.next;
                let addr = match &target {
                    Some((a, sa)) if a == next => *sa,
                    _ => {
                        let checked = tokio::time::timeout(
                            ctx.config.connect_timeout,
                            checked_addrs(next, &ctx.config.allow, &*ctx.config.resolver),
                        )
                        .await
                        .unwrap_or(Err(Status::Timeout));
                        match checked.map(|a| a.first().copied()) {
                            Ok(Some(sa)) => {
                                target = Some((next.clone(), sa));
                                sa
                            }
                            Ok(None) => {
                                reply_status(
                                    &up,
                                    &ctx,
                                    &keys,
                                    &opened.info,
                                    Status::Denied,
                                    client,
                                )
                                .await;
                                continue;
                            }
                            Err(status) => {
                                reply_status(&up, &ctx, &keys, &opened.info, status, client).await;
                                continue;
                            }
                        }
                    }
                };
                if down
                    .as_ref()
                    .and_then(|d| d.local_addr().ok())
                    .map(|l| l.is_ipv4())
                    != Some(addr.is_ipv4())
                {
                    let local: SocketAddr = if addr.is_ipv4() {
                        (Ipv4Addr::UNSPECIFIED, 0).into()
                    } else {
                        (Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    match UdpSocket::bind(local).await {
                        Ok(s) => down = Some(s),
                        Err(_) => {
                            reply_status(
                                &up,
                                &ctx,
                                &keys,
                                &opened.info,
                                Status::Unreachable,
                                client,
                            )
                            .await;
                            continue;
                        }
                    }
                }
                // Connected to the next address, so its ICMP errors come back as failed
                // receives (answered below) and replies from anyone else are not delivered.
                let Some(d) = &down else { continue };
                if d.peer_addr().ok() != Some(addr) && d.connect(addr).await.is_err() {
                    reply_status(&up, &ctx, &keys, &opened.info, Status::Unreachable, client).await;
                    continue;
                }
                match d.send(&payload).await {
                    Ok(_) => {
                        bump(&ctx.stats.udp_forwarded);
                        datagram(MODE, LISTENER, "forwarded");
                    }
                    // An ICMP error of an earlier datagram, reported on this send.
                    Err(e) => match icmp_status(&e) {
                        Some(status) => {
                            reply_status(&up, &ctx, &keys, &opened.info, status, client).await;
                        }
                        None => drop_one(&ctx),
                    },
                }
            }
            Ok(Event::Back(Ok((n, from)))) => {
                // Only replies from the address this flow sends to; anything else is dropped.
                let expected = target.as_ref().map(|(_, sa)| *sa);
                let (Some((info, keys)), true) = (&latest, expected == Some(from)) else {
                    drop_one(&ctx);
                    continue;
                };
                // A reply too large to carry this hop's response record is dropped.
                if let Some(out) = wrap(
                    &ctx,
                    keys,
                    info,
                    Status::Ok,
                    buf.get(..n).unwrap_or_default(),
                ) && up.send_to(&out, client).await.is_ok()
                {
                    datagram(MODE, LISTENER, "replied");
                } else {
                    drop_one(&ctx);
                }
            }
            Ok(Event::Back(Err(e))) => {
                // An ICMP error of an earlier send: the next address refused the datagram
                // (nothing listens there) or cannot be reached. Answered with the latest
                // record's status so that the client can move to another chain.
                if let (Some(status), Some((info, keys))) = (icmp_status(&e), &latest) {
                    reply_status(&up, &ctx, keys, info, status, client).await;
                }
            }
        }
    }
    let _ = expired.send(client);
}

/// The status answering an ICMP error reported on a flow's connected socket, if it is one.
fn icmp_status(e: &std::io::Error) -> Option<Status> {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Some(Status::Refused),
        std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
            Some(Status::Unreachable)
        }
        _ => None,
    }
}

/// A datagram for a flow: its opened record, its payload, and the keys it was opened with.
type Item = (OpenedRequest, Vec<u8>, Arc<Keyring>);

enum Event {
    Stop,
    Out(OpenedRequest, Vec<u8>, Arc<Keyring>),
    Back(std::io::Result<(usize, SocketAddr)>),
}

async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
