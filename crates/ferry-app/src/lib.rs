//! Ferry's programs as libraries.
//!
//! Each program is one module with a `run(config, listeners, shutdown)` function that does all of
//! the program's work, so that tests (and other Rust programs) can run it in-process on
//! listeners they bound themselves; the binaries in `ferry-cli` only parse flags, set up logging
//! and call it.
//!
//! - [`proxy`]: the TCP reverse proxy (`ferry-proxy`).
//!
//! This crate does not parse command lines, install signal handlers or configure logging output;
//! those belong to the binaries.
//!
//! # Examples
//!
//! ```no_run
//! use ferry_app::proxy::{self, ProxyConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:9000".to_owned()])?;
//! let listeners = ferry_app::listen::bind_all(&config)?;
//! let report = proxy::run(config, listeners, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! println!("relayed {} bytes upstream", report.client_to_upstream);
//! # Ok(()) }
//! ```

pub mod duration;
pub mod error;
pub mod listen;
pub mod proxy;

pub use error::{AppError, ConfigError};
