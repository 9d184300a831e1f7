//! Runs the `chain-connect` example's own code (`run`, what its `main` calls) through a real
//! `ferry-hop` hop on loopback (`ferry_app_hop::serve`, in-process) to an echo destination.
//! The hop and the client use the sample key files of `examples/config/sample/`, so this also
//! shows that the sample hop key and the sample client key 1 are the same key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::SocketAddr;

use ferry_app_hop::ServeConfig;
use ferry_test_support::net::echo;
use ferry_test_support::payload;

#[allow(dead_code)] // its `main` is not called here
#[path = "../chain-connect.rs"]
mod chain_connect;

const HOP_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/sample/hop.keys");
const CLIENT_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/sample/client.keys");

/// A hop with the sample hop key that may dial `allow` only; runs until the test ends.
async fn hop(allow: SocketAddr) -> SocketAddr {
    let config = ServeConfig::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\nallow = [\"{allow}\"]\n[keys]\nfile = {HOP_KEYS:?}\n"
    ))
    .unwrap();
    let (listener, udp) = ferry_app_hop::serve::bind(&config).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferry_app_hop::serve(
        config,
        listener,
        udp,
        std::future::pending(),
    ));
    addr
}

async fn chain_connect(
    hop: SocketAddr,
    key_id: u16,
    destination: SocketAddr,
    input: &[u8],
) -> (u8, Vec<u8>) {
    let args = [
        "--key-file".to_owned(),
        CLIENT_KEYS.to_owned(),
        "--hop".to_owned(),
        format!("{hop}={key_id}"),
        destination.to_string(),
    ];
    let mut output = Vec::new();
    let code = chain_connect::run(args.into_iter(), input, &mut output).await;
    (code, output)
}

#[tokio::test]
async fn bytes_go_through_the_hop_and_back_unchanged() {
    let destination = echo().await;
    let hop = hop(destination).await;
    let data = payload(200_000, 5);
    let (code, back) = chain_connect(hop, 1, destination, &data).await;
    assert_eq!(code, 0);
    assert_eq!(back, data, "the bytes came back changed");
}

#[tokio::test]
async fn a_destination_the_hop_does_not_allow_exits_1_without_output() {
    let allowed = echo().await;
    let other = echo().await;
    let hop = hop(allowed).await;
    let (code, back) = chain_connect(hop, 1, other, b"never relayed").await;
    assert_eq!(code, 1);
    assert!(back.is_empty());
}

#[tokio::test]
async fn a_key_the_hop_does_not_hold_exits_1() {
    let destination = echo().await;
    let hop = hop(destination).await;
    // Key 2 of the sample client keys belongs to another hop.
    let (code, back) = chain_connect(hop, 2, destination, b"never relayed").await;
    assert_eq!(code, 1);
    assert!(back.is_empty());
}
