//! `ferry-hop` as a library: one hop of a forward proxy chain ([`serve()`]), local access
//! fronts that send traffic over predefined chains ([`access()`]), and a chain probe
//! ([`trace()`]). The chain header is `ferry-chain`'s ([`ferry_chain::spec`]).
//!
//! # What it does
//!
//! - **serve**: reads the client's record within [`ServeConfig::handshake_timeout`], checks
//!   the next address against the hop's allowlist with `ferry-allow` (names are resolved once
//!   and every address is checked, with the special-address deny set; only a checked address
//!   is dialed), dials within [`ServeConfig::connect_timeout`], answers with a sealed status,
//!   then relays with `ferry-bridge` (`splice(2)` on Linux). Records that do not authenticate
//!   get no answer and nothing is forwarded; replayed or stale records are answered
//!   `authentication failure`. Per-client limits from `ferry-limit` (new connections per
//!   second, open connections, in-flight handshakes) and a global handshake cap keep a flood
//!   of forged headers from blocking other clients. With [`ServeConfig::udp`], datagram
//!   chains too: a capped flow table with idle expiry; no reply to datagrams that do not
//!   authenticate. Optional TLS (`ferry-tls`) on the listener ([`ServeConfig::tls`]) and
//!   towards the next hop ([`ServeConfig::next_hop_tls`]); `splice(2)` when both sides are
//!   plain TCP, the copy path otherwise.
//! - **access**: local listeners — plain TCP or UDP to a fixed destination, SOCKS5 (CONNECT,
//!   UDP ASSOCIATE, optional username/password) and HTTP CONNECT (optional Basic auth) — with
//!   routing rules per destination (direct, block, or chains) and weighted chains that fail
//!   over to the next chain when a hop reports an error.
//! - **trace**: each hop's status and the time its answer took.
//! - TOML configuration ([`ServeConfig::from_toml`], [`AccessConfig::from_toml`]) with
//!   unknown keys refused and every error naming its key; keys from a file or an environment
//!   variable, never the command line. Metrics (see the `metrics` module docs: names start
//!   with `ferry_hop_`) and one access-log line per connection (target `ferry::access`).
//! - Async glue for the `ferry-front` SOCKS5 and HTTP CONNECT servers ([`access::front`]),
//!   usable on any `AsyncRead + AsyncWrite`.
//!
//! # What it does not do
//!
//! It does not parse command lines, install signal handlers or configure logging (the
//! `ferry-hop` binary in `ferry-cli` does). Without TLS between hops the records are sealed but
//! the relayed payload is only as private as the protocol inside it; datagram chains are never
//! wrapped in TLS. No SOCKS BIND, no UDP over HTTP CONNECT. The hop does not keep per-user
//! accounts: whoever holds a key may use the hop within its allowlist.
//!
//! # Reloading and checking
//!
//! [`serve::Hop`] and [`access::Access`] run like [`serve()`] and [`access()`] (which stay as
//! thin wrappers) and hand out a `Reloader` (`reload_file`, `reload_config`; the binary calls
//! it on SIGHUP). A reload validates the whole new config first (files, keys, certificates,
//! patterns) and changes nothing when anything is wrong; a good one applies to new
//! connections while live ones keep the settings they started with and are never cut. Every
//! reload is logged and counted in `ferry_config_reloads_total{result}`.
//!
//! - **serve** reloads keys (a key removed from the file is refused from then on, a key added
//!   is accepted), the allowlist, timeouts, per-client limits, `max_connections` and
//!   `max_handshakes`, the listener's TLS certificate and the next-hop CAs. The replay guard is
//!   kept across reloads (so `replay_window` and `replay_capacity` need a restart, as does
//!   `metrics`). A changed `listen` or `udp` refuses the reload (restart to apply it).
//! - **access** reloads chains (hops, key ids, weights, TLS to hop 1), keys, routes, the
//!   listeners' credentials and a TCP listener's destination, timeouts. The number of
//!   listeners, their addresses and modes refuse the reload; `max_connections` and `metrics`
//!   keep their running values.
//!
//! [`ServeConfig::explain`] and [`AccessConfig::explain`] print a validated config with every
//! default filled in (`ferry-hop check serve|access FILE`); they never print key material.
//! [`ServeSource`] loads a hop's settings from a file or from the flags ([`ServeFlags`]), at
//! start-up and on every reload. [`describe_metrics`] gives the `ferry_hop_*` metrics their
//! help text.
//!
//! Public API added with reloads: `serve::{Hop, Reloader}`, `access::{Access, Reloader}`,
//! `ServeSource`, `ServeFlags`, `ServeConfig::metrics`, `AccessConfig::metrics` (the
//! `metrics = "ADDR"` key), `AccessConfig::require_listeners`, the `explain` methods and
//! `describe_metrics`. [`ServeConfig::clock`] is now the shared
//! `ferry_app_core::clock::SharedClock` (it was a `fn() -> u64`); both configs gained
//! `log_format`. The serve and access loops run on `ferry_app_core::serve::Server`, and the
//! plain-or-TLS stream they relay is `ferry_app_core::stream::Stream`.
//!
//! # Example
//!
//! ```
//! use ferry_allow::Allowlist;
//! use ferry_app_hop::{ServeConfig, serve};
//! use ferry_chain::{HopKey, KeyId, Keyring};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = Keyring::new([HopKey::new(KeyId(1), [7; 32])])?; // from a key file in practice
//! let config = ServeConfig::new("127.0.0.1:0".parse()?, keys, Allowlist::parse("*.example.com:443")?);
//! let (listener, udp) = serve::bind(&config)?;
//! // Stops at once here; a program would wait for a signal.
//! let report = serve::serve(config, listener, udp, async {}).await?;
//! assert_eq!(report.accepted, 0);
//! # Ok(()) }
//! ```

pub mod access;
pub mod config;
mod metrics;
pub mod serve;

pub mod trace;

pub use self::access::{AccessReport, access};
pub use self::config::{
    AccessConfig, AccessFlags, AccessListener, AccessMode, ChainConfig, KeySource, RouteAction,
    RouteRule, ServeConfig, ServeFlags, ServeSource, UserPass,
};
pub use self::metrics::describe_metrics;
pub use self::serve::{ServeReport, serve};
pub use self::trace::{HopTrace, trace};
pub use ferry_app_core::{AppError, ConfigError};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
