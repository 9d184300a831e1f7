//! `serve::Hop` reloaded in-process while it runs on loopback: a live relay keeps its settings,
//! new connections get the new keys and allowlist, and a record accepted before the reload is
//! still a replay after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ferry_allow::Allowlist;
use ferry_app_hop::ServeConfig;
use ferry_app_hop::serve::{Hop, bind};
use ferry_chain::client::{ClientConfig, connect, system_unix_ms};
use ferry_chain::{Address, Keyring, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

fn hop_config(keys: &[u8], allow: &str) -> ServeConfig {
    ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Keyring::new(keys.iter().map(|&k| key(k))).unwrap(),
        Allowlist::parse(allow).unwrap(),
    )
}

#[tokio::test]
async fn a_reload_applies_to_new_connections_and_keeps_live_ones_and_the_replay_guard() {
    let dest = echo_dest().await;
    let hop = Hop::new(hop_config(&[1, 2], "127.0.0.0/8"));
    let reloader = hop.reloader();
    let (listener, udp) = bind(&hop.config()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(hop.run(listener, udp, async {
        let _ = stopped.await;
    }));
    let target = Address::try_from(dest.addr).unwrap();
    let one = chain(&[(addr, key(1))]);
    let two = chain(&[(addr, key(2))]);

    let mut live = connect(&one, &target, &ClientConfig::default())
        .await
        .unwrap();
    live.write_all(b"before").await.unwrap();
    let mut back = [0u8; 6];
    live.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"before");
    let record = seal_one(&key(2), dest.addr);
    assert_eq!(
        status_of(&exchange(addr, &record).await, &record),
        Status::Ok
    );

    // Key 1 removed, and only another network allowed.
    let done = reloader
        .reload_config(hop_config(&[2], "10.0.0.0/8"))
        .unwrap();
    assert!(done.applied.iter().any(|a| a == "allowlist"), "{done:?}");

    live.write_all(b"after").await.unwrap();
    let mut back = [0u8; 5];
    live.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"after", "the live relay keeps going");
    assert!(
        connect(&one, &target, &ClientConfig::default())
            .await
            .is_err(),
        "key 1 is refused"
    );
    let err = connect(&two, &target, &ClientConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(Status::Denied), "{err}");
    assert_eq!(
        status_of(&exchange(addr, &record).await, &record),
        Status::AuthFailure,
        "a replay of a record from before the reload"
    );
    drop(live);
    stop.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.relayed, 2);
    assert_eq!(dest.count(), 2);
}

fn seal_one(hop_key: &ferry_chain::HopKey, dest: std::net::SocketAddr) -> Vec<u8> {
    chain(&[("127.0.0.1:1".parse().unwrap(), hop_key.clone())])
        .seal(
            &Address::try_from(dest).unwrap(),
            &ferry_chain::SealOptions {
                now_unix_ms: system_unix_ms(),
                ..Default::default()
            },
            &ring::rand::SystemRandom::new(),
        )
        .unwrap()
        .bytes
}

/// Sends `bytes`, half-closes, and returns everything the hop answered.
async fn exchange(hop: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(hop).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s.shutdown().await.unwrap();
    read_all(&mut s).await
}

/// The status in the hop's response to `record` (sealed with key 2).
fn status_of(answer: &[u8], record: &[u8]) -> Status {
    let nonce: [u8; 12] = record[7..19].try_into().unwrap();
    match ferry_chain::decode_response(answer, &key(2), 1, &nonce).unwrap() {
        ferry_chain::Decoded::Done { value, .. } => value.status,
        ferry_chain::Decoded::NeedMore { .. } => panic!("short answer: {} bytes", answer.len()),
    }
}
