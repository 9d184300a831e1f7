//! Integration tests of ferry-front: one test binary, one module per front.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod allow;
mod corpus;
mod http_connect;
mod proxy_protocol;
mod socks5;
mod strategies;
