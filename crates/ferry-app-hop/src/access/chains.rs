//! Connecting to a destination over a route's chains with failover, or directly.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_base::resolve::Resolver;
use ferry_chain::client::{ClientConfig, ClientError, connect, handshake};
use ferry_chain::{Address, Host, Status};
use tokio::net::TcpStream;

use crate::config::ChainConfig;
use crate::metrics::failover;
use ferry_app_core::stream::Stream;

/// A connection made over a chain: hop 1's socket, bytes already read past the statuses,
/// and the chain's name.
pub(crate) struct Connected {
    pub(crate) stream: Stream,
    pub(crate) early: Vec<u8>,
    pub(crate) via: String,
    /// Chains that failed before this one.
    pub(crate) skipped: u64,
}

/// Every chain of `order` failed; the last error decides the reply.
#[derive(Debug)]
pub(crate) struct ChainsFailed {
    pub(crate) last: Option<(String, ClientError)>,
    pub(crate) tried: usize,
}

impl ChainsFailed {
    /// The status that best describes the failure (for the client's reply).
    pub(crate) fn status(&self) -> Option<Status> {
        self.last.as_ref().and_then(|(_, e)| match e {
            ClientError::Timeout { .. } => Some(Status::Timeout),
            e => e.status(),
        })
    }
}

/// Tries the chains in `order` until one reaches `destination`.
pub(crate) async fn connect_chains(
    chains: &[ChainConfig],
    order: &[usize],
    destination: &Address,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> Result<Connected, ChainsFailed> {
    let config = ClientConfig {
        handshake_timeout: timeout,
        ..ClientConfig::default()
    };
    let mut last = None;
    let mut tried = 0;
    for &i in order {
        let Some(c) = chains.get(i) else { continue };
        tried += 1;
        let attempt = match &c.tls {
            None => connect(&c.chain, destination, &config).await.map(|s| {
                let (tcp, early) = s.into_parts();
                (Stream::Plain(tcp), early.to_vec())
            }),
            Some(tls) => connect_tls(c, resolver, tls, destination, &config).await,
        };
        match attempt {
            Ok((stream, early)) => {
                return Ok(Connected {
                    stream,
                    early,
                    via: c.name.clone(),
                    skipped: u64::try_from(tried - 1).unwrap_or(u64::MAX),
                });
            }
            Err(e) => {
                tracing::debug!(chain = %c.name, error = %e, "chain failed, trying the next");
                failover(&c.name);
                last = Some((c.name.clone(), e));
            }
        }
    }
    Err(ChainsFailed { last, tried })
}

/// Connects to hop 1 over TLS and runs the chain handshake inside it, all within the
/// handshake timeout.
async fn connect_tls(
    c: &ChainConfig,
    resolver: &dyn Resolver,
    tls: &ferry_tls::TlsConnector,
    destination: &Address,
    config: &ClientConfig,
) -> Result<(Stream, Vec<u8>), ClientError> {
    let first = c.chain.first().ok_or(ClientError::Closed { hop: 1 })?;
    let attempt = async {
        let tcp = connect_direct(&first.address, resolver, config.handshake_timeout)
            .await
            .map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let name = match first.address.host() {
            Host::Domain(d) => d.as_str().to_owned(),
            _ => tcp
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        };
        let (mut stream, _info) = tls
            .connect(&name, tcp)
            .await
            .map_err(|e| ClientError::Connect(std::io::Error::other(e)))?;
        let early = handshake(&mut stream, &c.chain, destination, config).await?;
        Ok((Stream::Client(Box::new(stream)), early))
    };
    tokio::time::timeout(config.handshake_timeout, attempt)
        .await
        .unwrap_or(Err(ClientError::Timeout { hop: 1 }))
}

/// Resolves `destination` (a domain, with `resolver`).
pub(crate) async fn resolve(
    destination: &Address,
    resolver: &dyn Resolver,
) -> std::io::Result<Vec<SocketAddr>> {
    match (destination.socket_addr(), destination.host()) {
        (Some(sa), _) => Ok(vec![sa]),
        (None, Host::Domain(name)) => resolver.resolve(name.as_str(), destination.port()).await,
        (None, _) => Err(std::io::ErrorKind::InvalidInput.into()),
    }
}

/// Connects to `destination` directly (a name resolved once, with `resolver`), within
/// `timeout`.
pub(crate) async fn connect_direct(
    destination: &Address,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let attempt = async {
        let mut last = std::io::Error::from(std::io::ErrorKind::NotFound);
        for addr in resolve(destination, resolver).await? {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
