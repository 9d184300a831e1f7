//! The client front over real sockets: every status code from a real request, curl through the
//! front, early bytes, deadlines, size caps and limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod curl;
mod garbage;
mod harness;
mod hostile;
mod memory;
#[path = "../support/servers.rs"]
mod servers;
mod statuses;
