//! Checking a destination against the agent's allowlist and connecting to exactly the checked
//! address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_base::resolve::Resolver;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::wire::{DestHost, Destination, TunnelStatus};

/// Most resolved addresses tried, in the resolver's order.
const MAX_ADDRS: usize = 8;

/// Checks `dest` and connects within `timeout` (one deadline for resolution and connect).
///
/// A name is matched against the name rules before it is resolved (a denied name is never
/// looked up); it is resolved once, with `resolver`, and the addresses of that one answer are
/// checked with
/// [`Allowlist::check_resolved`] (special-address set included) and only addresses that
/// passed are dialled, in order, until one connects. An IP destination is checked with
/// [`Allowlist::check_ip`].
pub(crate) async fn dial(
    dest: &Destination,
    allowlist: &Allowlist,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> Result<TcpStream, TunnelStatus> {
    let deadline = Instant::now() + timeout;
    let port = dest.port.get();
    let addrs = checked(dest, allowlist, resolver, deadline).await?;
    let mut last = TunnelStatus::Failure;
    for ip in addrs {
        match timeout_at(deadline, TcpStream::connect(SocketAddr::new(ip, port))).await {
            Err(_elapsed) => return Err(TunnelStatus::Timeout),
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = status_of(&e),
        }
    }
    Err(last)
}

/// For a UDP tunnel: checks `dest` exactly as [`dial`] does (same allowlist, special-address
/// set, one resolution) and returns a UDP socket connected to the first address that passed
/// (a connected socket only receives datagrams from that address).
pub(crate) async fn connect_udp(
    dest: &Destination,
    allowlist: &Allowlist,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> Result<UdpSocket, TunnelStatus> {
    let deadline = Instant::now() + timeout;
    let addrs = checked(dest, allowlist, resolver, deadline).await?;
    let Some(ip) = addrs.first().copied() else {
        return Err(TunnelStatus::Denied);
    };
    let target = SocketAddr::new(ip, dest.port.get());
    let local: SocketAddr = if ip.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let connect = async {
        let socket = UdpSocket::bind(local).await?;
        socket.connect(target).await?;
        Ok::<_, io::Error>(socket)
    };
    match timeout_at(deadline, connect).await {
        Err(_elapsed) => Err(TunnelStatus::Timeout),
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(e)) => Err(status_of(&e)),
    }
}

/// The addresses `dest` may be reached at: its IP when the allowlist permits it, or the
/// permitted addresses of one resolution of its name (at most [`MAX_ADDRS`]).
async fn checked(
    dest: &Destination,
    allowlist: &Allowlist,
    resolver: &dyn Resolver,
    deadline: Instant,
) -> Result<Vec<IpAddr>, TunnelStatus> {
    let port = dest.port.get();
    Ok(match &dest.host {
        DestHost::Ip(ip) => {
            if !allowlist.check_ip(*ip, port).is_allowed() {
                return Err(TunnelStatus::Denied);
            }
            vec![*ip]
        }
        DestHost::Domain(name) => {
            if !allowlist.matches(name, port).is_allowed() {
                return Err(TunnelStatus::Denied);
            }
            let resolved: Vec<IpAddr> =
                match timeout_at(deadline, resolver.resolve(name, port)).await {
                    Err(_elapsed) => return Err(TunnelStatus::Timeout),
                    Ok(Err(_no_such_name)) => return Err(TunnelStatus::DnsFailure),
                    Ok(Ok(found)) => found.into_iter().map(|sa| sa.ip()).take(64).collect(),
                };
            if resolved.is_empty() {
                return Err(TunnelStatus::DnsFailure);
            }
            let decision = allowlist.check_resolved(name, port, &resolved);
            let allowed: Vec<IpAddr> = decision.allowed_addrs().take(MAX_ADDRS).collect();
            if allowed.is_empty() {
                return Err(TunnelStatus::Denied);
            }
            allowed
        }
    })
}

fn status_of(e: &io::Error) -> TunnelStatus {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TunnelStatus::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            TunnelStatus::Unreachable
        }
        io::ErrorKind::TimedOut => TunnelStatus::Timeout,
        _ => TunnelStatus::Failure,
    }
}
