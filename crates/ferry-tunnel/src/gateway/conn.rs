//! An authenticated agent connection on either transport, as the gateway holds it.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::halves::{RecvHalf, SendHalf};
use crate::quic::QuicSettings;
use crate::tcp::stream::{H2Recv, H2Send, io_error};
use crate::tcp::{self, AUTHORITY, CLOSE_CODE, CLOSE_LINGER, CLOSE_PATH, CLOSE_REASON};
use crate::transport::TransportKind;

/// A live agent connection.
#[derive(Clone, Debug)]
pub(crate) enum Conn {
    Quic(quinn::Connection),
    Tcp(TcpConn),
}

impl Conn {
    pub(crate) fn remote_address(&self) -> SocketAddr {
        match self {
            Self::Quic(c) => c.remote_address(),
            Self::Tcp(c) => c.shared.remote,
        }
    }

    pub(crate) fn transport(&self) -> TransportKind {
        match self {
            Self::Quic(_) => TransportKind::Quic,
            Self::Tcp(_) => TransportKind::Tcp,
        }
    }

    /// Closes the connection with a close code (on TCP: a close notice, then the connection
    /// is closed).
    pub(crate) fn close(&self, code: u32, reason: &'static [u8]) {
        match self {
            Self::Quic(c) => c.close(code.into(), reason),
            Self::Tcp(c) => c.close(code, reason),
        }
    }

    /// Completes when the connection has ended.
    pub(crate) async fn closed(&self) {
        match self {
            Self::Quic(c) => {
                c.closed().await;
            }
            Self::Tcp(c) => c.shared.ended.cancelled().await,
        }
    }

    /// Why the connection ended, as text (empty while it is live).
    pub(crate) fn close_reason(&self) -> String {
        match self {
            Self::Quic(c) => c.close_reason().map(|r| r.to_string()).unwrap_or_default(),
            Self::Tcp(c) => c
                .shared
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Opens a tunnel stream. On TCP the receive half first waits for the agent's response
    /// headers.
    pub(crate) async fn open_bi(&self) -> io::Result<(SendHalf, RecvHalf)> {
        match self {
            Self::Quic(c) => {
                let (send, recv) = c.open_bi().await.map_err(io::Error::from)?;
                Ok((SendHalf::Quic(send), RecvHalf::Quic(recv)))
            }
            Self::Tcp(c) => {
                let mut ready = c.send.clone().ready().await.map_err(io_error)?;
                // The URI parsed once, not formatted and parsed per tunnel.
                let mut request = http::Request::new(());
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = tcp::tunnel_uri();
                let (response, send) = ready.send_request(request, false).map_err(io_error)?;
                Ok((
                    SendHalf::Tcp(H2Send::new(send)),
                    RecvHalf::Tcp(H2Recv::Pending(response)),
                ))
            }
        }
    }
}

/// The gateway's handle on an agent's TCP-transport connection (an HTTP/2 client whose
/// connection is driven by [`drive`]).
#[derive(Clone)]
pub(crate) struct TcpConn {
    send: SendRequest<Bytes>,
    shared: Arc<TcpShared>,
}

impl std::fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConn")
            .field("remote", &self.shared.remote)
            .finish_non_exhaustive()
    }
}

struct TcpShared {
    remote: SocketAddr,
    /// The first close asked for: code and reason.
    close: Mutex<Option<(u32, &'static [u8])>>,
    close_now: CancellationToken,
    ended: CancellationToken,
    reason: Mutex<String>,
}

impl TcpConn {
    pub(crate) fn new(send: SendRequest<Bytes>, remote: SocketAddr) -> Self {
        Self {
            send,
            shared: Arc::new(TcpShared {
                remote,
                close: Mutex::new(None),
                close_now: CancellationToken::new(),
                ended: CancellationToken::new(),
                reason: Mutex::new(String::new()),
            }),
        }
    }

    fn close(&self, code: u32, reason: &'static [u8]) {
        let mut close = self
            .shared
            .close
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if close.is_none() {
            *close = Some((code, reason));
        }
        drop(close);
        self.shared.close_now.cancel();
    }

    /// Drives the HTTP/2 connection until it ends, idles out (no pong within the idle
    /// timeout) or is closed; a close sends the close notice and keeps driving for up to
    /// [`CLOSE_LINGER`] so that the agent gets it and what was queued before it.
    pub(crate) async fn drive<T>(&self, mut conn: Connection<T, Bytes>, settings: QuicSettings)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let pings = conn.ping_pong();
        let keep = async move {
            match pings {
                Some(p) => tcp::keep_alive(p, settings).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(keep);
        enum Ended {
            Conn(Result<(), h2::Error>),
            Idle(&'static str),
            Close,
        }
        let ended = tokio::select! {
            r = &mut conn => Ended::Conn(r),
            why = &mut keep => Ended::Idle(why),
            () = self.shared.close_now.cancelled() => Ended::Close,
        };
        let reason = match ended {
            Ended::Conn(Ok(())) => "closed by the agent".to_owned(),
            Ended::Conn(Err(e)) => e.to_string(),
            Ended::Idle(why) => why.to_owned(),
            Ended::Close => {
                let (code, reason) = self
                    .shared
                    .close
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unwrap_or((0, b""));
                let notice = send_close_notice(self.send.clone(), code, reason);
                tokio::pin!(notice);
                let mut sent = false;
                let _ = tokio::time::timeout(CLOSE_LINGER, async {
                    loop {
                        tokio::select! {
                            _ = &mut conn => break,
                            _ = &mut notice, if !sent => sent = true,
                        }
                    }
                })
                .await;
                format!(
                    "closed by the gateway: code {code} ({})",
                    String::from_utf8_lossy(reason)
                )
            }
        };
        *self
            .shared
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = reason;
        self.shared.ended.cancel();
    }
}

async fn send_close_notice(
    send: SendRequest<Bytes>,
    code: u32,
    reason: &[u8],
) -> Result<(), h2::Error> {
    let mut ready = send.ready().await?;
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("https://{AUTHORITY}{CLOSE_PATH}"))
        .header(CLOSE_CODE, code.to_string());
    if let Ok(value) = http::HeaderValue::from_bytes(reason) {
        builder = builder.header(CLOSE_REASON, value);
    }
    if let Ok(request) = builder.body(()) {
        let _ = ready.send_request(request, true)?;
    }
    Ok(())
}
