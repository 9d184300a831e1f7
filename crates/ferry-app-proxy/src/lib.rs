//! `ferry-proxy` as a library: a TCP reverse proxy with optional TLS termination. Each
//! listener sends its connections to an upstream pool (or, on TLS listeners, to a pool chosen
//! by the client's SNI); bytes are relayed by [`ferry_bridge`]: splice(2) for plain TCP on
//! Linux, the copy path when either side speaks TLS.
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
//! - **Re-encryption** to upstreams (`[pool.NAME.tls]`), verified against the CA you configure.
//! - **Certificate reload** while running through a [`Reloader`] (the binary wires SIGHUP).
//! - A **[`Report`]** of counts when the run ends, and one access-log line per connection
//!   (target `ferry::access`).
//!
//! # What it does not do
//!
//! It does not parse command lines, install signal handlers or configure logging output (the
//! `ferry-proxy` binary in `ferry-cli` does), reload anything but TLS certificates at run
//! time, speak HTTP, or balance by anything but round robin yet.
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
//! let reloader = proxy.reloader(); // call reloader.reload_tls() on SIGHUP
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

pub mod config;
mod conn;
mod listener;
mod metrics;
mod pool;
mod proxy;
mod reload;
mod report;
mod route;
mod upstream;

use std::future::Future;

use tokio::net::TcpListener;

pub use self::config::{
    CertFiles, ClientCa, ListenerConfig, ListenerTls, NamePattern, PoolConfig, ProxyConfig, Route,
    SniCert, UpstreamAddr, UpstreamTls,
};
pub use self::pool::ConnectError;
pub use self::proxy::Proxy;
pub use self::reload::{ReloadError, ReloadOutcome, Reloader};
pub use self::report::Report;
pub use ferry_app_core::{AppError, ConfigError};

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
        .map(|l| ferry_app_core::listen::bind_tcp(l.bind))
        .collect()
}
