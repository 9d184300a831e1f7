//! UDP tunnels (`Gateway::open_udp`) between a real gateway, a real agent and a real UDP echo
//! server: datagrams both ways, the agent's idle expiry, the agent's allowlist, a hostile
//! gateway's oversize and truncated frames, and an agent that predates UDP tunnels.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_tunnel::udp::{DatagramStream, write_datagram};
use ferry_tunnel::wire::{MAX_HEADER_LEN, TunnelStatus, encode_status};
use ferry_tunnel::{MAX_DATAGRAM, OpenError};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UdpSocket;

use crate::common::*;
use crate::tunnels::{client, dest, gateway_and_agent};

async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_cross_a_udp_tunnel_both_ways_byte_exact() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = udp_echo().await;
    let tunnel = gw
        .gateway
        .open_udp(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let (recv, mut send) = tokio::io::split(tunnel);
    let mut frames = DatagramStream::new(recv);
    let mut scratch = Vec::new();
    for (i, len) in [0, 1, 1200, 9000, MAX_DATAGRAM].into_iter().enumerate() {
        let data = payload(len, i as u64);
        write_datagram(&mut send, &data, &mut scratch)
            .await
            .unwrap();
        let back = tokio::time::timeout(Duration::from_secs(20), frames.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(back == data.as_slice(), "datagram of {len} bytes differs");
    }
    // The gateway finishes: the agent ends the flow cleanly and finishes its side.
    send.shutdown().await.unwrap();
    assert!(frames.next().await.unwrap().is_none());
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_ends_an_idle_udp_tunnel_cleanly() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.udp_idle_timeout = Duration::from_millis(200);
    let mut agent = start_agent(config);
    agent.wait_for(|s| s.connected).await;
    let echo = udp_echo().await;
    let tunnel = gw
        .gateway
        .open_udp(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let (recv, mut send) = tokio::io::split(tunnel);
    let mut frames = DatagramStream::new(recv);
    write_datagram(&mut send, b"once", &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(frames.next().await.unwrap(), Some(&b"once"[..]));
    // Nothing more either way: the agent's idle timer ends the flow with a clean finish.
    let end = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .expect("the agent did not end the idle flow");
    assert!(end.unwrap().is_none());
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_allowlist_refuses_a_udp_destination() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = udp_echo().await;
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", echo.port()).parse().unwrap();
    let err = gw
        .gateway
        .open_udp(&id("site-1"), dest(elsewhere), client())
        .await
        .unwrap_err();
    assert!(matches!(err, OpenError::Denied), "{err:?}");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_length_resets_the_tunnel() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = udp_echo().await;
    let mut tunnel = gw
        .gateway
        .open_udp(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    // 65,535 > 65,507: the agent refuses it at the two length bytes and resets the stream.
    tunnel.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    let mut frames = DatagramStream::new(tunnel);
    let err = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.label(), "stream_error", "{err:?}");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_resets_the_tunnel_instead_of_ending_it() {
    let (_pki, gw, agent) = gateway_and_agent("127.0.0.1").await;
    let echo = udp_echo().await;
    let mut tunnel = gw
        .gateway
        .open_udp(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    // A frame announcing 16 bytes, 1 sent, then the end of the stream.
    tunnel.write_all(&[0x00, 0x10, b'a']).await.unwrap();
    tunnel.shutdown().await.unwrap();
    let mut frames = DatagramStream::new(tunnel);
    let err = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.label(), "stream_error", "{err:?}");
    agent.stop().await;
    gw.stop().await;
}

/// A hand-made agent of the first release: authenticates, then answers every tunnel header of
/// a version other than 1 with `unsupported_version`, as that release does.
#[tokio::test]
async fn an_agent_that_predates_udp_tunnels_is_reported_too_old() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    // The gateway's whole reply arrives (raw_agent decodes it).
    let (_endpoint, conn, _reply) = raw_agent(&pki, gw.addr, "old-1", None).await;
    let old_agent = tokio::spawn(async move {
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let mut first = [0u8; 1];
        recv.read_exact(&mut first).await.unwrap();
        assert_eq!(first[0], 2, "a UDP tunnel starts with a version 2 header");
        let mut status = Vec::new();
        encode_status(TunnelStatus::UnsupportedVersion, &mut status);
        send.write_all(&status).await.unwrap();
        send.finish().unwrap();
        let _ = recv.read_to_end(MAX_HEADER_LEN).await;
        conn
    });
    let err = gw
        .gateway
        .open_udp(&id("old-1"), dest(udp_echo().await), client())
        .await
        .unwrap_err();
    assert!(matches!(err, OpenError::UdpUnsupported), "{err:?}");
    assert_eq!(err.to_string(), "agent too old for UDP services");
    let conn = old_agent.await.unwrap();
    conn.close(0u32.into(), b"done");
    gw.stop().await;
}
