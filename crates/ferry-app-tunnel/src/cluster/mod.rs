//! Several gateways: routing a client to the gateway its agent is connected to.
//!
//! - [`RoutedOpener`] wraps the gateway's local opener: agents connected here are served
//!   locally; others are looked up in the shared [`ferry_registry::Registry`] and the tunnel
//!   is forwarded to the owner with a [`Forwarder`];
//! - [`PeerFront`] is the owner's inter-gateway listener (TLS only, shared
//!   [`GatewayCredential`]); it opens only through the local opener, so a tunnel crosses at
//!   most one hop between gateways;
//! - ownership itself (claim, heartbeat, release) is [`ferry_registry::Keeper`], driven by the
//!   agent connections.
//!
//! # The forward request
//!
//! Over TLS to the owner's `advertise` address (normative text in `docs/wire/registry.md`):
//!
//! ```text
//! CONNECT <host:port> HTTP/1.1
//! Host: <host:port>
//! Proxy-Authorization: Basic base64("ferry-gateway:" <shared credential>)
//! Ferry-Agent: <agent id>
//! Ferry-Client: <client ip:port>
//! Ferry-Via: <forwarding gateway's instance id, 32 hex digits>
//! Ferry-Protocol: udp              (only for a UDP service's flow)
//! ```
//!
//! The owner answers like the client front (`200`, then raw bytes; `403`, `502`, `503`,
//! `504`, ...). For a UDP flow its `200` carries `Ferry-Protocol: udp` and the bytes after it
//! are datagram frames; a `200` without it (an owner older than UDP services) is dropped and
//! the flow fails as `udp_unsupported`. `503` with `Ferry-Reason: agent-not-connected` means the agent is not
//! connected there: the forwarder's record was stale.
//!
//! # Metrics
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ferry_gateway_registry_failures_total` | counter | `op` (`lookup`, `forget_stale`) |
//! | `ferry_gateway_peer_replies_total` | counter | `code` |
//! | `ferry_gateway_peer_auth_failures_total` | counter | none |

mod credential;
mod forward;
mod peer;
mod routed;

pub use credential::{
    CredentialError, GatewayCredential, MAX_CREDENTIAL_LEN, MIN_CREDENTIAL_LEN, PEER_USERNAME,
};
pub use forward::{
    DEFAULT_FORWARD_CONNECT_TIMEOUT, DEFAULT_FORWARD_REPLY_TIMEOUT, ForwardConfig, Forwarded,
    Forwarder,
};
pub use peer::{PEER_REALM, PeerConfig, PeerFront};
pub use routed::{DEFAULT_LOOKUP_TIMEOUT, RoutedOpener, RoutedStream};

/// Request field carrying the agent id.
pub const AGENT_HEADER: &str = "Ferry-Agent";
/// Request field carrying the client's address.
pub const CLIENT_HEADER: &str = "Ferry-Client";
/// Request field naming the forwarding gateway (logs only).
pub const VIA_HEADER: &str = "Ferry-Via";
/// Request field asking for a UDP tunnel (`udp`; absent: TCP); the owner's `200` repeats it to
/// confirm (an owner that does not know it would have opened a TCP tunnel, so the forwarder
/// drops a UDP forward whose reply lacks it).
pub const PROTOCOL_HEADER: &str = "Ferry-Protocol";
/// Reply field explaining a `503`.
pub const REASON_HEADER: &str = "Ferry-Reason";
/// [`REASON_HEADER`] value: the agent is not connected to this gateway.
pub const AGENT_NOT_CONNECTED: &str = "agent-not-connected";

fn registry_failure(op: &'static str) {
    metrics::counter!("ferry_gateway_registry_failures_total", "op" => op).increment(1);
}

fn peer_reply(code: u16) {
    metrics::counter!("ferry_gateway_peer_replies_total", "code" => code.to_string()).increment(1);
}

fn peer_auth_failure() {
    metrics::counter!("ferry_gateway_peer_auth_failures_total").increment(1);
}
