//! Two gateways sharing a real memcached: forwarding between them over real TLS, the peer
//! listener's checks, and the failures (owner killed, stale records, memcached stopped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failures;
mod harness;
mod peer;
mod registry_servers;
mod routing;
#[path = "../support/servers.rs"]
mod servers;
mod services;
