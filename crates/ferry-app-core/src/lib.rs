//! What Ferry's programs share, so that each exists once: validated config values, listeners
//! and the EMFILE-safe [`listen::Acceptor`]; the accept-and-drain loop ([`serve::Server`]); the
//! plain-or-TLS stream and its relay ([`stream::Stream`]); the memory budget for connection
//! buffers ([`memory::MemoryBudget`]); source networks ([`net::parse_net`]); the PROXY protocol
//! from a load balancer and to upstreams ([`proxy_protocol`]); byte sizes in config files
//! ([`size`]); the admin endpoint ([`admin::start`]); the reload outcome, its log lines and
//! metric ([`reload`]); the wall clock ([`clock::WallClock`]); the log format
//! ([`log::LogFormat`]); and the error types every program returns.
//!
//! The programs themselves live in their own crates (`ferry-app-proxy`, and the chain-hop and
//! tunnel crates); each has a `run(config, listeners, shutdown)` that tests and other Rust
//! programs can call in-process. This crate does not parse command lines, install signal handlers
//! or configure logging output; those belong to the binaries in `ferry-cli`.
//!
//! # Examples
//!
//! ```
//! use ferry_app_core::duration::{format_duration, parse_duration};
//!
//! let d = parse_duration("1m30s")?;
//! assert_eq!(d.as_secs(), 90);
//! assert_eq!(format_duration(d), "1m30s");
//! # Ok::<(), String>(())
//! ```

pub mod admin;
pub mod clock;
pub mod drain;
pub mod duration;
pub mod error;
pub mod explain;
pub mod listen;
pub mod log;
pub mod memory;
pub mod net;
pub mod proxy_protocol;
pub mod reload;
pub mod serve;
pub mod size;
pub mod stream;
pub mod workers;

pub use error::{AppError, ConfigError};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
