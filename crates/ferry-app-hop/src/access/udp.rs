//! Datagrams on access listeners: plain UDP listeners with a fixed destination, and SOCKS5
//! UDP ASSOCIATE. One flow per (client, destination), capped, expiring when idle; each flow
//! sends over the route's chains (first pick first, failing over: `udp_chain`) or directly.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ferry_chain::Address;
use ferry_front::socks5::{ReplyCode, decode_udp, encode_udp_header};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::app::AccessShared;
use super::chains::resolve;
use super::conn::{MODE, chain_address, unspecified};
use super::front::Socks5Request;
use super::{AccessCtx, ListenerRt, bump};
use crate::config::RouteAction;
use crate::metrics::datagram;

const BUF: usize = 65_536;
const FLOW_QUEUE: usize = 64;

/// Where a flow's replies go: the client's address, with `header` (a SOCKS5 UDP header, or
/// nothing) in front of each reply.
pub(super) struct ReplyTo {
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    header: Vec<u8>,
}

/// The flows of one listener or association.
struct Flows {
    map: HashMap<(SocketAddr, Address), mpsc::Sender<Vec<u8>>>,
    expired_tx: mpsc::UnboundedSender<(SocketAddr, Address)>,
    expired: mpsc::UnboundedReceiver<(SocketAddr, Address)>,
}

impl Flows {
    fn new() -> Self {
        let (expired_tx, expired) = mpsc::unbounded_channel();
        Self {
            map: HashMap::new(),
            expired_tx,
            expired,
        }
    }

    /// Sends `payload` on the flow of (`client`, `dest`), starting one when needed.
    fn send(
        &mut self,
        ctx: &Arc<AccessCtx>,
        l: &ListenerRt,
        dest: &Address,
        payload: Vec<u8>,
        reply: ReplyTo,
    ) {
        let mut item = payload;
        let key = (reply.client, dest.clone());
        if let Some(tx) = self.map.get(&key) {
            match tx.try_send(item) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    datagram(MODE, &l.name, "dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    self.map.remove(&key);
                    item = back;
                }
            }
        }
        if self.map.len() >= ctx.config.udp_max_flows.get() {
            datagram(MODE, &l.name, "dropped");
            return;
        }
        let (tx, rx) = mpsc::channel(FLOW_QUEUE);
        let _ = tx.try_send(item);
        self.map.insert(key.clone(), tx);
        let expired = self.expired_tx.clone();
        let ctx = Arc::clone(ctx);
        let name = l.name.clone();
        tokio::spawn(async move {
            flow(&ctx, &name, key.1.clone(), rx, reply).await;
            let _ = expired.send(key);
        });
    }
}

/// One flow: forwards the client's datagrams to `dest` and its replies back.
async fn flow(
    ctx: &AccessCtx,
    listener: &str,
    dest: Address,
    mut rx: mpsc::Receiver<Vec<u8>>,
    reply: ReplyTo,
) {
    let route = ctx.router.route(&dest);
    let idle = ctx.config.udp_idle_timeout;
    let mut buf = vec![0u8; BUF];
    match &route.action {
        RouteAction::Direct => {
            let Ok(Some(target)) = resolve(&dest, &*ctx.config.resolver)
                .await
                .map(|a| a.first().copied())
            else {
                return;
            };
            let local: SocketAddr = if target.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let Ok(sock) = UdpSocket::bind(local).await else {
                return;
            };
            if sock.connect(target).await.is_err() {
                return;
            }
            loop {
                let ev = tokio::time::timeout(idle, async {
                    tokio::select! {
                        m = rx.recv() => m.map(Ok),
                        r = sock.recv(&mut buf) => Some(Err(r)),
                    }
                })
                .await;
                match ev {
                    Err(_) | Ok(None) => return,
                    Ok(Some(Ok(payload))) => {
                        if sock.send(&payload).await.is_ok() {
                            datagram(MODE, listener, "forwarded");
                        }
                    }
                    Ok(Some(Err(Ok(n)))) => {
                        send_back(&reply, buf.get(..n).unwrap_or_default(), listener).await
                    }
                    Ok(Some(Err(Err(_)))) => {}
                }
            }
        }
        RouteAction::Chains(_) => {
            let order = route.chain_order();
            super::udp_chain::chain_flow(ctx, listener, &dest, &order, rx, &reply).await;
        }
        _ => {
            // Blocked: drop everything until idle.
            while let Ok(Some(_)) = tokio::time::timeout(idle, rx.recv()).await {
                datagram(MODE, listener, "dropped");
            }
        }
    }
}

pub(super) async fn send_back(reply: &ReplyTo, payload: &[u8], listener: &str) {
    let mut out = Vec::with_capacity(reply.header.len() + payload.len());
    out.extend_from_slice(&reply.header);
    out.extend_from_slice(payload);
    if reply.socket.send_to(&out, reply.client).await.is_ok() {
        datagram(MODE, listener, "replied");
    }
}

/// A plain UDP listener: every datagram to `destination`.
pub(crate) async fn udp_listener(
    socket: UdpSocket,
    destination: Address,
    shared: Arc<AccessShared>,
    index: usize,
) {
    let stop = shared.current.load().stop.clone();
    let socket = Arc::new(socket);
    let mut flows = Flows::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let (n, from) = tokio::select! {
            () = stop.cancelled() => return,
            Some(gone) = flows.expired.recv() => {
                flows.map.remove(&gone);
                continue;
            }
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
        };
        // The generation in force now; a new flow keeps it to its end.
        let ctx = shared.current.load_full();
        let Some(l) = ctx.listeners.get(index).cloned() else {
            continue;
        };
        bump(&ctx.stats.udp_datagrams);
        let payload = buf.get(..n).unwrap_or_default().to_vec();
        let socket = Arc::clone(&socket);
        flows.send(
            &ctx,
            &l,
            &destination,
            payload,
            ReplyTo {
                socket,
                client: from,
                header: Vec::new(),
            },
        );
    }
}

/// A SOCKS5 UDP ASSOCIATE: a relay socket for this client while its control connection
/// stays open.
pub(crate) async fn associate(
    mut control: TcpStream,
    mut req: Socks5Request,
    peer: SocketAddr,
    ctx: Arc<AccessCtx>,
    l: Arc<ListenerRt>,
) {
    let local_ip = control
        .local_addr()
        .map_or(Ipv4Addr::LOCALHOST.into(), |a| a.ip());
    let Ok(relay) = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await else {
        let _ = req
            .reply(&mut control, ReplyCode::GENERAL_FAILURE, &unspecified())
            .await;
        return;
    };
    let bound = relay
        .local_addr()
        .map_or_else(|_| unspecified(), ferry_front::Address::Ip);
    if req
        .reply(&mut control, ReplyCode::SUCCEEDED, &bound)
        .await
        .is_err()
    {
        return;
    }
    // The request's address only hints where the client will send from (RFC 1928): its host
    // is not trusted (clients send zeros, their address behind a NAT, or `0`), its port is
    // kept when given.
    let hinted_port = req.target.port();
    tracing::info!(target: "ferry::access", mode = MODE, listener = %l.name, client = %peer, relay = %bound, hinted_port, "udp association");
    let relay = Arc::new(relay);
    let mut flows = Flows::new();
    let mut buf = vec![0u8; BUF];
    let mut sink = [0u8; 256];
    loop {
        let (n, from) = tokio::select! {
            () = ctx.stop.cancelled() => return,
            r = control.read(&mut sink) => match r {
                Ok(0) | Err(_) => return, // the association ends with its control connection
                Ok(_) => continue,
            },
            Some(gone) = flows.expired.recv() => {
                flows.map.remove(&gone);
                continue;
            }
            r = relay.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
        };
        // Only the client that asked for the association may use it: the control connection's
        // address, and the hinted port when one was given.
        if from.ip() != peer.ip() || (hinted_port != 0 && from.port() != hinted_port) {
            datagram(MODE, &l.name, "dropped");
            continue;
        }
        let got = buf.get(..n).unwrap_or_default();
        let Ok(header) = decode_udp(got) else {
            datagram(MODE, &l.name, "dropped");
            continue;
        };
        let Some(dest) = chain_address(&header.target) else {
            datagram(MODE, &l.name, "dropped");
            continue;
        };
        let mut reply_header = Vec::with_capacity(32);
        if encode_udp_header(&header.target, &mut reply_header).is_err() {
            continue;
        }
        bump(&ctx.stats.udp_datagrams);
        let payload = got
            .get(header.payload_offset..)
            .unwrap_or_default()
            .to_vec();
        let socket = Arc::clone(&relay);
        flows.send(
            &ctx,
            &l,
            &dest,
            payload,
            ReplyTo {
                socket,
                client: from,
                header: reply_header,
            },
        );
    }
}
