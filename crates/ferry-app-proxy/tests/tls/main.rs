//! TLS through the proxy, run in-process through `ferry_app_proxy::Proxy` with listeners on
//! port 0: termination, SNI routing, re-encryption, resumption, certificate reload, handshake
//! floods, slow TLS clients, and `openssl s_client` session reuse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod flood;
mod key_exchange;
mod openssl;
mod reencrypt;
mod reload;
mod resumption;
#[path = "../support/running.rs"]
mod running;
mod slow;
mod sni;
mod termination;
