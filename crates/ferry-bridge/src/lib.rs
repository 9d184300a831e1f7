//! A bidirectional byte bridge for layer-4 proxies: it moves bytes between two streams until
//! both directions are finished, and tells you exactly what happened.
//!
//! # What it does
//!
//! - **Half-close**: EOF from one side becomes a write shutdown on the other while the other
//!   direction keeps flowing. Both directions are driven by one future (a per-direction
//!   `Running -> ShuttingDown -> Done` state machine, as in tokio's `copy_bidirectional`); the
//!   first EOF never tears the session down.
//! - **Errors end the session at once** (for example a reset on either side) and both streams
//!   are dropped; [`End::Error`] says which [`Side`] and which [`Op`] failed.
//! - **Timeouts** on [`tokio::time`]: idle (no byte either way), half-close linger (the remaining
//!   direction is silent after the first one finished) and maximum lifetime. See
//!   [`BridgeConfig`].
//! - **Exact counts** of bytes written to each side, in the [`Outcome`] whatever the ending,
//!   and live through [`Counters`].
//! - **Bounded memory** on the copy path: a direction borrows a buffer from a bridge-wide pool
//!   only while it holds bytes read and not yet written; an idle session holds no buffer, a busy
//!   one at most one per direction (16 KiB by default), and a slow reader stops the reading
//!   side instead of growing a queue. The pool keeps a capped number of idle buffers. Small
//!   chunks (up to 2 KiB, when the last read was small too) are read into a buffer on the stack
//!   and written at once; only what the destination does not take goes into a pooled buffer.
//! - **`splice(2)`** on Linux for TCP to TCP ([`Bridge::run_tcp`]): bytes go socket → pipe →
//!   socket inside the kernel. Pipes come from a capped pool and are held only while bytes are in
//!   flight; without a pipe a direction copies instead, never fails.
//! - An **inspection hook** ([`Inspect`]) that may rewrite, drop or refuse chunks, a
//!   **throttle** per direction ([`Throttle`]), and **prefixes**: bytes the caller already read
//!   (header leftovers) written first.
//!
//! # What it does not do
//!
//! It does not connect, accept, resolve, speak TLS or parse any protocol: you bring two
//! connected streams (TLS streams work through [`Bridge::run`], on the copy path). It does not
//! retry, log traffic or export metrics itself; [`Bridge::stats`], [`Counters`] and [`Outcome`]
//! give you the numbers. It never spawns tasks: the session runs in the future you await.
//!
//! # Examples
//!
//! A minimal TCP relay that forwards every accepted connection to one upstream:
//!
//! ```no_run
//! use std::time::Duration;
//! use ferry_bridge::{Bridge, BridgeConfig, End, Session};
//! use tokio::net::{TcpListener, TcpStream};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let config = BridgeConfig::default().idle_timeout(Some(Duration::from_secs(300)));
//!     let bridge = Bridge::new(config);
//!     let listener = TcpListener::bind("127.0.0.1:8080").await?;
//!     loop {
//!         let (client, _) = listener.accept().await?;
//!         let bridge = bridge.clone();
//!         tokio::spawn(async move {
//!             let Ok(upstream) = TcpStream::connect("127.0.0.1:9000").await else { return };
//!             let outcome = bridge.run_tcp(client, upstream, Session::new()).await;
//!             if let End::Error { side, op, error } = &outcome.end {
//!                 eprintln!("{op} on side {side} failed: {error}");
//!             }
//!             let (up, down, end) = (outcome.a_to_b, outcome.b_to_a, outcome.end.label());
//!             println!("up {up} down {down} ({end}, spliced: {})", outcome.spliced);
//!         });
//!     }
//! }
//! ```
//!
//! # Platform support
//!
//! - **Linux**: [`Bridge::run_tcp`] splices when [`BridgeConfig::splice`] is
//!   [`SplicePolicy::Auto`] (the default) and the [`Session`] has no hook and no throttle.
//!   A direction splices only while its reads fill a whole buffer (bulk flows); small reads,
//!   as in request/response traffic, are copied, which takes fewer system calls and no pipe.
//!   Each spliced direction uses one pipe (two file descriptors) while bytes are in flight; cap
//!   them with [`BridgeConfig::max_pipes`]. Pipes keep the kernel's default size (64 KiB).
//! - **Other platforms**: [`Bridge::run_tcp`] is [`Bridge::run`]; everything else is the same.
//!
//! The copy path is the reference behaviour; the two paths are tested against each other.
//!
//! # Feature flags
//!
//! None.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod bridge;
mod config;
mod driver;
mod hook;
mod outcome;
mod pool;
mod session;
mod stats;
mod sys;
mod throttle;
mod transfer;

pub use bridge::Bridge;
pub use config::{BridgeConfig, SplicePolicy};
pub use hook::{Inspect, Verdict};
pub use outcome::{BridgeError, Direction, End, Op, Outcome, Side};
pub use session::{Counters, Session};
pub use stats::BridgeStats;
pub use throttle::Throttle;

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
