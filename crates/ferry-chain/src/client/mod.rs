//! Async client (feature `client`): a TCP stream through every hop of a [`Chain`], and
//! [`UdpChain`] for datagrams.
//!
//! ```no_run
//! # #[allow(dead_code)]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ferry_chain::client::{ClientConfig, connect};
//! use ferry_chain::{Chain, ChainHop, Keyring};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let keys = Keyring::parse(&std::env::var("CHAIN_KEYS")?)?; // never keys on a command line
//! let key = keys.get(ferry_chain::KeyId(1)).ok_or("no key 1")?.clone();
//! let chain = Chain::new(vec![ChainHop { address: "hop1.example:7000".parse()?, key }])?;
//! let mut stream = connect(&chain, &"example.com:80".parse()?, &ClientConfig::default()).await?;
//! stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
//! let mut reply = Vec::new();
//! stream.read_to_end(&mut reply).await?;
//! # Ok(()) }
//! ```

mod stream;
mod udp;

use std::io;
use std::time::Duration;

use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use self::stream::ChainStream;
pub use self::udp::UdpChain;
use crate::{Address, Chain, Decoded, Host, SealError, SealOptions, Status, StatusError};

/// Client settings.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig {
    /// Deadline for the whole handshake: connecting to hop 1, sending the records, and reading
    /// every hop's status. Default 10 s.
    pub handshake_timeout: Duration,
    /// Unix time in milliseconds for the records' timestamps. Default: the system clock.
    pub clock: fn() -> u64,
    /// How many recent datagrams' nonces [`UdpChain`] accepts replies for. Default 16.
    pub udp_recent: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            clock: system_unix_ms,
            udp_recent: 16,
        }
    }
}

/// The system clock in unix milliseconds (0 before 1970).
#[must_use]
#[allow(clippy::disallowed_methods)] // the client stamps real wall-clock time; the core takes it as a parameter
pub fn system_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A chain connection or datagram failed. [`ClientError::hop`] names the hop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting (or binding) to hop 1 failed.
    #[error("cannot reach hop 1")]
    Connect(#[source] io::Error),
    /// Reading from or writing to hop 1 failed.
    #[error("i/o with hop 1 failed")]
    Io(#[source] io::Error),
    /// The handshake did not finish within [`ClientConfig::handshake_timeout`]; `hop` is the
    /// first hop whose status was still missing.
    #[error("no status from hop {hop} within the handshake deadline")]
    Timeout {
        /// 1-based hop index.
        hop: u8,
    },
    /// The connection closed before hop `hop` answered (a hop closes without an answer when a
    /// record does not authenticate).
    #[error("hop {hop} closed before answering")]
    Closed {
        /// 1-based hop index.
        hop: u8,
    },
    /// A hop answered with a failure status, or its answer was invalid.
    #[error(transparent)]
    Hop(#[from] StatusError),
    /// Sealing the records failed.
    #[error("cannot seal the chain records")]
    Seal(#[source] SealError),
    /// A datagram would be too large.
    #[error("datagram of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

impl ClientError {
    /// The 1-based index of the hop that failed or stopped answering (1 for connect and I/O
    /// errors with hop 1); `None` for local errors.
    #[must_use]
    pub fn hop(&self) -> Option<u8> {
        match self {
            Self::Connect(_) | Self::Io(_) => Some(1),
            Self::Timeout { hop } | Self::Closed { hop } => Some(*hop),
            Self::Hop(e) => Some(e.hop()),
            Self::Seal(_) | Self::TooLarge { .. } => None,
        }
    }

    /// The failing hop's status, when it answered with one.
    #[must_use]
    pub fn status(&self) -> Option<Status> {
        match self {
            Self::Hop(StatusError::HopFailed { status, .. }) => Some(*status),
            _ => None,
        }
    }
}

/// Connects to hop 1 and sends every hop's record; returns the stream once every hop has
/// answered `Ok` (bytes the destination sent right after are kept in the stream).
///
/// # Errors
///
/// A [`ClientError`] naming the failing hop and its status, or the hop whose status never came.
pub async fn connect(
    chain: &Chain,
    destination: &Address,
    config: &ClientConfig,
) -> Result<ChainStream, ClientError> {
    let sealed = chain
        .seal(
            destination,
            &SealOptions {
                now_unix_ms: (config.clock)(),
                udp: false,
                client: None,
            },
            &SystemRandom::new(),
        )
        .map_err(ClientError::Seal)?;
    let mut answered = 0u8;
    let handshake = async {
        let first = chain.first().ok_or(ClientError::Closed { hop: 1 })?;
        let mut tcp = dial(&first.address).await.map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        tcp.write_all(&sealed.bytes)
            .await
            .map_err(ClientError::Io)?;
        let mut buf = Vec::with_capacity(chain.responses_len() + 4096);
        loop {
            match chain.read_statuses(&sealed.nonces, &buf)? {
                Decoded::Done { consumed, .. } => {
                    buf.drain(..consumed);
                    return Ok(ChainStream::new(tcp, buf));
                }
                Decoded::NeedMore { .. } => {
                    answered =
                        u8::try_from(buf.len() / crate::RESPONSE_RECORD_LEN).unwrap_or(u8::MAX);
                    let n = tcp.read_buf(&mut buf).await.map_err(ClientError::Io)?;
                    if n == 0 {
                        return Err(ClientError::Closed { hop: answered + 1 });
                    }
                }
            }
        }
    };
    match tokio::time::timeout(config.handshake_timeout, handshake).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout { hop: answered + 1 }),
    }
}

/// Connects to an address, resolving a domain with the system resolver.
pub(crate) async fn dial(address: &Address) -> io::Result<TcpStream> {
    match (address.socket_addr(), address.host()) {
        (Some(sa), _) => TcpStream::connect(sa).await,
        (None, Host::Domain(name)) => TcpStream::connect((name.as_str(), address.port())).await,
        (None, _) => Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
}
