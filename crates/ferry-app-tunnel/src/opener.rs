//! The tunnel behind the front: opening a byte stream to a destination through an agent.

use std::future::Future;
use std::net::SocketAddr;

use ferry_tunnel::{AgentId, Destination};
use tokio::io::{AsyncRead, AsyncWrite};

/// Opens tunnels: the gateway implements it over its agent connections (`ferry-tunnel`'s
/// `Gateway::open`); tests implement it by dialing locally.
///
/// The front has already authenticated the client for `agent` and checked the destination
/// against the gateway's allowlist; the agent checks again. The front bounds `open` with its
/// own open timeout ([`FrontConfig::open_timeout`](crate::FrontConfig::open_timeout)).
pub trait TunnelOpener: Send + Sync + 'static {
    /// The tunnel's byte stream, bridged with the client after the `200` reply.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a tunnel through `agent` to `destination` for the client at `client`. Both are
    /// parsed once, at the front (before 0.1 they were passed as strings and parsed again
    /// here).
    fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> impl Future<Output = Result<Self::Stream, OpenFailure>> + Send;

    /// Opens a UDP tunnel (one flow, for the client address `client`) through `agent` to
    /// `destination`: the stream carries datagram frames ([`ferry_tunnel::udp`]) both ways.
    /// An opener that cannot answers [`OpenFailure::UdpUnsupported`].
    fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> impl Future<Output = Result<Self::Stream, OpenFailure>> + Send;
}

/// Why a tunnel could not be opened, and the status the client is answered with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenFailure {
    /// No live connection from that agent: `503`.
    #[error("agent is not connected")]
    AgentNotConnected,
    /// The agent refused the destination (its own allowlist or the special-address set): `403`.
    #[error("agent refused the destination")]
    Denied,
    /// The agent could not connect to the destination (refused, unreachable, no such name):
    /// `502`. The text is the agent's reason, for logs only.
    #[error("agent could not connect to the destination: {0}")]
    DialFailed(String),
    /// The agent's connect timed out, or the tunnel did not open in time: `504`.
    #[error("tunnel did not open in time")]
    Timeout,
    /// The agent or the gateway has no capacity for another tunnel: `503`.
    #[error("no capacity for another tunnel")]
    Overloaded,
    /// The agent connection failed while opening (reset, protocol error): `502`.
    #[error("agent connection failed: {0}")]
    Transport(String),
    /// A UDP tunnel was asked of an agent (or an owner gateway) that does not speak UDP
    /// tunnels: `502`.
    #[error("agent too old for UDP services")]
    UdpUnsupported,
}

impl OpenFailure {
    /// The status code answered to the client.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::AgentNotConnected | Self::Overloaded => 503,
            Self::Denied => 403,
            Self::DialFailed(_) | Self::Transport(_) | Self::UdpUnsupported => 502,
            Self::Timeout => 504,
        }
    }

    /// A short label for metrics and logs.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::AgentNotConnected => "agent_not_connected",
            Self::Denied => "agent_denied",
            Self::DialFailed(_) => "dial_failed",
            Self::Timeout => "open_timeout",
            Self::Overloaded => "overloaded",
            Self::Transport(_) => "transport_failed",
            Self::UdpUnsupported => "udp_unsupported",
        }
    }
}
