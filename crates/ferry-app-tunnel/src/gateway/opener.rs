//! The front's opener: local agents only, or routed across a cluster.

use ferry_tunnel::{AgentId, Destination};
use std::net::SocketAddr;

use ferry_tunnel::TunnelStream;

use crate::cluster::{RoutedOpener, RoutedStream};
use crate::local::LocalOpener;
use crate::opener::{OpenFailure, TunnelOpener};

/// What the gateway's client front opens tunnels with.
#[derive(Debug)]
#[non_exhaustive]
pub enum GatewayOpener {
    /// One gateway: agents connected here only.
    Local(LocalOpener),
    /// `[cluster]`: agents connected here, else forwarded to their owner gateway.
    Routed(Box<RoutedOpener<LocalOpener>>),
}

impl GatewayOpener {
    /// The local opener (and through it the tunnel gateway).
    #[must_use]
    pub fn local(&self) -> &LocalOpener {
        match self {
            Self::Local(l) => l,
            Self::Routed(r) => r.local(),
        }
    }
}

impl TunnelOpener for GatewayOpener {
    type Stream = RoutedStream<TunnelStream>;

    async fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<Self::Stream, OpenFailure> {
        match self {
            Self::Local(l) => l
                .open(agent, destination, client)
                .await
                .map(RoutedStream::Local),
            Self::Routed(r) => r.open(agent, destination, client).await,
        }
    }

    async fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<Self::Stream, OpenFailure> {
        match self {
            Self::Local(l) => l
                .open_udp(agent, destination, client)
                .await
                .map(RoutedStream::Local),
            Self::Routed(r) => r.open_udp(agent, destination, client).await,
        }
    }
}
