//! The proxy on `ferry-pool`: load-balancing policies, failover, health checks, PROXY protocol
//! and config reload, end to end over loopback sockets (port 0).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod balance;
mod common;
mod docs;
mod health;
mod proxy_protocol;
mod reload;
#[path = "../support/running.rs"]
mod running;
