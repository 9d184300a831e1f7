//! [`UdpChain`]: datagrams through every hop.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use ring::rand::SystemRandom;
use tokio::net::UdpSocket;

use super::{ClientConfig, ClientError};
use crate::udp::{MAX_DATAGRAM, UdpError, encode_datagram, open_reply};
use crate::{Address, Chain, Host, Nonce, SealOptions};

/// A datagram socket-like handle that sends through every hop of a chain.
///
/// Each [`send_to`](Self::send_to) seals fresh records (fresh nonces); [`recv`](Self::recv)
/// strips the stacked responses and returns the reply payload. Replies that do not verify
/// against one of the last [`ClientConfig::udp_recent`] datagrams are dropped silently. Replies
/// do not say which destination sent them: use one `UdpChain` per destination when that matters.
#[derive(Debug)]
pub struct UdpChain {
    socket: UdpSocket,
    chain: Chain,
    config: ClientConfig,
    rng: SystemRandom,
    recent: Mutex<VecDeque<Vec<Nonce>>>,
}

impl UdpChain {
    /// Binds an ephemeral local port and connects it to hop 1 (resolved once).
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] when hop 1 cannot be resolved or the socket cannot be bound.
    pub async fn bind(chain: Chain, config: ClientConfig) -> Result<Self, ClientError> {
        let first = chain
            .first()
            .ok_or(ClientError::Closed { hop: 1 })?
            .address
            .clone();
        let target = match (first.socket_addr(), first.host()) {
            (Some(sa), _) => sa,
            (None, Host::Domain(name)) => tokio::net::lookup_host((name.as_str(), first.port()))
                .await
                .map_err(ClientError::Connect)?
                .next()
                .ok_or_else(|| ClientError::Connect(std::io::ErrorKind::NotFound.into()))?,
            (None, _) => {
                return Err(ClientError::Connect(
                    std::io::ErrorKind::InvalidInput.into(),
                ));
            }
        };
        let local: SocketAddr = if target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(ClientError::Connect)?;
        socket.connect(target).await.map_err(ClientError::Connect)?;
        Ok(Self {
            socket,
            chain,
            config,
            rng: SystemRandom::new(),
            recent: Mutex::new(VecDeque::new()),
        })
    }

    /// The local socket address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends `payload` to `destination` through the chain.
    ///
    /// # Errors
    ///
    /// [`ClientError::TooLarge`] when records plus payload exceed one datagram,
    /// [`ClientError::Seal`], or [`ClientError::Io`].
    pub async fn send_to(&self, destination: &Address, payload: &[u8]) -> Result<(), ClientError> {
        let options = SealOptions {
            now_unix_ms: (self.config.clock)(),
            udp: true,
            client: None,
        };
        let sealed = self
            .chain
            .seal(destination, &options, &self.rng)
            .map_err(ClientError::Seal)?;
        let mut datagram = Vec::with_capacity(sealed.bytes.len() + payload.len());
        encode_datagram(&sealed, payload, &mut datagram).map_err(|e| match e {
            UdpError::TooLarge { len, max } => ClientError::TooLarge { len, max },
            _ => ClientError::TooLarge {
                len: sealed.bytes.len() + payload.len(),
                max: MAX_DATAGRAM,
            },
        })?;
        {
            let mut recent = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            recent.push_front(sealed.nonces);
            recent.truncate(self.config.udp_recent.max(1));
        }
        self.socket.send(&datagram).await.map_err(ClientError::Io)?;
        Ok(())
    }

    /// Receives the next reply that verifies and copies its payload into `buf` (truncated when
    /// `buf` is shorter), returning the payload length copied.
    ///
    /// # Errors
    ///
    /// [`ClientError::Io`], or [`ClientError::Hop`] / [`ClientError::Unreachable`] when a
    /// verified reply carries a failing status.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, ClientError> {
        let mut datagram = vec![0u8; MAX_DATAGRAM];
        loop {
            let n = self
                .socket
                .recv(&mut datagram)
                .await
                .map_err(ClientError::Io)?;
            let got = datagram.get(..n).unwrap_or_default();
            let recent: Vec<Vec<Nonce>> = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned()
                .collect();
            match open_reply(&self.chain, &recent, got) {
                Ok(payload) => {
                    let len = payload.len().min(buf.len());
                    if let (Some(dst), Some(src)) = (buf.get_mut(..len), payload.get(..len)) {
                        dst.copy_from_slice(src);
                    }
                    return Ok(len);
                }
                Err(UdpError::Reply(e @ crate::StatusError::HopFailed { .. })) => {
                    return Err(ClientError::from_status(self.chain.len(), e));
                }
                Err(_) => {} // forged, stale or truncated: drop it
            }
        }
    }
}
