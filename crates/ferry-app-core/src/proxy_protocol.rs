//! The PROXY protocol around `ferry-front`'s sans-IO codec, shared by the programs:
//!
//! - [`AcceptProxy`], a listener's `accept_proxy = { trusted = [...], versions = [...],
//!   timeout = "..." }` (parsed from [`AcceptProxyFile`] with `deny_unknown_fields`): which
//!   peers may send a header, in which versions, within what deadline;
//! - [`accept`]: read the header of a trusted peer within that deadline, without reading a
//!   byte past it (so TLS, an HTTP head or a splice start right after it);
//! - [`header_for`] and [`local_header`]: the headers sent on to upstreams and services.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_front::Parsed;
pub use ferry_front::proxy_protocol::Version;
use ferry_front::proxy_protocol::{
    self as pp, Command, ProxyHeader, ProxyLimits, ProxyProtocolError, V1_MAX_LEN, V2_HEADER_LEN,
};
use ipnet::IpNet;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::ConfigError;
use crate::duration::de_duration;

/// Default deadline for a trusted peer's PROXY header: 5 s.
pub const DEFAULT_PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The `end` (or `result`) label of a connection closed because its peer is not in
/// [`AcceptProxy::trusted`].
pub const UNTRUSTED: &str = "proxy_untrusted";

/// A listener that receives the PROXY protocol (`accept_proxy = { trusted = [...] }`): every
/// connection must come from a trusted network and start with a v1 or v2 header, whose source
/// address then stands for the client (logs, limits, the header sent on). Connections from
/// anywhere else are closed before a byte is read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptProxy {
    /// Networks whose peers may send a header (`10.0.0.0/8`, `2001:db8::/32`, or a single
    /// address); at least one. IPv4-mapped IPv6 peers are matched as IPv4.
    pub trusted: Vec<IpNet>,
    /// Accept v1 (text) headers. Default true.
    pub v1: bool,
    /// Accept v2 (binary) headers. Default true.
    pub v2: bool,
    /// Deadline for the whole header. Default [`DEFAULT_PROXY_HEADER_TIMEOUT`] (5 s).
    pub timeout: Duration,
}

impl AcceptProxy {
    /// Whether `peer` is in a trusted network.
    #[must_use]
    pub fn trusts(&self, peer: IpAddr) -> bool {
        crate::net::contains(&self.trusted, peer)
    }

    /// One line for a program's `check`.
    #[must_use]
    pub fn explain(&self) -> String {
        let nets: Vec<String> = self.trusted.iter().map(ToString::to_string).collect();
        let versions = match (self.v1, self.v2) {
            (true, true) => "v1,v2",
            (true, false) => "v1",
            _ => "v2",
        };
        format!(
            "PROXY header required from trusted=[{}] versions={} timeout={}; other peers are closed",
            nets.join(", "),
            versions,
            crate::duration::format_duration(self.timeout)
        )
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum VersionFile {
    V1,
    V2,
}

fn de_some_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// `accept_proxy` as written in a config file; [`AcceptProxyFile::validate`] makes an
/// [`AcceptProxy`] of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptProxyFile {
    trusted: Vec<String>,
    versions: Option<Vec<VersionFile>>,
    #[serde(default, deserialize_with = "de_some_duration")]
    timeout: Option<Duration>,
}

impl AcceptProxyFile {
    /// Validates the table found at `key` (`listener[0].accept_proxy`): `trusted` non-empty,
    /// each a network without host bits or an address; `versions` (default both) non-empty;
    /// `timeout` (default [`DEFAULT_PROXY_HEADER_TIMEOUT`]) above zero.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key (`{key}.trusted[1]`, `{key}.versions`, ...).
    pub fn validate(self, key: &str) -> Result<AcceptProxy, ConfigError> {
        if self.trusted.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.trusted"),
                "at least one trusted network is required",
            ));
        }
        let trusted = self
            .trusted
            .iter()
            .enumerate()
            .map(|(i, t)| {
                crate::net::parse_net(t)
                    .map_err(|reason| ConfigError::invalid(format!("{key}.trusted[{i}]"), reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (v1, v2) = match &self.versions {
            None => (true, true),
            Some(v) if v.is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{key}.versions"),
                    "at least one of \"v1\" and \"v2\" is required",
                ));
            }
            Some(v) => (v.contains(&VersionFile::V1), v.contains(&VersionFile::V2)),
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_PROXY_HEADER_TIMEOUT);
        if timeout.is_zero() {
            return Err(ConfigError::invalid(
                format!("{key}.timeout"),
                "must be greater than zero",
            ));
        }
        Ok(AcceptProxy {
            trusted,
            v1,
            v2,
            timeout,
        })
    }
}

/// Why a trusted peer's header was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
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
    /// The `end` label of a connection closed for this error: `proxy_header_timeout` or
    /// `proxy_header_invalid`.
    #[must_use]
    pub fn end(&self) -> &'static str {
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

/// The most a header read holds, in bytes: the bytes peeked and the bytes kept (for a memory
/// budget's per-connection reservation).
#[must_use]
pub fn head_bytes() -> usize {
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

/// Reads the header of a trusted peer within `config.timeout` and returns the client's
/// `(source, destination)`: those of the header for a PROXY command with addresses, else
/// `(peer, None)` (`LOCAL` health checks, `UNKNOWN`, unix sockets). Whether `peer` is trusted
/// is the caller's check ([`AcceptProxy::trusts`]), made before calling this.
///
/// # Errors
///
/// [`HeaderError`]: a read failure, a close, an invalid header or one of a version `config`
/// does not accept, or no complete header in time.
pub async fn accept(
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

/// The header announcing a TCP connection from `source` to `destination`. Addresses of
/// different families are both sent as IPv6 (IPv4-mapped), which the protocol can carry.
#[must_use]
pub fn header_for(version: Version, source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
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
#[must_use]
pub fn local_header(version: Version) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    // LOCAL without addresses and TLVs always encodes.
    let _infallible = ProxyHeader::local(version).encode(&mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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

    fn file(text: &str) -> Result<AcceptProxy, ConfigError> {
        #[derive(Deserialize)]
        struct Outer {
            accept_proxy: AcceptProxyFile,
        }
        let o: Outer =
            toml::from_str(text).map_err(|e| ConfigError::invalid("toml", e.to_string()))?;
        o.accept_proxy.validate("x.accept_proxy")
    }

    #[test]
    fn config_defaults_and_errors_name_the_key() {
        let a = file("accept_proxy = { trusted = [\"10.0.0.0/8\", \"192.0.2.7\"] }").unwrap();
        assert!(a.v1 && a.v2);
        assert_eq!(a.timeout, DEFAULT_PROXY_HEADER_TIMEOUT);
        assert!(a.trusts("10.9.8.7".parse().unwrap()));
        assert!(a.trusts("::ffff:192.0.2.7".parse().unwrap()));
        assert!(!a.trusts("192.0.2.8".parse().unwrap()));
        let a =
            file("accept_proxy = { trusted = [\"::1\"], versions = [\"v2\"], timeout = \"2s\" }")
                .unwrap();
        assert!(!a.v1 && a.v2);
        assert_eq!(a.timeout, Duration::from_secs(2));
        assert!(
            a.explain().contains("versions=v2 timeout=2s"),
            "{}",
            a.explain()
        );
        for (text, key) in [
            ("{ trusted = [] }", "x.accept_proxy.trusted"),
            (
                "{ trusted = [\"10.1.2.3/8\"] }",
                "x.accept_proxy.trusted[0]",
            ),
            (
                "{ trusted = [\"::1\"], versions = [] }",
                "x.accept_proxy.versions",
            ),
            (
                "{ trusted = [\"::1\"], timeout = \"0s\" }",
                "x.accept_proxy.timeout",
            ),
        ] {
            let e = file(&format!("accept_proxy = {text}")).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        assert!(file("accept_proxy = { trusted = [\"::1\"], extra = 1 }").is_err());
    }
}
