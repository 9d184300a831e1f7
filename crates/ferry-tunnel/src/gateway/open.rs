//! Opening a tunnel to a connected agent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout_at};

use super::Gateway;
use crate::agent_id::AgentId;
use crate::metrics::handles;
use crate::read::{ReadError, read_message};
use crate::stream::{Slot, TunnelStream};
use crate::wire::{
    Destination, Protocol, REPLY_LEN, TunnelHeader, TunnelStatus, decode_status, encode_header,
};

/// A tunnel could not be opened. Suggested HTTP mapping for a CONNECT front end in brackets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// No authenticated connection from this agent (503).
    #[error("agent not connected")]
    NotConnected,
    /// The agent refused the destination: its allowlist or special-address set (403).
    #[error("agent denied the destination")]
    Denied,
    /// The agent could not connect to the destination; its status says why (502, or 504 for
    /// [`TunnelStatus::Timeout`]).
    #[error("agent could not connect: {0}")]
    Dial(TunnelStatus),
    /// No status from the agent within [`GatewayConfig::open_timeout`](super::GatewayConfig)
    /// (504).
    #[error("agent did not answer in time")]
    Timeout,
    /// The agent already has [`GatewayConfig::max_tunnels_per_agent`](super::GatewayConfig)
    /// tunnels open (503).
    #[error("too many tunnels to this agent")]
    StreamCapReached,
    /// The agent connection or the stream failed (502).
    #[error("agent connection lost")]
    ConnectionLost(#[source] std::io::Error),
    /// The agent answered something that is not a valid status (502).
    #[error("agent broke the protocol")]
    Protocol,
    /// The agent does not speak UDP tunnels: it answered the version 2 header of
    /// [`Gateway::open_udp`] with `unsupported_version` (an agent older than UDP services)
    /// (502).
    #[error("agent too old for UDP services")]
    UdpUnsupported,
}

impl OpenError {
    fn label(&self) -> &'static str {
        match self {
            Self::NotConnected => "not_connected",
            Self::Denied => "denied",
            Self::Dial(s) => s.label(),
            Self::Timeout => "timeout",
            Self::StreamCapReached => "stream_cap",
            Self::ConnectionLost(_) => "connection_lost",
            Self::Protocol => "protocol",
            Self::UdpUnsupported => "udp_unsupported",
        }
    }
}

impl Gateway {
    /// Opens a tunnel through `agent` to `destination` on behalf of `client`.
    ///
    /// Opens a stream on the agent's connection (a QUIC stream, or an HTTP/2 stream on the TCP
    /// transport), writes the tunnel header, and waits up
    /// to [`GatewayConfig::open_timeout`](super::GatewayConfig) (one deadline for all of it)
    /// for the agent's status. On `ok` the stream is returned, ready for bytes both ways.
    /// The gateway does not check `destination` itself: apply your own allowlist first.
    ///
    /// # Errors
    ///
    /// [`OpenError`]: not connected, tunnel cap reached, denied or dial failure (from the
    /// agent's status), timeout, connection lost, protocol error.
    pub async fn open(
        &self,
        agent: &AgentId,
        destination: Destination,
        client: SocketAddr,
    ) -> Result<TunnelStream, OpenError> {
        self.open_protocol(agent, destination, client, Protocol::Tcp)
            .await
    }

    /// Opens a UDP tunnel through `agent` to `destination` on behalf of `client` (one flow:
    /// one client address): like [`Gateway::open`], with a version 2 header (protocol UDP).
    /// On `ok` the stream carries datagram frames both ways
    /// ([`wire::encode_datagram`](crate::wire::encode_datagram),
    /// [`wire::DatagramReader`](crate::wire::DatagramReader); [`crate::udp`] reads and writes
    /// them on a stream): the agent relays each to and from a UDP socket connected to the
    /// checked destination address, until either side finishes the stream or the agent's
    /// [`AgentConfig::udp_idle_timeout`](crate::AgentConfig::udp_idle_timeout) passes without
    /// a datagram.
    ///
    /// # Errors
    ///
    /// As [`Gateway::open`], and [`OpenError::UdpUnsupported`] when the agent does not know
    /// version 2 headers.
    pub async fn open_udp(
        &self,
        agent: &AgentId,
        destination: Destination,
        client: SocketAddr,
    ) -> Result<TunnelStream, OpenError> {
        let result = self
            .open_protocol(agent, destination, client, Protocol::Udp)
            .await;
        if let Err(OpenError::UdpUnsupported) = &result {
            tracing::warn!(%agent, "agent too old for UDP services: it does not know version 2 tunnel headers");
        }
        result
    }

    async fn open_protocol(
        &self,
        agent: &AgentId,
        destination: Destination,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Result<TunnelStream, OpenError> {
        let result = self.try_open(agent, destination, client, protocol).await;
        let label = match &result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        handles::tunnel_opened(label);
        if let Err(e) = &result {
            tracing::debug!(%agent, %client, error = %e, "tunnel not opened");
        }
        result
    }

    async fn try_open(
        &self,
        agent: &AgentId,
        destination: Destination,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Result<TunnelStream, OpenError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.open_timeout;
        // Picked and counted under the table's lock, so concurrent opens spread.
        let (conn, slot) = {
            let agents = inner.agents();
            let entry = agents.get(agent).ok_or(OpenError::NotConnected)?;
            let member = entry.pick().ok_or(OpenError::NotConnected)?;
            let permit = Arc::clone(&entry.permits)
                .try_acquire_owned()
                .map_err(|_full| OpenError::StreamCapReached)?;
            (
                member.conn.clone(),
                Slot::new(permit, Arc::clone(&member.load)),
            )
        };
        let request_id = inner.next_request.fetch_add(1, Ordering::Relaxed);
        let header = TunnelHeader {
            protocol,
            request_id,
            destination,
            client,
        };
        let mut buf = Vec::with_capacity(64);
        encode_header(&header, &mut buf);

        let (send, recv) = timeout_at(deadline, conn.open_bi())
            .await
            .map_err(|_elapsed| OpenError::Timeout)?
            .map_err(OpenError::ConnectionLost)?;
        let token = inner.tunnels.token();
        let mut stream = TunnelStream::new(
            send,
            recv,
            Bytes::new(),
            request_id,
            Some(slot),
            Some(token),
        );
        timeout_at(deadline, stream.send.write_all(&buf))
            .await
            .map_err(|_elapsed| OpenError::Timeout)?
            .map_err(OpenError::ConnectionLost)?;
        let read = timeout_at(
            deadline,
            read_message(&mut stream.recv, REPLY_LEN, decode_status),
        )
        .await
        .map_err(|_elapsed| OpenError::Timeout)?;
        let status = match read {
            Ok((status, _)) => status,
            Err(ReadError::Io(e)) => return Err(OpenError::ConnectionLost(e)),
            Err(ReadError::Eof) => {
                return Err(OpenError::ConnectionLost(
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            Err(ReadError::Wire(_) | ReadError::TooLarge(_)) => return Err(OpenError::Protocol),
        };
        match status {
            TunnelStatus::Ok => Ok(stream),
            TunnelStatus::Denied => Err(OpenError::Denied),
            TunnelStatus::UnsupportedVersion if protocol != Protocol::Tcp => {
                Err(OpenError::UdpUnsupported)
            }
            other => Err(OpenError::Dial(other)),
        }
    }
}
