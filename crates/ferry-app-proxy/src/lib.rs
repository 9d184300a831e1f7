//! `ferry-proxy` as a library: a TCP reverse proxy with optional TLS termination. Each
//! listener sends its connections to an upstream pool (or, on TLS listeners, to a pool chosen
//! by the client's SNI); pools are [`ferry_pool`] pools; bytes are relayed by [`ferry_bridge`]:
//! splice(2) for plain TCP on Linux, the copy path when either side speaks TLS.
//!
//! **API changes in 0.1:** [`ConfigReloadError`] is `ferry_app_core::reload::ReloadError`, the
//! reload error every program shares (same variants); [`UtcClock`], [`SystemClock`] and
//! [`FixedClock`] are `ferry_app_core::clock`'s (`UtcClock` is `WallClock`); metrics are
//! named `ferry_proxy_*` (they were `ferry_*`: `ferry_connections_total` is now
//! `ferry_proxy_connections_total`, and so on); [`ProxyConfig`] gained `log_format`.
//!
//! # What it does
//!
//! - **Listeners** bound by the caller (tests bind port 0), a global connection cap, graceful
//!   drain: when the shutdown future completes, accepting stops at once and live connections
//!   get [`ProxyConfig::drain_timeout`] to finish before they are cut.
//! - **TLS termination** per listener with [`ferry_tls`] (`[listener.tls]`, or
//!   `--tls-cert`/`--tls-key`/`--tls-self-signed` through [`ProxyConfig::from_flags_tls`]):
//!   SNI certificates, ALPN, session cache and tickets (per process or shared through a key
//!   file), optional client certificates, and a handshake deadline and in-flight cap. The
//!   handshake runs in the connection's task, never in the accept loop.
//! - **SNI routing** (`routes`): exact names and `*.suffix` patterns to pools, with an optional
//!   default; no match and no default closes the connection.
//! - **Upstream pools** (`[pool.NAME]`, several per process) on [`ferry_pool`]: round robin,
//!   weighted, least connections or consistent hashing of the client address; per-attempt
//!   connect timeout and retry on the next upstream within a budget; passive ejection; active
//!   health checks (`[pool.NAME.health]`, TCP connect with optional send/expect, rise/fall);
//!   DNS re-resolution of host names. Each pool's background work runs while the proxy runs.
//! - **Re-encryption** to upstreams (`[pool.NAME.tls]`), verified against the CA you configure.
//! - **PROXY protocol**: `send_proxy = "v1" | "v2"` per pool writes a header with the client's
//!   address to each upstream connection before any client byte (and before upstream TLS);
//!   `accept_proxy = { trusted = [...] }` per listener reads a v1 or v2 header from trusted
//!   networks only (bounded size, deadline) and closes every other peer. The header's source
//!   address is the client from then on (logs, consistent hashing, the header sent upstream).
//! - **Reload** while running through a [`Reloader`] (the binary wires SIGHUP): the whole
//!   config file, validated first and swapped for new connections while live ones keep theirs
//!   ([`Reloader::reload_file`]); or the TLS certificates only ([`Reloader::reload_tls`]).
//! - **Client limits** per listener ([`ListenerLimits`], `[listener.limits]`), checked in the
//!   connection's task before the TLS handshake and before any upstream is contacted:
//!   new-connection rate per client (GCRA), open connections per client and per listener; on
//!   data, a per-client byte rate shared by all of a client's connections and a request-unit
//!   rate (each read from the client is one unit). A hit is answered with a [`LimitAction`]:
//!   close, reset, or a [`Reply`] (for example an HTTP 429 whose `{retry_after}` the limiter
//!   fills in) and close. Nothing over a limit reaches an upstream.
//! - **Access rules** ([`AccessRules`], `[listener.access]`): CIDR allow and deny lists (deny
//!   wins) and time-of-day windows in UTC read from an injectable [`UtcClock`].
//! - **Payload dump** ([`DumpConfig`], `[listener.dump]`): one file per direction per
//!   connection, written by a task behind a bounded queue so the relay never waits, plus hex
//!   logging at trace level.
//! - A **[`Report`]** of counts when the run ends, and one access-log line per connection
//!   (target `ferry::access`).
//!
//! # What it does not do
//!
//! It does not parse command lines, install signal handlers or configure logging output (the
//! `ferry-proxy` binary in `ferry-cli` does), change listener addresses or
//! `server.max_connections` on reload (those need a restart), accept PROXY headers from
//! untrusted peers, or speak HTTP. Limits are per process: they are not shared between proxy
//! instances. A limit `reply` on a TLS listener is sent in plain text (the check runs before
//! the handshake).
//!
//! # Limits in a config
//!
//! ```
//! use ferry_app_proxy::{LimitAction, ProxyConfig};
//!
//! let config = ProxyConfig::from_toml(r#"
//!     [[listener]]
//!     bind = "127.0.0.1:0"
//!     pool = "app"
//!     [listener.limits]
//!     connection_rate = "10/s"
//!     per_client_connections = 20
//!     reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\n\r\n"
//!     [listener.access]
//!     deny = ["192.0.2.0/24"]
//!     [pool.app]
//!     upstreams = ["127.0.0.1:9000"]
//! "#)?;
//! let LimitAction::Reply(reply) = &config.listeners[0].limits.action else { unreachable!() };
//! assert_eq!(&reply.render(3)[..], b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n");
//! # Ok::<(), ferry_app_proxy::ConfigError>(())
//! ```
//!
//! # Examples
//!
//! ```no_run
//! use ferry_app_proxy::{self as proxy, CertFiles, Proxy, ProxyConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProxyConfig::from_flags_tls(
//!     "127.0.0.1:8443",
//!     &["127.0.0.1:9000".to_owned()],
//!     Some(CertFiles::Files { cert: "cert.pem".into(), key: "key.pem".into() }),
//! )?;
//! let proxy = Proxy::new(config)?; // reads the PEM files, before anything is bound
//! let reloader = proxy.reloader(); // reload_tls() or reload_file(path) on SIGHUP
//! let listeners = proxy::bind_all(proxy.config())?;
//! let report = proxy
//!     .run(listeners, async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await?;
//! println!("{} TLS handshakes, {} resumed", report.tls_handshakes, report.tls_resumed);
//! # drop(reloader);
//! # Ok(()) }
//! ```
//!
//! A plain TCP proxy, built and run in one call:
//!
//! ```
//! use ferry_app_proxy::{self as proxy, ProxyConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:9".to_owned()])?;
//! let listeners = proxy::bind_all(&config)?;
//! // Stops at once here; a program would wait for a signal.
//! let report = proxy::run(config, listeners, async {}).await?;
//! assert_eq!(report.accepted, 0);
//! # Ok(()) }
//! ```
//!
//! Pools from a config file, and a reload that changes the policy (live connections would
//! keep their upstreams; new ones use the new pool):
//!
//! ```
//! use ferry_app_proxy::{Policy, Proxy, ProxyConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = |policy: &str| {
//!     format!(
//!         r#"
//! [[listener]]
//! bind = "127.0.0.1:0"
//! pool = "app"
//!
//! [pool.app]
//! upstreams = ["127.0.0.1:9001", {{ address = "127.0.0.1:9002", weight = 3 }}]
//! policy = "{policy}"
//! send_proxy = "v2"
//!
//! [pool.app.health]
//! interval = "5s"
//! expect = "+OK"
//! "#
//!     )
//! };
//! let config = ProxyConfig::from_toml(&file("weighted"))?;
//! assert_eq!(config.pools["app"].settings.policy, Policy::Weighted);
//! assert!(config.explain().contains("policy=weighted"));
//! let proxy = Proxy::new(config)?;
//! let reloader = proxy.reloader();
//! let done = reloader.reload_config(ProxyConfig::from_toml(&file("least_connections"))?)?;
//! assert_eq!((done.pools_built, done.pools_stopped), (1, 1));
//! let pool = reloader.pool("app").expect("the pool exists");
//! assert_eq!(pool.config().policy, Policy::LeastConnections);
//! # Ok(()) }
//! ```

mod admission;
mod clock;
pub mod config;
mod conn;
mod dump;
mod guard;
mod listener;
mod metrics;
mod pool;
mod proxy;
mod refuse;
mod reload;
mod report;
mod route;
mod runtime;
mod throttle;
mod upstream;

use std::future::Future;

use tokio::net::TcpListener;

pub use self::clock::{FixedClock, SystemClock, UtcClock};
pub use self::config::{
    AcceptProxy, AccessRules, CertFiles, ClientCa, DataRate, DumpConfig, LimitAction,
    ListenerConfig, ListenerLimits, ListenerTls, NamePattern, PoolConfig, ProxyConfig, Reply,
    Route, SniCert, TimeWindow, UpstreamTls,
};
pub use self::proxy::Proxy;
pub use self::reload::{ConfigReloadError, ConfigReloaded, ReloadError, ReloadOutcome, Reloader};
pub use self::report::Report;
pub use ferry_app_core::{AppError, ConfigError};
pub use ferry_front::proxy_protocol::Version as ProxyProtocolVersion;
pub use ferry_pool::{self, AllDown, ConnectError, Policy, Target, Upstream};

/// Builds a [`Proxy`] from `config` and runs it on `listeners` until `shutdown` completes, then
/// drains. See [`Proxy::new`] and [`Proxy::run`]; use them directly to report certificate errors
/// before binding or to reload certificates.
///
/// # Errors
///
/// [`AppError::Config`] when a certificate, key or CA file cannot be used,
/// [`AppError::ListenerCount`] when the number of listeners does not match the config.
///
/// # Cancel safety
///
/// As [`Proxy::run`].
pub async fn run(
    config: ProxyConfig,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<Report, AppError> {
    Proxy::new(config)?.run(listeners, shutdown).await
}

/// Binds every listener of a proxy config, in order.
///
/// # Errors
///
/// [`AppError::Bind`] for the first address that cannot be bound.
pub fn bind_all(config: &ProxyConfig) -> Result<Vec<TcpListener>, AppError> {
    config
        .listeners
        .iter()
        .map(|l| {
            ferry_app_core::listen::bind_tcp_with(
                l.bind,
                ferry_app_core::listen::BindOptions::reuse_port(l.reuse_port),
            )
        })
        .collect()
}

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
