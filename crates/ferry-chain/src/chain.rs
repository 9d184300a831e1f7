//! Client side, sans-IO: a chain of hops, sealing all records up front, reading the statuses.

use ring::rand::SecureRandom;

use crate::Decoded;
use crate::address::Address;
use crate::error::{ResponseError, SealError};
use crate::key::HopKey;
use crate::request::{Flags, Request, seal_request};
use crate::response::{Status, decode_response};
use crate::wire::{MAX_HOPS, MAX_REQUEST_RECORD, Nonce, RESPONSE_RECORD_LEN};

/// One hop of a [`Chain`]: where to reach it and the key it shares with the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHop {
    /// The hop's listening address.
    pub address: Address,
    /// The key (and key id) the client seals this hop's record with.
    pub key: HopKey,
}

/// A chain could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No hops.
    #[error("a chain needs at least one hop")]
    Empty,
    /// More than [`MAX_HOPS`] hops.
    #[error("a chain has at most 16 hops, got {0}")]
    TooLong(usize),
}

/// Ordered hops `1..=N` (`1 <= N <= 16`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    hops: Vec<ChainHop>,
}

/// Options for [`Chain::seal`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealOptions {
    /// Unix time in milliseconds written into every record. No default: the caller's clock.
    pub now_unix_ms: u64,
    /// Set [`Flags::UDP`] in every record. Default `false`.
    pub udp: bool,
    /// The original client address to reveal to every hop. Default `None`.
    pub client: Option<std::net::SocketAddr>,
}

/// Every hop's request record, concatenated in hop order, and the nonces used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedChain {
    /// `R1 R2 .. RN`: send these first.
    pub bytes: Vec<u8>,
    /// The nonce of each hop's record (index 0 is hop 1); responses are bound to them.
    pub nonces: Vec<Nonce>,
}

/// A hop answered with something other than `Ok`, or its answer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// Hop `hop` answered `status`.
    #[error("hop {hop} answered: {status}")]
    HopFailed {
        /// 1-based hop index.
        hop: u8,
        /// Its status (never `Ok`).
        status: Status,
    },
    /// Hop `hop`'s response record is invalid.
    #[error("hop {hop} sent an invalid response")]
    Response {
        /// 1-based hop index.
        hop: u8,
        /// Why.
        #[source]
        error: ResponseError,
    },
}

impl StatusError {
    /// The 1-based index of the hop that failed.
    #[must_use]
    pub fn hop(&self) -> u8 {
        match self {
            Self::HopFailed { hop, .. } | Self::Response { hop, .. } => *hop,
        }
    }
}

impl Chain {
    /// A chain from its hops, in order.
    ///
    /// # Errors
    ///
    /// [`ChainError::Empty`] or [`ChainError::TooLong`].
    pub fn new(hops: Vec<ChainHop>) -> Result<Self, ChainError> {
        match hops.len() {
            0 => Err(ChainError::Empty),
            n if n > usize::from(MAX_HOPS) => Err(ChainError::TooLong(n)),
            _ => Ok(Self { hops }),
        }
    }

    /// The hops, hop 1 first.
    #[must_use]
    pub fn hops(&self) -> &[ChainHop] {
        &self.hops
    }

    /// Number of hops (1..=16).
    #[must_use]
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Always `false`: a chain has at least one hop.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// The first hop, which the client connects to.
    #[must_use]
    pub fn first(&self) -> Option<&ChainHop> {
        self.hops.first()
    }

    /// Bytes of the status records the client reads before payload (`37 * N`).
    #[must_use]
    pub fn responses_len(&self) -> usize {
        RESPONSE_RECORD_LEN * self.hops.len()
    }

    /// Seals one request per hop towards `destination` with nonces from `rng`; see
    /// [`Chain::seal_with_nonces`].
    ///
    /// # Errors
    ///
    /// [`SealError::Random`] when `rng` fails.
    pub fn seal(
        &self,
        destination: &Address,
        options: &SealOptions,
        rng: &dyn SecureRandom,
    ) -> Result<SealedChain, SealError> {
        let nonces = self
            .hops
            .iter()
            .map(|_| random_nonce(rng))
            .collect::<Result<Vec<_>, _>>()?;
        self.seal_with_nonces(destination, options, nonces)
    }

    /// Seals one request per hop towards `destination`: hop `i`'s next address is hop `i+1`'s
    /// address, the last hop's is `destination` (with [`Flags::FINAL`]); hop limits are
    /// `N - i + 1`. `nonces[i]` seals hop `i+1`'s record; they must be fresh random values
    /// (use [`Chain::seal`] unless you need fixed nonces, e.g. for test vectors).
    ///
    /// # Errors
    ///
    /// [`SealError::Random`] when there are fewer nonces than hops.
    pub fn seal_with_nonces(
        &self,
        destination: &Address,
        options: &SealOptions,
        nonces: Vec<Nonce>,
    ) -> Result<SealedChain, SealError> {
        let n = self.hops.len();
        if nonces.len() < n {
            return Err(SealError::Random);
        }
        let mut bytes = Vec::with_capacity(n * MAX_REQUEST_RECORD);
        let base = if options.udp { Flags::UDP } else { Flags::NONE };
        for (i, (hop, nonce)) in self.hops.iter().zip(&nonces).enumerate() {
            let (next, flags) = match self.hops.get(i + 1) {
                Some(next) => (next.address.clone(), base),
                None => (destination.clone(), base.union(Flags::FINAL)),
            };
            let hop_index = u8::try_from(i + 1).map_err(|_overflow| SealError::HopRange {
                hop_index: u8::MAX,
                hop_limit: 0,
            })?;
            let request = Request {
                timestamp_ms: options.now_unix_ms,
                hop_limit: u8::try_from(n - i).unwrap_or(u8::MAX),
                flags,
                next,
                client: options.client,
            };
            seal_request(&hop.key, hop_index, &request, *nonce, &mut bytes)?;
        }
        let mut nonces = nonces;
        nonces.truncate(n);
        Ok(SealedChain { bytes, nonces })
    }

    /// Reads the `N` status records at the start of `buf` (hop 1 first). `Done { consumed }`
    /// when every hop answered `Ok` (bytes after `consumed` are payload); `NeedMore` when
    /// `buf` is short and nothing failed so far.
    ///
    /// # Errors
    ///
    /// [`StatusError`] naming the first hop whose status is not `Ok` or whose record is invalid.
    pub fn read_statuses(&self, nonces: &[Nonce], buf: &[u8]) -> Result<Decoded<()>, StatusError> {
        let mut at = 0;
        for (i, hop) in self.hops.iter().enumerate() {
            let hop_index = u8::try_from(i + 1).unwrap_or(u8::MAX);
            let Some(nonce) = nonces.get(i) else {
                return Err(StatusError::Response {
                    hop: hop_index,
                    error: ResponseError::Auth,
                });
            };
            let rest = buf.get(at..).unwrap_or_default();
            match decode_response(rest, &hop.key, hop_index, nonce) {
                Ok(Decoded::NeedMore { at_least }) => {
                    return Ok(Decoded::NeedMore {
                        at_least: at + at_least,
                    });
                }
                Ok(Decoded::Done { value, consumed }) => {
                    if !value.status.is_ok() {
                        return Err(StatusError::HopFailed {
                            hop: hop_index,
                            status: value.status,
                        });
                    }
                    at += consumed;
                }
                Err(error) => {
                    return Err(StatusError::Response {
                        hop: hop_index,
                        error,
                    });
                }
            }
        }
        Ok(Decoded::Done {
            value: (),
            consumed: at,
        })
    }
}

/// A fresh random nonce.
///
/// # Errors
///
/// [`SealError::Random`] when `rng` fails.
pub fn random_nonce(rng: &dyn SecureRandom) -> Result<Nonce, SealError> {
    let mut nonce = [0u8; crate::NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_unspecified| SealError::Random)?;
    Ok(nonce)
}
