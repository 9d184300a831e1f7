//! Async client (feature `client`): a TCP stream through every hop of a [`Chain`]
//! ([`connect`]), the same handshake over a stream you connected yourself, e.g. TLS to hop 1
//! ([`handshake`]), and [`UdpChain`] for datagrams.
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub use self::stream::ChainStream;
pub use self::udp::UdpChain;
use crate::{
    Address, Chain, Decoded, Host, SealError, SealOptions, SealedChain, Status, StatusError,
};

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
    /// Hop `hop` could not be reached: the hop before it (`reported_by`) tried to connect to
    /// it and answered `status` (a DNS failure, refusal, no route or timeout). Hop 1's own
    /// reachability is [`ClientError::Connect`].
    #[error("hop {hop} is unreachable (hop {reported_by} answered: {status})")]
    Unreachable {
        /// 1-based index of the hop that could not be reached (`reported_by + 1`).
        hop: u8,
        /// 1-based index of the hop that answered.
        reported_by: u8,
        /// Its status: [`Status::DnsFailure`], [`Status::Refused`], [`Status::Unreachable`]
        /// or [`Status::Timeout`].
        status: Status,
    },
    /// A hop answered with a failure status, or its answer was invalid. A failure to reach
    /// the next *hop* is [`ClientError::Unreachable`] instead; this variant's failure
    /// concerns the hop itself or, for the last hop, the destination.
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
    /// The 1-based index of the hop that failed, could not be reached or stopped answering
    /// (1 for connect and I/O errors with hop 1); `None` for local errors.
    #[must_use]
    pub fn hop(&self) -> Option<u8> {
        match self {
            Self::Connect(_) | Self::Io(_) => Some(1),
            Self::Timeout { hop } | Self::Closed { hop } | Self::Unreachable { hop, .. } => {
                Some(*hop)
            }
            Self::Hop(e) => Some(e.hop()),
            Self::Seal(_) | Self::TooLarge { .. } => None,
        }
    }

    /// The 1-based index of the hop whose status record reported the failure, when one did
    /// (for [`ClientError::Unreachable`] the hop before [`ClientError::hop`]).
    #[must_use]
    pub fn reported_by(&self) -> Option<u8> {
        match self {
            Self::Unreachable { reported_by, .. } => Some(*reported_by),
            Self::Hop(StatusError::HopFailed { hop, .. }) => Some(*hop),
            _ => None,
        }
    }

    /// The status the reporting hop answered with, when it answered with one.
    #[must_use]
    pub fn status(&self) -> Option<Status> {
        match self {
            Self::Hop(StatusError::HopFailed { status, .. }) | Self::Unreachable { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The error for a status error of a chain of `hops` hops: a dial failure reported by a hop
    /// that is not the last becomes [`ClientError::Unreachable`] naming the next hop.
    pub(crate) fn from_status(hops: usize, error: StatusError) -> Self {
        match error {
            StatusError::HopFailed { hop, status }
                if usize::from(hop) < hops && is_dial_failure(status) =>
            {
                Self::Unreachable {
                    hop: hop.saturating_add(1),
                    reported_by: hop,
                    status,
                }
            }
            other => Self::Hop(other),
        }
    }
}

/// Statuses a hop answers when it cannot connect to its next address.
fn is_dial_failure(status: Status) -> bool {
    matches!(
        status,
        Status::DnsFailure | Status::Refused | Status::Unreachable | Status::Timeout
    )
}

/// Connects to hop 1 and sends every hop's record; returns the stream once every hop has
/// answered `Ok` (bytes the destination sent right after are kept in the stream).
///
/// # Errors
///
/// A [`ClientError`] naming the failing hop and its status, or the hop whose status never
/// came. When hop `i` cannot reach hop `i + 1`, the error is [`ClientError::Unreachable`]
/// naming hop `i + 1` (and hop `i` as the one that reported it).
pub async fn connect(
    chain: &Chain,
    destination: &Address,
    config: &ClientConfig,
) -> Result<ChainStream, ClientError> {
    let sealed = seal(chain, destination, config)?;
    let mut answered = 0u8;
    let handshake = async {
        let first = chain.first().ok_or(ClientError::Closed { hop: 1 })?;
        let mut tcp = dial(&first.address).await.map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let early = exchange(&mut tcp, chain, &sealed, &mut answered).await?;
        Ok(ChainStream::new(early, tcp))
    };
    match tokio::time::timeout(config.handshake_timeout, handshake).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout { hop: answered + 1 }),
    }
}

/// Runs the chain handshake over a stream already connected to hop 1 (for example a TLS
/// stream): sends every hop's record and reads every status, within
/// [`ClientConfig::handshake_timeout`]. Returns the bytes read past the last status (the
/// destination's first bytes), which belong before anything read from `io` afterwards.
///
/// # Errors
///
/// As [`connect`], except that [`ClientError::Connect`] is not returned (the caller connected).
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    chain: &Chain,
    destination: &Address,
    config: &ClientConfig,
) -> Result<Vec<u8>, ClientError> {
    let sealed = seal(chain, destination, config)?;
    let mut answered = 0u8;
    match tokio::time::timeout(
        config.handshake_timeout,
        exchange(io, chain, &sealed, &mut answered),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout { hop: answered + 1 }),
    }
}

fn seal(
    chain: &Chain,
    destination: &Address,
    config: &ClientConfig,
) -> Result<SealedChain, ClientError> {
    chain
        .seal(
            destination,
            &SealOptions {
                now_unix_ms: (config.clock)(),
                udp: false,
                client: None,
            },
            &SystemRandom::new(),
        )
        .map_err(ClientError::Seal)
}

/// Writes the records and reads every status; `answered` tracks the statuses fully received
/// (for the timeout's error).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    chain: &Chain,
    sealed: &SealedChain,
    answered: &mut u8,
) -> Result<Vec<u8>, ClientError> {
    io.write_all(&sealed.bytes).await.map_err(ClientError::Io)?;
    io.flush().await.map_err(ClientError::Io)?;
    let mut buf = Vec::with_capacity(chain.responses_len() + 4096);
    loop {
        let statuses = chain
            .read_statuses(&sealed.nonces, &buf)
            .map_err(|e| ClientError::from_status(chain.len(), e))?;
        match statuses {
            Decoded::Done { consumed, .. } => {
                buf.drain(..consumed);
                return Ok(buf);
            }
            Decoded::NeedMore { .. } => {
                *answered = u8::try_from(buf.len() / crate::RESPONSE_RECORD_LEN).unwrap_or(u8::MAX);
                let n = io.read_buf(&mut buf).await.map_err(ClientError::Io)?;
                if n == 0 {
                    return Err(ClientError::Closed {
                        hop: answered.saturating_add(1),
                    });
                }
            }
        }
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
