//! Which transport carries an agent's connection.

use std::fmt;
use std::str::FromStr;

/// The transport an agent uses to reach the gateway ([`AgentConfig::transport`](crate::AgentConfig::transport)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// QUIC first; TCP when QUIC has not connected and authenticated within
    /// [`AgentConfig::fallback_after`](crate::AgentConfig::fallback_after). While on TCP,
    /// QUIC is probed every [`AgentConfig::quic_retry`](crate::AgentConfig::quic_retry) and
    /// used again from the next connection once a probe succeeds. The default.
    #[default]
    Auto,
    /// QUIC only (UDP).
    Quic,
    /// TLS 1.3 over TCP only, tunnels multiplexed as HTTP/2 streams.
    Tcp,
}

impl Transport {
    /// `auto`, `quic` or `tcp`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Quic => "quic",
            Self::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A transport name that is not `auto`, `quic` or `tcp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?} (expected auto, quic or tcp)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "quic" => Ok(Self::Quic),
            "tcp" => Ok(Self::Tcp),
            other => Err(UnknownTransport(other.to_owned())),
        }
    }
}

/// The transport a live connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// QUIC over UDP.
    Quic,
    /// TLS 1.3 over TCP with HTTP/2 streams.
    Tcp,
}

impl TransportKind {
    /// `quic` or `tcp` (the `transport` label of the metrics).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Quic => "quic",
            Self::Tcp => "tcp",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
