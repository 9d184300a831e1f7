//! UDP failover on real loopback sockets: a hop whose next address refuses a datagram answers
//! `connection refused` (naming the next hop as unreachable); an access UDP flow whose chain
//! fails — a hop's failing status, or hop 1 itself refusing — moves to the route's next chain,
//! and datagrams still reach the destination with their replies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ferry_chain::client::{ClientConfig, ClientError, UdpChain};
use ferry_chain::{Address, Status};
use tokio::net::UdpSocket;

/// A UDP address nothing listens on (the kernel answers ICMP port unreachable).
async fn dead_udp() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    drop(s);
    a
}

#[tokio::test]
async fn a_hop_answers_refused_when_its_next_address_refuses_a_datagram() {
    let h1 = udp_hop(1).await;
    let dead = dead_udp().await;
    let echo = udp_echo().await;
    let udp = UdpChain::bind(
        chain(&[(h1.addr, key(1)), (dead, key(2))]),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    udp.send_to(&Address::try_from(echo).unwrap(), b"lost")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let err = tokio::time::timeout(Duration::from_secs(10), udp.recv(&mut buf))
        .await
        .expect("hop 1 answers")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Unreachable {
                hop: 2,
                reported_by: 1,
                status: Status::Refused
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_udp_flow_fails_over_to_the_next_chain_and_gets_its_replies() {
    let h1 = udp_hop(1).await;
    let h2 = udp_hop(2).await;
    let h3 = udp_hop(3).await;
    let dead = dead_udp().await;
    let echo = udp_echo().await;
    let keys = key_file(3);
    // "broken": hop 1 lives but hop 2 is dead (hop 1 reports it), weight 1000 so it is every
    // flow's first pick; "dead": hop 1 itself is dead; "good" works.
    let toml = format!(
        "default_via = [\"broken\", \"dead\", \"good\"]\n[keys]\nfile = {:?}\n{}{}{}\n\
         [[listener]]\nmode = \"udp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{echo}\"\n",
        keys.display().to_string(),
        chain_toml("broken", 1000, &[(h1.addr, 1), (dead, 2)]),
        chain_toml("dead", 1, &[(dead, 1)]),
        chain_toml("good", 1, &[(h2.addr, 2), (h3.addr, 3)]),
    );
    let a = start_access(&toml).await;
    let mut buf = vec![0u8; 65_536];
    for client in 0..2u8 {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..3u8 {
            let sent = pattern(700, client * 10 + i);
            sock.send_to(&sent, a.addrs[0]).await.unwrap();
            let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no reply to datagram {i} of client {client}"))
                .unwrap();
            let mut expect = b"echo:".to_vec();
            expect.extend_from_slice(&sent);
            assert!(buf[..n] == expect[..], "datagram {i} of client {client}");
        }
    }
    let report = a.stop().await;
    // Each client's flow tried "broken", then "dead", then stayed on "good".
    assert_eq!(report.failovers, 4, "{report:?}");
    assert_eq!(report.udp_datagrams, 6, "{report:?}");
    let _ = std::fs::remove_file(keys);
}
