//! Integration tests for ferry-tls: real loopback sockets, real rustls clients, certificates
//! generated with rcgen at test time (plus a few openssl-made fixtures, see `fixtures/README.md`).

// Helpers outside `#[test]` functions fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_policy;
mod common;
mod explain;
mod flood;
mod handshake;
mod key_exchange;
mod mtls_connector;
mod pem_errors;
mod reload;
mod resumption;
mod sni_alpn;
