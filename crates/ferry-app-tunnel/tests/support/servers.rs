//! Destinations for tunnel tests, shared by the `e2e`, `front` and `cluster` test binaries
//! (each includes this file with `#[path]`): the workspace's own, from `ferry-test-support`.

#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// A tiny HTTP server: answers every request `200` with body `hello`, then closes.
pub(crate) async fn http_server() -> SocketAddr {
    ferry_test_support::net::http_ok("hello").await
}

/// An echo server; shuts its write side after the client's EOF (half-close honoured).
pub(crate) async fn echo_server() -> SocketAddr {
    ferry_test_support::net::echo().await
}

/// Writes `data`, half-closes, reads to EOF, concurrently; returns what came back.
pub(crate) async fn round_trip(s: TcpStream, data: &[u8]) -> Vec<u8> {
    ferry_test_support::net::round_trip(s, data).await
}
