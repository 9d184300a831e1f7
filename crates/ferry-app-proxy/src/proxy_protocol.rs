//! PROXY protocol glue around `ferry-front`'s sans-IO codec: read a header from a trusted peer
//! without reading a byte past it (so the rest of the connection, TLS or spliced, is
//! untouched), and build the header written to upstreams.

use std::io;
use std::net::{IpAddr, SocketAddr};

use ferry_front::Parsed;
use ferry_front::proxy_protocol::{
    self as pp, Command, ProxyHeader, ProxyLimits, ProxyProtocolError, V1_MAX_LEN, V2_HEADER_LEN,
    Version,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::config::AcceptProxy;

/// Why a trusted peer's header was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HeaderError {
    /// Reading from the client failed.
    #[error("reading the PROXY header from the client failed")]
    Io(#[source] io::Error),
    /// The client closed before a complete header.
    #[error("client closed after {0} bytes of a PROXY header")]
    Closed(usize),
    /// The bytes are not a valid header.
    #[error("client sent an invalid PROXY header")]
    Invalid(#[source] ProxyProtocolError),
    /// A valid header in a version the listener does not accept.
    #[error("client sent a PROXY {0} header, which this listener does not accept")]
    Version(&'static str),
    /// The header did not arrive within the listener's deadline.
    #[error("client sent no complete PROXY header in time")]
    TimedOut,
}

impl HeaderError {
    /// The `end` label of a connection closed for this error.
    pub(crate) fn end(&self) -> &'static str {
        match self {
            Self::TimedOut => "proxy_header_timeout",
            _ => "proxy_header_invalid",
        }
    }
}

/// The limits used for received headers: 512 bytes of v2 addresses and TLVs.
fn limits() -> ProxyLimits {
    ProxyLimits::default()
}

/// Largest header accepted, in bytes.
fn max_len() -> usize {
    V1_MAX_LEN.max(V2_HEADER_LEN + usize::from(limits().max_v2_len))
}

/// The most a header read holds: the bytes peeked and the bytes kept (for the memory budget).
pub(crate) fn head_bytes() -> usize {
    max_len().saturating_mul(2)
}

/// Reads one header, consuming exactly its bytes: bytes are only peeked until the codec says
/// they belong to the header, so whatever follows stays in the socket.
async fn read_exact_header(stream: &mut TcpStream) -> Result<ProxyHeader, HeaderError> {
    let limits = limits();
    let max = max_len();
    let mut have: Vec<u8> = Vec::with_capacity(V2_HEADER_LEN);
    let mut peeked = vec![0u8; max];
    loop {
        let room = max.saturating_sub(have.len());
        let Some(window) = peeked.get_mut(..room).filter(|w| !w.is_empty()) else {
            // The codec bounds both versions below `max`; this is a safety net.
            return Err(HeaderError::Invalid(ProxyProtocolError::V1TooLong));
        };
        let n = stream.peek(window).await.map_err(HeaderError::Io)?;
        if n == 0 {
            return Err(HeaderError::Closed(have.len()));
        }
        let start = have.len();
        have.extend_from_slice(window.get(..n).unwrap_or_default());
        match pp::decode(&have, &limits).map_err(HeaderError::Invalid)? {
            Parsed::Complete { value, consumed } => {
                let mut sink = vec![0u8; consumed.saturating_sub(start)];
                stream
                    .read_exact(&mut sink)
                    .await
                    .map_err(HeaderError::Io)?;
                return Ok(value);
            }
            Parsed::Incomplete => {
                // Every byte so far is part of the header: take them off the socket.
                let mut sink = vec![0u8; n];
                stream
                    .read_exact(&mut sink)
                    .await
                    .map_err(HeaderError::Io)?;
            }
        }
    }
}

/// Reads the header of a trusted peer within the listener's deadline and returns the client's
/// `(source, destination)`: those of the header for a PROXY command with addresses, else the
/// connection's own (`LOCAL`, `UNKNOWN`, unix sockets).
pub(crate) async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    config: &AcceptProxy,
) -> Result<(SocketAddr, Option<SocketAddr>), HeaderError> {
    let header = tokio::time::timeout(config.timeout, read_exact_header(stream))
        .await
        .map_err(|_elapsed| HeaderError::TimedOut)??;
    match header.version {
        Version::V1 if !config.v1 => return Err(HeaderError::Version("v1")),
        Version::V2 if !config.v2 => return Err(HeaderError::Version("v2")),
        _ => {}
    }
    match (header.command, header.addresses) {
        (Command::Proxy, Some(a)) => Ok((a.source, Some(a.destination))),
        _ => Ok((peer, None)),
    }
}

/// `addr` as IPv6 (IPv4 becomes IPv4-mapped).
fn as_v6(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port()),
        IpAddr::V6(_) => addr,
    }
}

/// The header announcing a connection from `source` to `destination`. Addresses of different
/// families are both sent as IPv6 (IPv4-mapped), which the protocol can carry.
pub(crate) fn header_for(version: Version, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (source, destination) = match (source, destination) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (source, destination)
        }
        _ => (as_v6(source), as_v6(destination)),
    };
    let mut out = Vec::with_capacity(64);
    if ProxyHeader::proxy(version, source, destination)
        .encode(&mut out)
        .is_err()
    {
        // Unreachable: same families, TCP, no TLVs. A LOCAL header is still a valid start.
        out.clear();
        return local_header(version);
    }
    out
}

/// A `LOCAL` header (v1 `PROXY UNKNOWN`): what health probes send.
pub(crate) fn local_header(version: Version) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    // LOCAL without addresses and TLVs always encodes.
    let _infallible = ProxyHeader::local(version).encode(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Whatever the chunking, exactly the header's bytes are consumed and the bytes after it
    /// stay in the socket.
    #[tokio::test]
    async fn reads_exactly_the_header_in_any_chunking() {
        let header = ProxyHeader::proxy(
            Version::V2,
            "192.0.2.1:1000".parse().unwrap(),
            "198.51.100.2:443".parse().unwrap(),
        )
        .with_tlv(pp::tlv::AUTHORITY, b"example.com".to_vec());
        let mut wire = Vec::new();
        header.encode(&mut wire).unwrap();
        let v1 = b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n".to_vec();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        for bytes in [wire, v1] {
            for split in [1, 2, 5, 13, 16, 17, bytes.len() - 1, bytes.len()] {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let (mut s, _) = l.accept().await.unwrap();
                let sent = bytes.clone();
                let writer = tokio::spawn(async move {
                    for chunk in sent.chunks(split) {
                        c.write_all(chunk).await.unwrap();
                        c.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    c.write_all(b"DATA").await.unwrap();
                    c
                });
                let got = read_exact_header(&mut s).await.unwrap();
                assert_eq!(
                    got.version,
                    if bytes[0] == b'P' {
                        Version::V1
                    } else {
                        Version::V2
                    }
                );
                let mut rest = [0u8; 4];
                s.read_exact(&mut rest).await.unwrap();
                assert_eq!(&rest, b"DATA", "split {split}");
                drop(writer.await.unwrap());
            }
        }
    }

    #[test]
    fn mixed_families_are_sent_as_v6() {
        let h = header_for(
            Version::V1,
            "192.0.2.1:1000".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
        );
        assert_eq!(
            h,
            b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1000 443\r\n".to_vec()
        );
        assert_eq!(local_header(Version::V1), b"PROXY UNKNOWN\r\n".to_vec());
        assert_eq!(local_header(Version::V2).len(), 16);
    }
}
