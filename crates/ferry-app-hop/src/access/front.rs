//! Async glue for the `ferry-front` sans-IO SOCKS5 and HTTP CONNECT servers: generic over
//! `AsyncRead + AsyncWrite`, one deadline for the whole request, a bounded buffer, and the
//! bytes a client sent after its request kept for the tunnel.
//!
//! ```
//! use std::time::Duration;
//! use ferry_app_hop::access::front::{HttpFront, http_reply};
//! use ferry_front::http_connect::Reply;
//! use tokio::io::AsyncWriteExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut client, mut server) = tokio::io::duplex(4096);
//! client.write_all(b"CONNECT example.com:443 HTTP/1.1\r\n\r\nearly bytes").await?;
//! let req = HttpFront::new(None).read_request(&mut server, Duration::from_secs(10)).await?;
//! assert_eq!(req.target.to_string(), "example.com:443");
//! assert_eq!(req.leftover, b"early bytes"); // forwarded after the reply, never lost
//! http_reply(&mut server, &Reply::Established).await?;
//! # Ok(()) }
//! ```

use ferry_base::io::{ReadError, read_message};
use std::time::Duration;

use ferry_front::Address;
use ferry_front::http_connect::{self, HttpError, HttpLimits, Reply};
use ferry_front::socks5::{AuthMode, Command, ReplyCode, ServerEvent, Socks5Error, Socks5Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::UserPass;

/// Most bytes buffered while reading a SOCKS5 exchange (its messages are at most 513 bytes;
/// an optimistic client may send greeting, auth, request and some data at once).
pub const SOCKS5_BUFFER: usize = 4096;

/// A local client's request could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontError {
    /// The client did not finish its request within the deadline.
    #[error("client did not send its request within {0:?}")]
    Timeout(Duration),
    /// The client closed (or reset) before its request was complete.
    #[error("client closed before its request was complete")]
    Closed,
    /// Reading from or writing to the client failed.
    #[error("i/o with the client failed")]
    Io(#[source] std::io::Error),
    /// The SOCKS5 exchange failed (the matching reply, if any, was sent).
    #[error("socks5")]
    Socks5(#[source] Socks5Error),
    /// The HTTP request was refused (the matching reply was sent).
    #[error("http connect")]
    Http(#[source] HttpError),
    /// The client's credentials are wrong or missing (the matching reply was sent).
    #[error("client credentials refused")]
    AuthFailed,
    /// SOCKS5 bytes buffered past [`SOCKS5_BUFFER`] without a complete message.
    #[error("client sent more than {0} bytes without a complete request")]
    TooLarge(usize),
}

impl FrontError {
    /// The access-log label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::AuthFailed => "auth_failed",
            Self::Timeout(_) => "handshake_timeout",
            _ => "handshake_failed",
        }
    }
}

/// A SOCKS5 request, read and (when required) authenticated; answer it with
/// [`Socks5Request::reply`].
#[derive(Debug)]
pub struct Socks5Request {
    server: Socks5Server,
    /// CONNECT or UDP ASSOCIATE.
    pub command: Command,
    /// The destination (CONNECT) or the client's UDP source (UDP ASSOCIATE).
    pub target: Address,
    /// Bytes the client sent after the request (tunnel data), in order.
    pub leftover: Vec<u8>,
}

impl Socks5Request {
    /// Sends the reply to the request with `code` and the bound address.
    ///
    /// # Errors
    ///
    /// The write's error.
    pub async fn reply<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        code: ReplyCode,
        bound: &Address,
    ) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(32);
        self.server
            .reply(code, bound, &mut out)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        io.write_all(&out).await
    }
}

/// Reads a SOCKS5 greeting, authentication (when `auth` is set) and request, within
/// `deadline`, answering the greeting and authentication as it goes.
///
/// # Errors
///
/// [`FrontError`]; error replies the protocol calls for are sent before it returns.
pub async fn socks5_request<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    auth: Option<&UserPass>,
    deadline: Duration,
) -> Result<Socks5Request, FrontError> {
    tokio::time::timeout(deadline, socks5_inner(io, auth))
        .await
        .unwrap_or(Err(FrontError::Timeout(deadline)))
}

async fn socks5_inner<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    auth: Option<&UserPass>,
) -> Result<Socks5Request, FrontError> {
    let mode = if auth.is_some() {
        AuthMode::UsernamePassword
    } else {
        AuthMode::NoAuth
    };
    let mut server = Socks5Server::new(mode);
    let mut buf = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(64);
    loop {
        out.clear();
        let step = server.receive(&buf, &mut out);
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                e.write_reply(&mut out);
                let _ = io.write_all(&out).await;
                return Err(FrontError::Socks5(e));
            }
        };
        buf.drain(..step.consumed);
        match step.event {
            Some(ServerEvent::Authenticate(creds)) => {
                let ok = auth.is_some_and(|a| a.matches(&creds.username, &creds.password));
                server
                    .accept_credentials(ok, &mut out)
                    .map_err(FrontError::Socks5)?;
                io.write_all(&out).await.map_err(FrontError::Io)?;
                if !ok {
                    return Err(FrontError::AuthFailed);
                }
                continue;
            }
            Some(ServerEvent::Request(req)) => {
                if !out.is_empty() {
                    io.write_all(&out).await.map_err(FrontError::Io)?;
                }
                return Ok(Socks5Request {
                    server,
                    command: req.command,
                    target: req.target,
                    leftover: buf,
                });
            }
            _ => {}
        }
        if !out.is_empty() {
            io.write_all(&out).await.map_err(FrontError::Io)?;
        }
        read_some(io, &mut buf, SOCKS5_BUFFER).await?;
    }
}

/// Appends what the client sends next to `buf`, keeping it at most `max` bytes.
async fn read_some<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), FrontError> {
    let room = max.saturating_sub(buf.len());
    if room == 0 {
        return Err(FrontError::TooLarge(max));
    }
    let start = buf.len();
    buf.resize(start + room.min(4096), 0);
    let n = io.read(buf.get_mut(start..).unwrap_or_default()).await;
    match n {
        Ok(0) | Err(_) => {
            buf.truncate(start);
            Err(FrontError::Closed)
        }
        Ok(n) => {
            buf.truncate(start + n);
            Ok(())
        }
    }
}

/// A CONNECT request, read and (when required) authenticated.
#[derive(Debug)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The destination.
    pub target: Address,
    /// Bytes the client sent after the head (tunnel data), in order.
    pub leftover: Vec<u8>,
}

/// Reads HTTP CONNECT requests.
#[derive(Debug, Clone)]
pub struct HttpFront {
    auth: Option<UserPass>,
    limits: HttpLimits,
    realm: String,
}

impl HttpFront {
    /// A front requiring `auth` (Basic) when set; head limit 8 KiB, realm `ferry`.
    #[must_use]
    pub fn new(auth: Option<UserPass>) -> Self {
        Self {
            auth,
            limits: HttpLimits::default(),
            realm: "ferry".to_owned(),
        }
    }

    /// Reads a CONNECT head within `deadline` and checks its credentials.
    ///
    /// # Errors
    ///
    /// [`FrontError`]; the error reply (400, 405, 407) is sent before it returns.
    pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        deadline: Duration,
    ) -> Result<HttpRequest, FrontError> {
        tokio::time::timeout(deadline, self.inner(io))
            .await
            .unwrap_or(Err(FrontError::Timeout(deadline)))
    }

    async fn inner<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
    ) -> Result<HttpRequest, FrontError> {
        let read = read_message(io, self.limits.max_head, |b| {
            http_connect::parse_request(b, &self.limits)
        })
        .await;
        let (request, leftover) = match read {
            Ok(done) => done,
            Err(ReadError::Malformed(e)) => {
                let reply = match e.status() {
                    405 => Reply::MethodNotAllowed,
                    _ => Reply::BadRequest,
                };
                let _ = http_reply(io, &reply).await;
                return Err(FrontError::Http(e));
            }
            Err(ReadError::TooLarge { max }) => return Err(FrontError::TooLarge(max)),
            // A read error is a client that went away, as a close is.
            Err(_) => return Err(FrontError::Closed),
        };
        if let Some(auth) = &self.auth {
            let ok = match request.proxy_authorization(&self.limits) {
                Ok(Some(c)) => auth.matches(&c.username, &c.password),
                Ok(None) | Err(_) => false,
            };
            if !ok {
                let _ = http_reply(io, &Reply::ProxyAuthRequired { realm: &self.realm }).await;
                return Err(FrontError::AuthFailed);
            }
        }
        Ok(HttpRequest {
            target: request.target,
            leftover: leftover.to_vec(),
        })
    }
}

/// Writes an HTTP reply.
///
/// # Errors
///
/// The write's error.
pub async fn http_reply<W: AsyncWrite + Unpin>(
    io: &mut W,
    reply: &Reply<'_>,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(128);
    reply
        .write(&mut out)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    io.write_all(&out).await
}

#[cfg(test)]
mod tests;
