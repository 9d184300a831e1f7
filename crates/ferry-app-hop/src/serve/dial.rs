//! Connecting to a hop's next address: resolve, check every address against the allowlist
//! and the special-address set, connect only to a checked address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_base::resolve::Resolver;
use ferry_chain::{Address, Host, Status};
use tokio::net::TcpStream;

use ferry_app_core::stream::Stream;

/// Resolves `next` (a domain, once, with `resolver`) and returns the addresses of that answer
/// the allowlist allows, in resolver order. Callers connect only to these: the name is never
/// resolved again for the same request.
///
/// # Errors
///
/// The status to answer: [`Status::Denied`] (name or every address denied) or
/// [`Status::DnsFailure`].
pub(crate) async fn checked_addrs(
    next: &Address,
    allow: &Allowlist,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>, Status> {
    let port = next.port();
    let ip = match next.host() {
        Host::V4(ip) => IpAddr::V4(*ip),
        Host::V6(ip) => IpAddr::V6(*ip),
        Host::Domain(name) => {
            let name = name.as_str();
            if !allow.matches(name, port).is_allowed() {
                return Err(Status::Denied);
            }
            let resolved: Vec<IpAddr> = resolver
                .resolve(name, port)
                .await
                .map_err(|_resolve| Status::DnsFailure)?
                .into_iter()
                .map(|sa| sa.ip())
                .collect();
            if resolved.is_empty() {
                return Err(Status::DnsFailure);
            }
            let decision = allow.check_resolved(name, port, &resolved);
            let allowed: Vec<SocketAddr> = decision
                .allowed_addrs()
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if allowed.is_empty() {
                return Err(Status::Denied);
            }
            return Ok(allowed);
        }
    };
    if allow.check_ip(ip, port).is_allowed() {
        Ok(vec![SocketAddr::new(ip, port)])
    } else {
        Err(Status::Denied)
    }
}

/// Checks `next` and connects to the first checked address that accepts, all within
/// `timeout`.
///
/// # Errors
///
/// The status to answer the client with.
pub(crate) async fn dial(
    next: &Address,
    allow: &Allowlist,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), Status> {
    let attempt = async {
        let addrs = checked_addrs(next, allow, resolver).await?;
        let mut last = Status::Unreachable;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok((s, addr));
                }
                Err(e) => last = status_of(&e),
            }
        }
        Err(last)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(Status::Timeout))
}

/// [`dial`], then TLS with `tls` when given (towards a next hop), within the same `timeout`.
///
/// # Errors
///
/// The status to answer the client with; a failed TLS handshake is
/// [`Status::Unreachable`].
pub(crate) async fn dial_next(
    next: &Address,
    allow: &Allowlist,
    resolver: &dyn Resolver,
    timeout: Duration,
    tls: Option<&ferry_tls::TlsConnector>,
) -> Result<(Stream, SocketAddr), Status> {
    let deadline = tokio::time::Instant::now() + timeout;
    let (tcp, addr) = dial(next, allow, resolver, timeout).await?;
    let Some(connector) = tls else {
        return Ok((Stream::Plain(tcp), addr));
    };
    let name = match next.host() {
        Host::Domain(d) => d.as_str().to_owned(),
        _ => addr.ip().to_string(),
    };
    match tokio::time::timeout_at(deadline, connector.connect(&name, tcp)).await {
        Ok(Ok((stream, _info))) => Ok((Stream::Client(Box::new(stream)), addr)),
        Ok(Err(ferry_tls::HandshakeError::Certificate(refused))) => {
            let refused = refused.with_peer(format!("the next hop {next}"));
            tracing::warn!(next = %next, "tls to the next hop failed: {refused}");
            Err(Status::Unreachable)
        }
        Ok(Err(e)) => {
            tracing::info!(next = %next, error = %e, "tls to the next hop failed");
            Err(Status::Unreachable)
        }
        Err(_elapsed) => Err(Status::Timeout),
    }
}

/// The status for a failed connect.
pub(crate) fn status_of(e: &io::Error) -> Status {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Status::Refused,
        io::ErrorKind::TimedOut => Status::Timeout,
        _ => Status::Unreachable,
    }
}

/// The metrics / access-log label of a status.
pub(crate) fn status_label(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::DnsFailure => "dns_failure",
        Status::Refused => "refused",
        Status::Unreachable => "unreachable",
        Status::Timeout => "timeout",
        Status::Denied => "denied",
        Status::AuthFailure => "auth_failure",
        Status::ProtocolError => "malformed",
        Status::HopLimitExceeded => "hop_limit",
        _ => "other",
    }
}
