//! Reverse-tunnel transport over QUIC (quinn; rustls on aws-lc-rs), or over TLS 1.3 + HTTP/2 on TCP where UDP
//! is blocked: an agent inside a private network holds one authenticated connection to a
//! gateway, and the gateway opens a stream on it for every client tunnel; the agent connects
//! to the destination and relays bytes.
//!
//! # What it does
//!
//! - [`wire`]: the wire format, sans-IO (no tokio in it): the agent's auth message and the
//!   gateway's reply on the first stream, the per-tunnel header (request id, destination,
//!   original client) and the agent's status. Byte tables in [`spec`].
//! - [`Gateway`]: accepts agents on a quinn endpoint ([`Gateway::run`]), authenticates each
//!   within one deadline and a size cap *before* creating any per-agent state (through your
//!   [`AgentVerifier`]), keeps one live connection per [`AgentId`] (a newer authenticated
//!   connection replaces the older one), opens tunnels ([`Gateway::open`] returns a
//!   [`TunnelStream`], `AsyncRead + AsyncWrite` with half-close), caps tunnels per agent and
//!   the QUIC flow-control windows, drains on shutdown, and tells an optional
//!   [`AgentEvents`] observer when agents connect and disconnect (in order, once each).
//!   [`Gateway::revalidate`] checks every connected agent's credential again (after the data
//!   behind the verifier changed, e.g. a reloaded token file) and disconnects the revoked ones
//!   ([`Revalidated`]); the agent endpoint's certificate is swapped for new connections with
//!   [`Gateway::server_config`] and `quinn::Endpoint::set_server_config`. Client
//!   certificates (mTLS): the agent's TLS chain is handed to
//!   [`AgentVerifier::verify_with_certificates`] at authentication and at every revalidation;
//!   an agent presents one from [`AgentConfig::client_cert`], and when the gateway refuses it
//!   the agent's error says so in plain words.
//! - UDP tunnels: [`Gateway::open_udp`] opens a tunnel whose stream carries datagram frames
//!   (header version 2; [`wire::encode_datagram`], [`udp::DatagramStream`]); the agent checks
//!   the destination as for TCP, relays each datagram through a UDP socket connected to the
//!   checked address and ends the flow after [`AgentConfig::udp_idle_timeout`] (60 s) without
//!   a datagram. Datagrams up to [`MAX_DATAGRAM`] (65,507) bytes cross whole, reliable and
//!   ordered within a flow.
//!   [`Gateway::run_tcp`] accepts agents on the **TCP transport** ([`TcpEndpoint`]: TLS 1.3,
//!   the same authentication on the TLS stream, then HTTP/2 with one stream per tunnel and
//!   the gateway as the HTTP/2 client); everything above holds across both transports (one
//!   live connection per agent id, caps, statuses, half-close, keep-alive, drain).
//! - [`Agent`]: connects to the gateway with ALPN `ferry-tunnel/1`, authenticates, serves
//!   tunnels (allowlist and special-address check, resolve once, dial exactly the checked
//!   address with a timeout, status, `ferry-bridge` relay), reconnects with exponential
//!   back-off and full jitter ([`Backoff`]), drains on shutdown. [`Agent::update`] replaces
//!   its settings while it runs (allowlist, CA roots, credential, timeouts, back-off, QUIC
//!   settings, even the gateway): they apply from the next tunnel, connection attempt or
//!   delay, and the live connection and its tunnels are not touched. Its
//!   [`AgentConfig::transport`] is [`Transport::Auto`] by default: QUIC, falling back to TCP
//!   when QUIC has not connected within [`AgentConfig::fallback_after`] (3 s), probing QUIC
//!   again every [`AgentConfig::quic_retry`] (5 min) while on TCP; the TCP connection is
//!   opened through a [`TcpDialer`] (the seam for an egress proxy). [`AgentStatus`] says which
//!   transport is in use and why.
//! - Metrics through the `metrics` facade, names in [`metrics`] (the gateway half's start
//!   with `ferry_tunnel_`, the agent half's with `ferry_agent_`);
//!   [`metrics::describe_gateway_metrics`] and [`metrics::describe_agent_metrics`] register
//!   their HELP text.
//!
//! # API changes
//!
//! - The TCP transport: [`Gateway::run_tcp`], [`Gateway::bind_tcp`], [`TcpEndpoint`],
//!   [`Gateway::agent_transport`], [`Agent::run_tcp`]; [`AgentConfig`] gains `transport`,
//!   `gateway_tcp`, `fallback_after`, `quic_retry` and `tcp_dialer`; [`AgentStatus`] gains
//!   `transport`, `transport_reason`, `fallbacks` and `quic_probes_ok`. The gateway's
//!   `ferry_tunnel_agents_connected` and `ferry_tunnel_agent_auth_total` and the agent's
//!   `ferry_agent_connects_total` gain a `transport` label.
//! - [`Agent::config`] returns an `Arc<AgentConfig>` (the settings in force, which
//!   [`Agent::update`] can replace) instead of a reference; [`AgentStatus::updates`] counts the
//!   updates.
//! - The agent's metrics were renamed from `ferry_tunnel_agent_connects_total{result}` and
//!   `ferry_tunnel_agent_tunnels_total{status}` to `ferry_agent_connects_total{kind, result}`
//!   and `ferry_agent_tunnels_total{status}`, and the agent records more (`ferry_agent_*`, see
//!   [`metrics`]).
//!
//! # What it does not do
//!
//! It does not check credentials itself (the application's [`AgentVerifier`] does, for example
//! with `ferry-auth`), does not speak HTTP CONNECT or any client-facing protocol, does not
//! apply the gateway's own allowlist (check a destination before [`Gateway::open`]), does not
//! load certificates or keys (bring rustls configs built on [`ferry_tls::provider()`], whose
//! default offers the post-quantum hybrid `X25519MLKEM768` key exchange first), and does not
//! keep agent ownership across gateways (`ferry-registry` does; wire it to [`AgentEvents`]). It
//! never reads the wall clock except for the verifier's `now_unix` (replace it with
//! [`GatewayBuilder::clock`]).
//!
//! `quinn` is re-exported ([`quinn`]) so that applications can hold endpoints without
//! depending on it themselves.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | auth deadline (handshake + auth message, total), both ends | 10 s |
//! | auth message size cap | [`MAX_AUTH_LEN`] = 8260 bytes (credential ≤ 8192) |
//! | concurrent unauthenticated connections (gateway) | 1024, then refused |
//! | open timeout (gateway waits for the agent's status) | 10 s |
//! | tunnels per agent | 1024 (gateway semaphore and the agent's QUIC stream limit) |
//! | tunnel header deadline (agent) | 10 s |
//! | dial timeout (agent: resolve + connect) | 5 s |
//! | keep-alive / idle timeout | 10 s / 30 s (TCP transport: HTTP/2 `PING`) |
//! | agent transport | auto: QUIC, TCP after 3 s without QUIC, QUIC probed every 5 min while on TCP |
//! | stream / connection receive window | 2 MiB / 16 MiB |
//! | tunnel idle / half-close linger (agent bridge) | 5 min / 30 s |
//! | reconnect back-off | full jitter in `[0, min(30 s, 500 ms · 2^n)]` |
//! | drain timeout | 30 s |
//! | UDP tunnel idle timeout (agent) | 60 s |
//! | largest datagram on a UDP tunnel | 65,507 bytes |
//!
//! # Example
//!
//! A gateway and an agent in one process, one tunnel to a local echo server:
//!
//! ```
//! # use std::sync::Arc;
//! use ferry_tunnel::{
//!     Agent, AgentConfig, AgentId, AgentRejected, Credential, Destination, Gateway,
//!     GatewayConfig,
//! };
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Certificates: a self-signed one here; use your CA in production.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
//! // aws-lc-rs, X25519MLKEM768 first, then X25519, secp256r1, secp384r1.
//! let provider = ferry_tls::provider(ferry_tls::KeyExchange::PostQuantum);
//! let tls = rustls::ServerConfig::builder_with_provider(provider)
//!     .with_protocol_versions(&[&rustls::version::TLS13])?
//!     .with_no_client_auth()
//!     .with_single_cert(
//!         vec![cert.cert.der().clone()],
//!         rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()).into(),
//!     )?;
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.cert.der().clone())?;
//!
//! // The gateway accepts agent "site-1" with token "s3cret".
//! let verify = |id: &AgentId, token: &str, _now: u64| {
//!     if id.as_str() == "site-1" && token == "s3cret" { Ok(()) } else { Err(AgentRejected::BadCredential) }
//! };
//! let gateway = Gateway::new(GatewayConfig::default(), verify);
//! let endpoint = gateway.bind("127.0.0.1:0".parse()?, tls)?;
//! let gateway_addr = endpoint.local_addr()?;
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let g = gateway.clone();
//! let gateway_task = tokio::spawn(async move { g.run(endpoint, async { let _ = stop_rx.await; }).await });
//!
//! // An echo server the agent may reach.
//! let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let echo_addr = echo.local_addr()?;
//! tokio::spawn(async move {
//!     let (mut s, _) = echo.accept().await?;
//!     let (mut r, mut w) = s.split();
//!     tokio::io::copy(&mut r, &mut w).await?;
//!     w.shutdown().await
//! });
//!
//! // The agent, allowed to reach 127.0.0.1 only.
//! let id = AgentId::new("site-1")?;
//! let allow = Arc::new(ferry_allow::Allowlist::parse("127.0.0.1")?);
//! let config = AgentConfig::new(gateway_addr, "localhost", Arc::new(roots), id.clone(), Credential::new("s3cret")?, allow);
//! let agent = Arc::new(Agent::new(config)?);
//! let mut status = agent.status();
//! let a = Arc::clone(&agent);
//! let client_endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
//! let (agent_stop_tx, agent_stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let agent_task = tokio::spawn(async move { a.run(client_endpoint, async { let _ = agent_stop_rx.await; }).await });
//! status.wait_for(|s| s.connected).await?;
//!
//! // A tunnel: write, half-close, read the echo back.
//! let client = "192.0.2.7:50000".parse()?;
//! let mut tunnel = gateway.open(&id, Destination::try_from(echo_addr)?, client).await?;
//! tunnel.write_all(b"hello").await?;
//! tunnel.shutdown().await?;
//! let mut back = Vec::new();
//! tunnel.read_to_end(&mut back).await?;
//! assert_eq!(back, b"hello");
//!
//! drop(tunnel);
//! let _ = agent_stop_tx.send(());
//! agent_task.await?;
//! let _ = stop_tx.send(());
//! gateway_task.await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! None.

#![doc(test(attr(deny(warnings))))]
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod agent;
mod agent_id;
mod backoff;
mod dialer;
mod events;
// Fuzz harnesses: a panic there is a finding, so they may index what they built.
#[allow(clippy::indexing_slicing)]
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod halves;
pub mod metrics;
mod quic;
mod read;
mod stream;
mod tcp;
mod transport;
pub mod udp;
mod verifier;
pub mod wire;

pub use agent::{Agent, AgentConfig, AgentStatus, DEFAULT_TCP_CONNECTIONS};
pub use agent_id::{AgentId, AgentIdError, MAX_AGENT_ID_LEN};
pub use backoff::Backoff;
pub use dialer::{DialFuture, DirectDialer, SharedTcpDialer, TcpDialer};
pub use events::AgentEvents;
pub use gateway::{
    Gateway, GatewayBuilder, GatewayConfig, GatewayError, OpenError, Revalidated, TcpEndpoint,
};
pub use quic::{
    QuicConfigError, QuicSettings, bind_endpoint, client_crypto, server_crypto, transport_config,
};
pub use quinn;
pub use stream::TunnelStream;
pub use transport::{Transport, TransportKind, UnknownTransport};
pub use verifier::{AgentRejected, AgentVerifier};
pub use wire::{
    AuthReply, Credential, DestHost, Destination, MAX_AUTH_LEN, MAX_DATAGRAM, MAX_HEADER_LEN,
    Protocol, RejectReason, TunnelHeader, TunnelStatus, WireError,
};

// The normative wire specification, kept inside the crate so that it is packaged and rendered
// on docs.rs; `docs/wire/tunnel.md` at the repository root points here.
#[doc = include_str!("../docs/tunnel.md")]
pub mod spec {}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
