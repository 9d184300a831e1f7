//! Dialling the proxy and the handshake that opens the tunnel.

use std::io;
use std::time::Duration;

use ferry_base::io::{Prefixed, ReadError, read_message};
use ferry_base::resolve::{self, SharedResolver};
use ferry_front::Address;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::{EgressError, EgressProxy, ProxyKind, http, socks5};

/// Default [`ConnectConfig::connect_timeout`]: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`ConnectConfig::handshake_timeout`]: 10 s (it includes the proxy's own connection
/// to the destination).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`ConnectConfig::max_head`]: 8 KiB.
pub const DEFAULT_MAX_HEAD: usize = ferry_front::http_connect::DEFAULT_MAX_HEAD;

/// A tunnel through the proxy: the TCP connection to the proxy, positioned after the
/// handshake, with any bytes the proxy sent after its reply served first.
pub type ProxiedStream = Prefixed<TcpStream>;

/// Timeouts, limits and the resolver for reaching a destination through a proxy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectConfig {
    /// Bound on resolving the proxy's name and connecting to it (every address, in the
    /// resolver's order). Default [`DEFAULT_CONNECT_TIMEOUT`] (5 s).
    pub connect_timeout: Duration,
    /// One deadline for the whole handshake once connected: resolving the destination
    /// (`socks5://` only), request, authentication, the proxy's connection to the
    /// destination, every reply. Default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`] (10 s).
    pub handshake_timeout: Duration,
    /// Largest HTTP reply head read from the proxy, in bytes. Default [`DEFAULT_MAX_HEAD`]
    /// (8192).
    pub max_head: usize,
    /// Resolves the proxy's name, and the destination's for `socks5://`. Default: the system
    /// resolver.
    pub resolver: SharedResolver,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_head: DEFAULT_MAX_HEAD,
            resolver: resolve::system(),
        }
    }
}

impl ConnectConfig {
    /// Sets [`ConnectConfig::connect_timeout`] (default 5 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets [`ConnectConfig::handshake_timeout`] (default 10 s).
    #[must_use]
    pub fn with_handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Sets [`ConnectConfig::max_head`] (default 8192 bytes).
    #[must_use]
    pub fn with_max_head(mut self, max: usize) -> Self {
        self.max_head = max;
        self
    }

    /// Sets [`ConnectConfig::resolver`] (default: the system resolver).
    #[must_use]
    pub fn with_resolver(mut self, resolver: SharedResolver) -> Self {
        self.resolver = resolver;
        self
    }
}

/// Connects to `proxy` and asks it for a tunnel to `target`: HTTP CONNECT (with Basic
/// credentials when the proxy has some), or the SOCKS5 greeting, username/password
/// authentication when the proxy has credentials, and CONNECT. Returns the connection
/// positioned right after the proxy's reply; bytes the proxy sent after it are read first.
///
/// Resolving and connecting are bounded by [`ConnectConfig::connect_timeout`], the handshake
/// by one [`ConnectConfig::handshake_timeout`], HTTP reply heads by
/// [`ConnectConfig::max_head`] (SOCKS5 messages are at most 262 bytes).
///
/// # Errors
///
/// [`EgressError`]: the proxy cannot be resolved or reached, a timeout, the proxy refused
/// (status or SOCKS5 reply code, authentication), or its reply is malformed.
pub async fn connect_via(
    proxy: &EgressProxy,
    target: &Address,
    config: &ConnectConfig,
) -> Result<ProxiedStream, EgressError> {
    let tcp = dial(proxy, config).await?;
    let _ = tcp.set_nodelay(true);
    handshake(tcp, proxy, target, config).await
}

/// The handshake of [`connect_via`] on a connection to the proxy the caller opened itself,
/// within [`ConnectConfig::handshake_timeout`].
///
/// # Errors
///
/// As [`connect_via`], after the connection.
pub async fn handshake<S>(
    stream: S,
    proxy: &EgressProxy,
    target: &Address,
    config: &ConnectConfig,
) -> Result<Prefixed<S>, EgressError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut io = Prefixed::new(bytes::Bytes::new(), stream);
    let exchange = async {
        match proxy.kind() {
            ProxyKind::Http => http::handshake(&mut io, proxy, target, config).await,
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                socks5::handshake(&mut io, proxy, target, config).await
            }
        }
    };
    match timeout(config.handshake_timeout, exchange).await {
        Ok(Ok(())) => Ok(io),
        Ok(Err(e)) => Err(e),
        Err(_elapsed) => Err(EgressError::HandshakeTimeout {
            proxy: proxy.url_without_credentials(),
            target: target.to_string(),
            after: config.handshake_timeout,
        }),
    }
}

async fn dial(proxy: &EgressProxy, config: &ConnectConfig) -> Result<TcpStream, EgressError> {
    let name = || proxy.url_without_credentials();
    let attempt = async {
        let addrs = match proxy.address() {
            Address::Ip(sa) => vec![*sa],
            Address::Domain(host, port) => {
                config
                    .resolver
                    .resolve(host, *port)
                    .await
                    .map_err(|source| EgressError::ResolveProxy {
                        proxy: name(),
                        source,
                    })?
            }
            // `Address` is non-exhaustive; every variant it has today is above.
            _ => Vec::new(),
        };
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last = Some((addr, e)),
            }
        }
        Err(match last {
            Some((addr, source)) => EgressError::Connect {
                proxy: name(),
                addr,
                source,
            },
            None => EgressError::ProxyNoAddress { proxy: name() },
        })
    };
    timeout(config.connect_timeout, attempt)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(EgressError::ConnectTimeout {
                proxy: name(),
                after: config.connect_timeout,
            })
        })
}

/// Writes `bytes` to the proxy.
pub(crate) async fn send<S: AsyncWrite + Unpin>(
    io: &mut S,
    bytes: &[u8],
    proxy: &EgressProxy,
) -> Result<(), EgressError> {
    let result = async {
        io.write_all(bytes).await?;
        io.flush().await
    };
    result.await.map_err(|source| io_error(proxy, source))
}

/// Reads one message with `parse` (at most `max` bytes), keeping what follows it as the
/// stream's prefix. `malformed` maps the parser's error.
pub(crate) async fn receive<S, T, E>(
    io: &mut Prefixed<S>,
    max: usize,
    proxy: &EgressProxy,
    parse: impl FnMut(&[u8]) -> Result<ferry_base::Parsed<T>, E>,
    malformed: impl FnOnce(E) -> EgressError,
) -> Result<T, EgressError>
where
    S: AsyncRead + Unpin,
{
    match read_message(io, max, parse).await {
        Ok((value, rest)) => {
            // The bytes read past the message come first, then any earlier prefix bytes the
            // read did not reach.
            let unread = io.prefix();
            if unread.is_empty() {
                io.set_prefix(rest);
            } else {
                let joined = [&rest[..], unread].concat();
                io.set_prefix(joined);
            }
            Ok(value)
        }
        Err(ReadError::Malformed(e)) => Err(malformed(e)),
        Err(ReadError::TooLarge { max }) => Err(EgressError::HeadTooLarge {
            proxy: proxy.url_without_credentials(),
            max,
        }),
        Err(ReadError::Eof { read }) => Err(EgressError::Closed {
            proxy: proxy.url_without_credentials(),
            read,
        }),
        Err(ReadError::Io(e)) => Err(io_error(proxy, e)),
        Err(_) => Err(io_error(proxy, io::ErrorKind::Other.into())),
    }
}

fn io_error(proxy: &EgressProxy, source: io::Error) -> EgressError {
    EgressError::Io {
        proxy: proxy.url_without_credentials(),
        source,
    }
}
