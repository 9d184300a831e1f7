//! The reverse tunnel's gateway front end and its configuration model.
//!
//! **What it does:**
//! - [`ClientFront`]: the gateway's client side, an HTTP CONNECT proxy (plain or TLS) where the
//!   `Proxy-Authorization: Basic` username is the agent id and the password a client token or
//!   JWT (verified with `ferry-auth`); status codes, limits and order of checks in [`front`];
//!   metrics in [`metrics`]; an access-log line per connection (target `ferry::access`);
//! - [`TunnelOpener`]: the seam to the tunnel transport; the gateway implements it over its
//!   agent connections;
//! - [`cluster`]: several gateways: [`RoutedOpener`] serves agents connected here locally and
//!   forwards the others to their owner gateway (found in a `ferry-registry` registry) over
//!   TLS; [`PeerFront`] is the owner's inter-gateway listener (shared gateway credential,
//!   local opens only);
//! - [`config`]: the gateway's and the agent's TOML configuration, validated, failing closed
//!   (no credentials and no explicit `insecure_no_auth` is an error).
//!
//! **What it does not do:** speak QUIC or hold agent connections (that is `ferry-tunnel`), parse
//! command lines, install signal handlers or a metrics exporter (`ferry-cli`), or read key and
//! token files during validation (the config holds paths; loading is a separate step).
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

pub mod clock;
pub mod cluster;
pub mod config;
pub mod front;
pub mod metrics;
mod opener;

pub use clock::{FixedClock, SharedClock, SystemClock, UnixClock};
pub use cluster::{PeerFront, RoutedOpener};
pub use front::{ClientFront, FrontConfig, FrontLimits, FrontStats};
pub use opener::{OpenFailure, TunnelOpener};
