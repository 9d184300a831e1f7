//! Reading the CONNECT request head: bounded size, no byte past the head lost.

use ferry_front::Parsed;
use ferry_front::http_connect::{ConnectRequest, HttpError, HttpLimits, parse_request};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Why no request head was read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The client closed before sending a complete head (`empty`: before sending anything).
    Closed { empty: bool },
    /// Reading failed.
    Io(std::io::Error),
    /// The head is not an acceptable CONNECT request.
    Http(HttpError),
}

/// Reads until a complete head, into a buffer of at most `limits.max_head` bytes. Returns the
/// request and the bytes received after it (the tunnel's first bytes). Not bounded in time:
/// the caller wraps it in its deadline.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &HttpLimits,
) -> Result<(ConnectRequest, Vec<u8>), HeadError> {
    let max = limits.max_head;
    let mut buf = vec![0u8; max.min(1024)];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if len >= max {
                return Err(HeadError::Http(HttpError::HeadTooLarge { max }));
            }
            buf.resize((len * 2).min(max), 0);
        }
        let Some(spare) = buf.get_mut(len..) else {
            return Err(HeadError::Http(HttpError::HeadTooLarge { max }));
        };
        let n = stream.read(spare).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Closed { empty: len == 0 });
        }
        len += n;
        let received = buf.get(..len).unwrap_or_default();
        match parse_request(received, limits).map_err(HeadError::Http)? {
            Parsed::Incomplete => {}
            Parsed::Complete { value, consumed } => {
                let rest = received.get(consumed..).unwrap_or_default().to_vec();
                return Ok((value, rest));
            }
        }
    }
}
