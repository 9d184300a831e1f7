//! Gateway and agent over real quinn on 127.0.0.1 (port 0), and over the TCP transport (TLS
//! 1.3 + HTTP/2), real rustls (aws-lc-rs), real TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod certificates;
mod common;
mod events;
mod group;
mod hostile;
mod key_exchange;
mod mtls;
mod rebinding;
mod reconnect;
mod revoke;
mod statuses;
mod tcp;
mod transport;
mod tunnels;
mod udp;
mod update;
mod window;
mod zero_rtt;
