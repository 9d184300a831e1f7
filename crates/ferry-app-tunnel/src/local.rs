//! The local [`TunnelOpener`]: tunnels through agents connected to this gateway's QUIC
//! endpoint (`ferry_tunnel::Gateway::open`).

use std::net::SocketAddr;

use ferry_tunnel::{AgentId, Destination, Gateway, OpenError, TunnelStatus, TunnelStream};

use crate::opener::{OpenFailure, TunnelOpener};

/// Opens tunnels on this gateway's agent connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalOpener {
    gateway: Gateway,
}

impl LocalOpener {
    /// An opener over `gateway`.
    #[must_use]
    pub fn new(gateway: Gateway) -> Self {
        Self { gateway }
    }

    /// The tunnel gateway.
    #[must_use]
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

/// The client-facing failure for a transport error (and so the status the front answers):
///
/// | [`OpenError`] | [`OpenFailure`] | status |
/// |---|---|---|
/// | `NotConnected` | `AgentNotConnected` | 503 |
/// | `StreamCapReached` | `Overloaded` | 503 |
/// | `Denied` | `Denied` | 403 |
/// | `Dial(Timeout)`, `Timeout` | `Timeout` | 504 |
/// | `Dial(Unavailable)` (agent draining or full) | `Overloaded` | 503 |
/// | `Dial(other)` (DNS failure, refused, unreachable, ...) | `DialFailed` | 502 |
/// | `ConnectionLost`, `Protocol` | `Transport` | 502 |
/// | `UdpUnsupported` (agent too old for UDP tunnels) | `UdpUnsupported` | 502 |
#[must_use]
pub fn open_failure(error: &OpenError) -> OpenFailure {
    match error {
        OpenError::NotConnected => OpenFailure::AgentNotConnected,
        OpenError::StreamCapReached | OpenError::Dial(TunnelStatus::Unavailable) => {
            OpenFailure::Overloaded
        }
        OpenError::Denied | OpenError::Dial(TunnelStatus::Denied) => OpenFailure::Denied,
        OpenError::Timeout | OpenError::Dial(TunnelStatus::Timeout) => OpenFailure::Timeout,
        OpenError::Dial(status) => OpenFailure::DialFailed(status.label().to_owned()),
        OpenError::UdpUnsupported => OpenFailure::UdpUnsupported,
        OpenError::ConnectionLost(_) | OpenError::Protocol => {
            OpenFailure::Transport(ferry_app_core::error::error_line(error))
        }
        // A variant added later: the conservative answer.
        _ => OpenFailure::Transport(error.to_string()),
    }
}

impl TunnelOpener for LocalOpener {
    type Stream = TunnelStream;

    async fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<TunnelStream, OpenFailure> {
        self.gateway
            .open(agent, destination.clone(), client)
            .await
            .map_err(|e| open_failure(&e))
    }

    async fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<TunnelStream, OpenFailure> {
        self.gateway
            .open_udp(agent, destination.clone(), client)
            .await
            .map_err(|e| open_failure(&e))
    }
}
