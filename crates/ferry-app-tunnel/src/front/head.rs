//! Reading the CONNECT request head: bounded size, no byte past the head lost.

use ferry_base::io::{ReadError, read_message};
use ferry_front::http_connect::{ConnectRequest, HttpError, HttpLimits, parse_request};
use tokio::io::AsyncRead;

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
    match read_message(stream, max, |b| parse_request(b, limits)).await {
        Ok((request, rest)) => Ok((request, rest.to_vec())),
        Err(ReadError::Malformed(e)) => Err(HeadError::Http(e)),
        Err(ReadError::TooLarge { max }) => Err(HeadError::Http(HttpError::HeadTooLarge { max })),
        Err(ReadError::Eof { read }) => Err(HeadError::Closed { empty: read == 0 }),
        Err(ReadError::Io(e)) => Err(HeadError::Io(e)),
        Err(other) => Err(HeadError::Io(std::io::Error::other(other))),
    }
}
