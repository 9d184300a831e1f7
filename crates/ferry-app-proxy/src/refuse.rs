//! Carrying out a [`LimitAction`] on a client connection: close, reset, or reply then close.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::LimitAction;

/// How long a reply may take to be written, and then how long the client's remaining bytes
/// are read and discarded before the close (so that unread bytes do not turn the close into a
/// reset that could destroy the reply before the client read it): 2 s each.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many bytes are discarded after a reply: 64 KiB.
const DISCARD_LIMIT: usize = 64 << 10;

/// The TCP socket under a client stream (for `SO_LINGER`).
pub(crate) trait RawSocket {
    fn socket(&self) -> &TcpStream;
}

impl RawSocket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl RawSocket for ferry_app_core::stream::Stream {
    fn socket(&self) -> &TcpStream {
        self.tcp()
    }
}

/// Applies `action` to `stream` and drops it. `retry_after_secs` fills the reply's
/// `{retry_after}` placeholders. Bounded in time by [`REPLY_TIMEOUT`] (twice, for a reply).
pub(crate) async fn refuse<S>(mut stream: S, action: &LimitAction, retry_after_secs: u64)
where
    S: AsyncRead + AsyncWrite + RawSocket + Unpin,
{
    match action {
        LimitAction::Reset => {
            // Linger 0: close sends RST, and the client sees ECONNRESET.
            let _ = socket2::SockRef::from(stream.socket()).set_linger(Some(Duration::ZERO));
        }
        LimitAction::Reply(reply) => {
            let bytes = reply.render(retry_after_secs);
            let written = tokio::time::timeout(REPLY_TIMEOUT, async {
                stream.write_all(&bytes).await?;
                stream.shutdown().await
            })
            .await;
            if matches!(written, Ok(Ok(()))) {
                let _ = tokio::time::timeout(REPLY_TIMEOUT, discard(&mut stream)).await;
            }
        }
        LimitAction::Close => {
            let _ = tokio::time::timeout(REPLY_TIMEOUT, stream.shutdown()).await;
        }
    }
}

/// Reads and drops up to [`DISCARD_LIMIT`] bytes, until EOF or an error.
async fn discard<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = vec![0u8; 2048];
    let mut total = 0;
    while total < DISCARD_LIMIT {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}
