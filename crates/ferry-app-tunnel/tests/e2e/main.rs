//! The whole gateway and agent programs in one process (`gateway::bind` + `run`,
//! `AgentApp`): real QUIC on 127.0.0.1 port 0, real rustls, real TCP, real curl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accept_proxy;
mod auth;
mod bulk;
mod cluster;
mod curl;
mod egress;
mod harness;
mod mtls;
mod reload;
mod restart;
#[path = "../support/servers.rs"]
mod servers;
mod services;
mod silent;
mod statuses;
mod transport;
mod udp;
#[path = "../support/udp_relay.rs"]
mod udp_relay;
