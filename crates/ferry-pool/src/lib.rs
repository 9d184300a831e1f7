//! Upstream pools for Ferry: pick an upstream for each client connection, connect with a
//! timeout and retry on the next upstream within a total budget, and keep track of which
//! upstreams are healthy.
//!
//! # What it does
//!
//! - Targets are addresses or host names ([`Target::parse`]: `IP:PORT`, `[V6]:PORT`,
//!   `HOST:PORT`). Each address a host resolves to is one *endpoint*; host targets are resolved
//!   on first use and re-resolved every [`PoolConfig::dns_interval`] (30 s) through a
//!   [`Resolver`] (default [`SystemResolver`]). A failed or empty answer keeps the previous
//!   addresses and logs a warning. Answers are de-duplicated and sorted, so endpoint order is
//!   stable and a reordered answer is no change.
//! - Load-balancing [`Policy`]: round robin, smooth weighted round robin, least connections
//!   (per unit of weight, ties round robin) and consistent hashing of the client address on a
//!   ring of virtual nodes (IPv6 clients keyed by /64). The selection core ([`Selector`]) is
//!   pure: no I/O, no clock.
//! - [`Pool::connect`] tries one endpoint after another (never the same one twice) with a
//!   per-attempt timeout (5 s) inside a total budget (10 s); the error lists every attempt.
//!   [`Connected::upstream`] says which configured upstream the endpoint belongs to.
//! - Passive ejection ([`Ejection`], on by default): 5 consecutive connect failures eject an
//!   endpoint for 10 s; after that it is on probation and one more failure ejects it for twice
//!   as long (up to 5 min), one success clears it. An attempt cut short by the end of the
//!   budget (before its own timeout) is not held against its endpoint.
//! - Active health checks ([`HealthCheck`], off by default): TCP connect, optionally send
//!   bytes and expect a prefix back, every 5 s with a 2 s timeout; down after 3 consecutive
//!   failures, up after 2 consecutive successes. Probe sockets close with RST (`SO_LINGER` 0)
//!   so checks leave no `TIME_WAIT` sockets behind. Endpoints start up. Health and ejection are
//!   independent: an endpoint is picked normally only when it is up *and* not ejected.
//! - When every endpoint is down or ejected, [`AllDown::TryAll`] (default) tries them all
//!   anyway ("panic mode", as Envoy does below its panic threshold); [`AllDown::Fail`] fails at
//!   once like HAProxy without a backup server.
//! - Observability: [`Pool::snapshot`], [`Pool::watch`] (changes), and `ferry_upstream_*`
//!   gauges and counters labelled `pool` and `upstream` through the [`metrics`](::metrics)
//!   facade (names in [`mod@metrics`]).
//!
//! # What it does not do
//!
//! No TLS to upstreams, no PROXY protocol header, no byte relaying: it hands back a connected
//! [`TcpStream`](tokio::net::TcpStream) and the caller does the rest. No metrics exporter, no
//! configuration-file parsing (the application maps its file onto [`PoolConfig`]), no
//! connection reuse or pooling of idle connections, no request-level retries once a connection
//! is handed out.
//!
//! # Example
//!
//! ```
//! use ferry_pool::{Policy, Pool, PoolConfig, Target, Upstream};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let target = Target::Addr(upstream.local_addr()?);
//!
//! let mut config = PoolConfig::default();
//! config.policy = Policy::LeastConnections;
//! let pool = Pool::new("web", config, vec![Upstream::new(target)])?;
//!
//! // Health checks and DNS re-resolution run until `shutdown` is cancelled.
//! let shutdown = CancellationToken::new();
//! let background = tokio::spawn({
//!     let (pool, shutdown) = (pool.clone(), shutdown.clone());
//!     async move { pool.run_background(shutdown).await }
//! });
//!
//! let client = "192.0.2.7:50000".parse()?;
//! let connected = pool.connect(client).await?;
//! assert_eq!(connected.endpoint, upstream.local_addr()?);
//! assert_eq!(pool.snapshot()[0].active, 1);
//! drop(connected); // releases the least-connections count
//!
//! shutdown.cancel();
//! background.await?;
//! # Ok(())
//! # }
//! ```

mod background;
mod config;
mod endpoints;
mod error;
pub mod metrics;
mod pool;
mod resolve;
mod select;
mod state;
mod target;

pub use config::{
    AllDown, ConfigError, DEFAULT_BASE_EJECTION, DEFAULT_CONNECT_BUDGET, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DNS_INTERVAL, DEFAULT_EJECT_AFTER, DEFAULT_FALL, DEFAULT_HEALTH_INTERVAL,
    DEFAULT_HEALTH_TIMEOUT, DEFAULT_MAX_EJECTION, DEFAULT_RISE, Ejection, HealthCheck,
    MAX_PROBE_BYTES, PoolConfig,
};
pub use error::{Attempt, AttemptError, ConnectError, PoolError};
pub use pool::{ActiveGuard, Connected, EndpointStatus, Pool};
pub use resolve::{ResolveFuture, Resolver, SystemResolver};
pub use select::{
    Candidate, Policy, PolicyParseError, RING_MAX, Selector, VNODES_PER_WEIGHT, client_key,
    endpoint_key,
};
pub use target::{MAX_HOST_LEN, MAX_WEIGHT, Target, TargetError, Upstream};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
