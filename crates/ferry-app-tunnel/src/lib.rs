//! The reverse tunnel's programs: the gateway (QUIC endpoint for agents, HTTP CONNECT front
//! for clients, optional cluster routing) and the agent, their parts and their configuration.
//!
//! **What it does:**
//! - [`gateway`]: [`gateway::bind`] loads every file and binds every socket of a
//!   [`config::GatewayConfig`] (port 0 works; [`gateway::BoundGateway`] tells the addresses),
//!   [`gateway::BoundGateway::run`] serves until shutdown and drains; with `[cluster]` it
//!   wires [`RoutedOpener`], [`PeerFront`] and a `ferry_registry::Keeper` driven by the
//!   tunnel's `AgentEvents`; [`gateway::BoundGateway::reloader`] gives the
//!   [`gateway::Reloader`] (SIGHUP: the new config validated first, then swapped in for new
//!   connections; listen addresses and `[cluster]` changes refused as needing a restart; revoked
//!   agents disconnected through `ferry_tunnel::Gateway::revalidate`, revoked clients' live
//!   tunnels cut with [`RevokedClientTunnels::Cut`]); [`gateway::check`] loads every file a
//!   config names without binding and returns [`config::GatewayConfig::explain`]; the admin
//!   endpoint is `ferry_app_core::admin::start`, with HELP texts from
//!   [`metrics::describe_metrics`];
//! - [`agent`]: [`agent::AgentApp`] loads a [`config::AgentConfig`] (secret from a file or the
//!   environment, CA file, gateway name resolved) and runs `ferry_tunnel::Agent`;
//!   [`agent::AgentReloader`] reloads it while it runs (validated first, the live connection
//!   kept), [`agent::check()`] loads a config without connecting and explains it
//!   ([`config::AgentConfig::explain`]), [`agent::describe_metrics`] describes its
//!   `ferry_agent_*` metrics;
//! - [`AgentAuth`]: agent credentials (`ferry-auth`, role `agent`, the JWT `agent_id` claim
//!   equal to the presented id) behind `ferry-tunnel`'s verifier hook; clones share the
//!   authenticator, which [`AgentAuth::replace`] swaps at a reload;
//! - [`LocalOpener`]: the [`TunnelOpener`] over `ferry_tunnel::Gateway::open`, with every
//!   transport error mapped to the status the client gets ([`open_failure`]);
//! - [`ClientFront`]: the gateway's client side, an HTTP CONNECT proxy (plain or TLS) where the
//!   `Proxy-Authorization: Basic` username is the agent id and the password a client token or
//!   JWT (verified with `ferry-auth`); status codes, limits and order of checks in [`front`];
//!   metrics in [`metrics`]; an access-log line per connection (target `ferry::access`);
//!   [`ClientFront::reload`] swaps its settings, credentials and TLS acceptor for new
//!   connections (limiter state kept when the limits are unchanged);
//! - [`service`]: TCP services (`[[service]]`): a public port forwarded, without CONNECT and
//!   without a client credential, through an agent to one destination, with the front's
//!   opener (so through the owner gateway with `[cluster]`), `allow_from`, per-source limits,
//!   `send_proxy`, an access-log line and `ferry_gateway_service_*` metrics per connection;
//!   added, removed and changed by a reload;
//! - [`TunnelOpener`]: the seam to the tunnel transport; the gateway implements it over its
//!   agent connections;
//! - [`cluster`]: several gateways: [`RoutedOpener`] serves agents connected here locally and
//!   forwards the others to their owner gateway (found in a `ferry-registry` registry) over
//!   TLS; [`PeerFront`] is the owner's inter-gateway listener (shared gateway credential,
//!   local opens only);
//! - [`config`]: the gateway's and the agent's TOML configuration, validated, failing closed
//!   (no credentials and no explicit `insecure_no_auth` is an error).
//!
//! **API changes:** [`config::AgentConfig`] gained `metrics` (the agent's admin endpoint);
//! [`agent::AgentApp::reloader`], [`agent::AgentReloader`], [`agent::check()`],
//! [`agent::describe_metrics`] and [`config::AgentConfig::explain`] are new.
//! [`TunnelOpener::open`] takes the typed [`ferry_tunnel::AgentId`] and
//! [`ferry_tunnel::Destination`], parsed once at the client front and the peer listener
//! (before, `&str` agent, host and port, parsed again by every opener). The clock is the one
//! every program shares ([`UnixClock`] is `ferry_app_core::clock::WallClock`; its
//! `unix_secs` replaced `now_unix`). `cluster::Forwarded` is a `ferry_base::io::Prefixed`
//! stream. Both configs gained `log_format`. Client certificates (mTLS):
//! [`config::GatewayAuth`] gained `agent_mode` ([`config::AgentAuthMode`]) and `agent_certs`,
//! [`config::GatewayConfig`] `client_certs` ([`config::ClientCertSettings`]),
//! [`config::AgentConfig`] `client_cert` ([`config::ClientCertFiles`]), [`config::AgentFlags`]
//! `tls_cert` / `tls_key`; [`gateway::load::acceptor_with`] and [`AgentAuth::with_mode`] and [`AgentAuth::replace_with_mode`] are new.
//!
//! **What it does not do:** speak QUIC itself (that is `ferry-tunnel`), parse command lines
//! or install signal handlers (`ferry-cli`), or read key and token files during validation
//! (the config holds paths; [`gateway::bind`], [`gateway::check`], [`gateway::Reloader`] and
//! [`agent::AgentApp::load`] read them).
//!
//! # Example
//!
//! ```
//! use ferry_app_tunnel::config::GatewayConfig;
//!
//! let config = GatewayConfig::from_toml(r#"
//!     listen = "127.0.0.1:8080"
//!     agent_listen = "127.0.0.1:4433"
//!     allow = ["*.internal:443", "10.0.0.0/8:22"]
//!     [tls]
//!     cert = "gateway.pem"
//!     key = "gateway.key"
//!     [auth]
//!     tokens = "/etc/ferry/tokens"
//! "#)?;
//! assert_eq!(config.listen.port(), 8080);
//! assert_eq!(config.front.header_timeout.as_secs(), 10);
//!
//! // Fails closed: no credentials configured.
//! let err = GatewayConfig::from_toml(r#"
//!     listen = "127.0.0.1:8080"
//!     agent_listen = "127.0.0.1:4433"
//!     allow = ["*.internal:443"]
//!     [tls]
//!     self_signed = true
//! "#).unwrap_err();
//! assert!(err.to_string().starts_with("invalid value for `auth`"), "{err}");
//! # Ok::<(), ferry_app_core::ConfigError>(())
//! ```

pub mod agent;
pub mod clock;
pub mod cluster;
pub mod config;
mod destination;
pub mod front;
pub mod gateway;
mod local;
pub mod metrics;
mod opener;
pub mod service;
mod verify;

pub use clock::{FixedClock, SharedClock, SystemClock, UnixClock};
pub use cluster::{PeerFront, RoutedOpener};
pub use front::{
    ClientFront, FrontConfig, FrontLimits, FrontReloaded, FrontStats, RevokedClientTunnels,
};
pub use local::{LocalOpener, open_failure};
pub use opener::{OpenFailure, TunnelOpener};
pub use verify::AgentAuth;

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
