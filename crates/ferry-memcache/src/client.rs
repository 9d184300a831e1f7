//! The async client: a small pool of connections, one request at a time on each, every
//! operation bounded by one timeout.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use ferry_base::resolve::SharedResolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::codec::{self, Meta, Parsed, Response, SetMode, Ttl};
use crate::error::{Error, ProtocolError};
use crate::key::Key;

/// Client settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Bound on a whole operation: waiting for a free connection, connecting if needed,
    /// writing the request and reading the response. Default 500 ms: a registry that does not
    /// answer quickly should fail fast, not hold clients.
    pub op_timeout: Duration,
    /// Most connections open at once (operations beyond wait, within `op_timeout`).
    /// Default 8.
    pub max_connections: NonZeroUsize,
    /// Largest value accepted in either direction. Default 64 KiB.
    pub max_value_size: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            op_timeout: Duration::from_millis(500),
            max_connections: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
            max_value_size: 64 * 1024,
        }
    }
}

/// An item read with [`Client::get`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// Its compare-and-swap token, for [`Client::compare_and_swap`] and
    /// [`Client::delete_if`].
    pub cas: u64,
    /// Time left before it expires; `None` when it does not expire.
    pub ttl: Option<Duration>,
}

/// What a store did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// Stored; `cas` is the new token when the server returned one.
    Stored {
        /// The item's new compare-and-swap token.
        cas: Option<u64>,
    },
    /// Not stored: the key exists ([`Client::add`]).
    NotStored,
    /// Not stored: the token did not match, someone changed the item.
    Exists,
    /// Not stored: the key does not exist (compare-and-swap on a missing key).
    NotFound,
}

/// What a delete did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deleted {
    /// The item is gone.
    Deleted,
    /// There was no such item.
    NotFound,
    /// Not deleted: the token did not match.
    Exists,
}

/// A memcached client for one server. Cheap to clone; clones share the connections.
///
/// Connections are opened on demand, up to [`ClientConfig::max_connections`], and kept for
/// reuse after a clean exchange. A connection that saw an error or a timeout is closed, never
/// reused, so a late answer can never be read as the answer to the next request.
///
/// The server is an address ([`Client::new`]) or a host name ([`Client::resolving`]). A name
/// is resolved when a connection is needed and the answer is kept while connections to it
/// succeed; when connecting to the kept addresses fails (refused, unreachable, or cut by the
/// operation timeout), the name is resolved again, within the same operation when time is
/// left, else at the next one. So a memcached replaced at a new address is found as soon as
/// the old one stops accepting connections. Open connections stay with the server they were
/// opened to until they fail.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    target: Target,
    /// `IP:PORT` or `host:PORT` (lowercase host): the server's name in logs and in
    /// [`Client::server`].
    name: String,
    config: ClientConfig,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

/// Where connections go.
#[derive(Debug)]
enum Target {
    Addr(SocketAddr),
    Name {
        host: String,
        port: u16,
        resolver: SharedResolver,
        /// The last answer, while connecting to it works (empty: resolve first).
        known: Mutex<Vec<SocketAddr>>,
    },
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    /// A client for the server at `addr`. Nothing is connected until the first operation.
    #[must_use]
    pub fn new(addr: SocketAddr, config: ClientConfig) -> Self {
        Self::with_target(Target::Addr(addr), addr.to_string(), config)
    }

    /// A client for the server `host:port`, `host` resolved through `resolver` when a
    /// connection is needed and again when connecting fails (see the type's documentation).
    /// An IP literal (`10.0.0.9`, `::1`, `[::1]`) is used as is, like [`Client::new`]. Nothing
    /// is resolved or connected until the first operation.
    #[must_use]
    pub fn resolving(
        host: &str,
        port: u16,
        resolver: SharedResolver,
        config: ClientConfig,
    ) -> Self {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Self::new(SocketAddr::new(ip, port), config);
        }
        let host = host.to_ascii_lowercase();
        let name = format!("{host}:{port}");
        let target = Target::Name {
            host,
            port,
            resolver,
            known: Mutex::new(Vec::new()),
        };
        Self::with_target(target, name, config)
    }

    fn with_target(target: Target, name: String, config: ClientConfig) -> Self {
        let permits = Semaphore::new(config.max_connections.get());
        Self {
            inner: Arc::new(Inner {
                target,
                name,
                config,
                idle: Mutex::new(Vec::new()),
                permits,
            }),
        }
    }

    /// The server's address when the client was made with one ([`Client::new`], or
    /// [`Client::resolving`] with an IP literal); `None` for a host name.
    #[must_use]
    pub fn addr(&self) -> Option<SocketAddr> {
        match self.inner.target {
            Target::Addr(addr) => Some(addr),
            Target::Name { .. } => None,
        }
    }

    /// The server as configured: `IP:PORT` (`[V6]:PORT`) or `host:PORT` with the host in
    /// lowercase.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.inner.name
    }

    /// Reads `key` with its token and remaining TTL; `None` on a miss.
    ///
    /// # Errors
    ///
    /// [`Error`] on connection failure, timeout or an unusable answer.
    pub async fn get(&self, key: &Key) -> Result<Option<Item>, Error> {
        let mut req = Vec::new();
        codec::encode_get(&mut req, key, true);
        match self.exchange(&req).await? {
            Response::Value { data, meta } => Ok(Some(Item {
                value: data,
                cas: meta.cas.ok_or(ProtocolError::Malformed)?,
                ttl: ttl_of(meta),
            })),
            Response::Miss => Ok(None),
            other => Err(unexpected(&other, "mg")),
        }
    }

    /// Stores `value` unconditionally.
    ///
    /// # Errors
    ///
    /// As [`Client::get`], and [`Error::ValueTooLarge`].
    pub async fn set(&self, key: &Key, value: &[u8], ttl: Ttl) -> Result<Stored, Error> {
        self.store(key, value, ttl, SetMode::Set, None).await
    }

    /// Stores `value` only if `key` does not exist ([`Stored::NotStored`] otherwise).
    ///
    /// # Errors
    ///
    /// As [`Client::set`].
    pub async fn add(&self, key: &Key, value: &[u8], ttl: Ttl) -> Result<Stored, Error> {
        self.store(key, value, ttl, SetMode::Add, None).await
    }

    /// Stores `value` only if the item's token is still `cas` ([`Stored::Exists`] if someone
    /// changed it, [`Stored::NotFound`] if it is gone).
    ///
    /// # Errors
    ///
    /// As [`Client::set`].
    pub async fn compare_and_swap(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Ttl,
        cas: u64,
    ) -> Result<Stored, Error> {
        self.store(key, value, ttl, SetMode::Set, Some(cas)).await
    }

    async fn store(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Ttl,
        mode: SetMode,
        cas: Option<u64>,
    ) -> Result<Stored, Error> {
        let limit = self.inner.config.max_value_size;
        if value.len() > limit {
            return Err(Error::ValueTooLarge {
                size: value.len(),
                limit,
            });
        }
        let mut req = Vec::with_capacity(value.len() + 64);
        codec::encode_set(&mut req, key, value, ttl, mode, cas);
        match self.exchange(&req).await? {
            Response::Done(meta) => Ok(Stored::Stored { cas: meta.cas }),
            Response::NotStored => Ok(Stored::NotStored),
            Response::Exists => Ok(Stored::Exists),
            Response::NotFound => Ok(Stored::NotFound),
            other => Err(unexpected(&other, "ms")),
        }
    }

    /// Deletes `key`.
    ///
    /// # Errors
    ///
    /// As [`Client::get`].
    pub async fn delete(&self, key: &Key) -> Result<Deleted, Error> {
        self.delete_with(key, None).await
    }

    /// Deletes `key` only if its token is still `cas`.
    ///
    /// # Errors
    ///
    /// As [`Client::get`].
    pub async fn delete_if(&self, key: &Key, cas: u64) -> Result<Deleted, Error> {
        self.delete_with(key, Some(cas)).await
    }

    async fn delete_with(&self, key: &Key, cas: Option<u64>) -> Result<Deleted, Error> {
        let mut req = Vec::new();
        codec::encode_delete(&mut req, key, cas);
        match self.exchange(&req).await? {
            Response::Done(_) => Ok(Deleted::Deleted),
            Response::NotFound => Ok(Deleted::NotFound),
            Response::Exists => Ok(Deleted::Exists),
            other => Err(unexpected(&other, "md")),
        }
    }

    /// Sets a new TTL on `key` without changing its value; `false` when it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Client::get`].
    pub async fn touch(&self, key: &Key, ttl: Ttl) -> Result<bool, Error> {
        let mut req = Vec::new();
        codec::encode_touch(&mut req, key, ttl);
        match self.exchange(&req).await? {
            Response::Done(_) => Ok(true),
            Response::Miss => Ok(false),
            other => Err(unexpected(&other, "mg")),
        }
    }

    /// A round trip that touches no data: a health check.
    ///
    /// # Errors
    ///
    /// As [`Client::get`].
    pub async fn noop(&self) -> Result<(), Error> {
        let mut req = Vec::new();
        codec::encode_noop(&mut req);
        match self.exchange(&req).await? {
            Response::Noop => Ok(()),
            other => Err(unexpected(&other, "mn")),
        }
    }

    /// Sends `req` and reads one response, all within the operation timeout.
    async fn exchange(&self, req: &[u8]) -> Result<Response, Error> {
        let inner = &*self.inner;
        tokio::time::timeout(inner.config.op_timeout, async {
            let _permit = inner
                .permits
                .acquire()
                .await
                .map_err(|closed| Error::Io(std::io::Error::other(closed)))?;
            let mut conn = match self.take_idle() {
                Some(conn) => conn,
                None => Conn {
                    stream: self.connect().await?,
                    buf: BytesMut::with_capacity(256),
                },
            };
            let _ = conn.stream.set_nodelay(true);
            conn.stream.write_all(req).await.map_err(Error::Io)?;
            let response = read_response(&mut conn, inner.config.max_value_size).await?;
            // Only a connection that finished a clean exchange goes back.
            if conn.buf.is_empty() {
                inner
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
            }
            Ok(response)
        })
        .await
        .map_err(|_elapsed| Error::Timeout)?
    }

    /// A new connection to the server; for a name, to the kept addresses or, when none is
    /// kept or none of them accepts, to a fresh answer.
    async fn connect(&self) -> Result<TcpStream, Error> {
        match &self.inner.target {
            Target::Addr(addr) => TcpStream::connect(addr).await.map_err(Error::Connect),
            Target::Name {
                host,
                port,
                resolver,
                known,
            } => self.connect_name(host, *port, resolver, known).await,
        }
    }

    async fn connect_name(
        &self,
        host: &str,
        port: u16,
        resolver: &SharedResolver,
        known: &Mutex<Vec<SocketAddr>>,
    ) -> Result<TcpStream, Error> {
        // Taken out, and put back only once a connection to one of them succeeded: an attempt
        // cut short by the operation timeout leaves nothing kept, so the next one resolves.
        let kept = std::mem::take(&mut *lock(known));
        let mut failed = None;
        if !kept.is_empty() {
            match connect_any(&kept).await {
                Ok(stream) => {
                    keep(known, kept);
                    return Ok(stream);
                }
                Err(e) => failed = Some(e),
            }
        }
        let fresh = resolver.resolve(host, port).await.map_err(Error::Resolve)?;
        if fresh.is_empty() {
            return Err(Error::Resolve(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no addresses",
            )));
        }
        if let Some(e) = failed
            && fresh == kept
        {
            return Err(e); // the same answer, just refused
        }
        tracing::debug!(server = %self.inner.name, addresses = ?fresh, "memcached name resolved");
        let stream = connect_any(&fresh).await?;
        keep(known, fresh);
        Ok(stream)
    }

    /// An idle connection the server has not closed meanwhile (an idle connection that is
    /// readable has either hit EOF or holds bytes nobody asked for: both are dropped).
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while let Some(conn) = idle.pop() {
            let mut probe = [0u8; 1];
            if let Err(e) = conn.stream.try_read(&mut probe)
                && e.kind() == std::io::ErrorKind::WouldBlock
            {
                return Some(conn);
            }
        }
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps `addrs` as the name's answer unless another operation kept a newer one meanwhile.
fn keep(known: &Mutex<Vec<SocketAddr>>, addrs: Vec<SocketAddr>) {
    let mut known = lock(known);
    if known.is_empty() {
        *known = addrs;
    }
}

/// Connects to the first of `addrs` that accepts, in order; the last error otherwise.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = std::io::Error::from(std::io::ErrorKind::AddrNotAvailable);
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(Error::Connect(last))
}

async fn read_response(conn: &mut Conn, max_value: usize) -> Result<Response, Error> {
    loop {
        if let Parsed::Complete { value, consumed } = codec::decode(&conn.buf, max_value)? {
            conn.buf.advance(consumed);
            return Ok(value);
        }
        if conn
            .stream
            .read_buf(&mut conn.buf)
            .await
            .map_err(Error::Io)?
            == 0
        {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

fn ttl_of(meta: Meta) -> Option<Duration> {
    meta.ttl
        .and_then(|t| u64::try_from(t).ok())
        .map(Duration::from_secs)
}

fn unexpected(response: &Response, command: &'static str) -> Error {
    Error::Protocol(ProtocolError::Unexpected {
        code: response.code(),
        command,
    })
}
