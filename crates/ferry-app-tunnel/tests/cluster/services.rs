//! A `[[service]]` at a gateway that does not hold its agent reaches it through the owner, over
//! the same routed opener the client front uses, with a real memcached as the registry.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry_app_tunnel::config::GatewayConfig;
use ferry_app_tunnel::service::Services;
use ferry_memcache::testing::Memcached;
use ferry_registry::{Claim, MemcachedRegistry, Registry};
use tokio::net::{TcpStream, UdpSocket};

use crate::harness::{Gateway, Pki, echo_server, round_trip};

#[tokio::test]
async fn a_service_at_b_reaches_the_agent_at_a_through_the_owner() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    assert_eq!(
        registry
            .claim("edge-a", &a.me, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Claimed
    );
    let echo = echo_server().await;
    // Validation reads no file: the paths are never opened here.
    let config = GatewayConfig::from_toml(&format!(
        r#"
        listen = "127.0.0.1:0"
        agent_listen = "127.0.0.1:0"
        allow = ["127.0.0.1"]
        [tls]
        self_signed = true
        [auth]
        tokens = "unused"
        [[service]]
        name = "via-owner"
        bind = "127.0.0.1:0"
        agent = "edge-a"
        destination = "{echo}"
        "#
    ))
    .unwrap();
    let services = Services::bind(b.front.clone(), &config.services).unwrap();
    services.start();

    let s = TcpStream::connect(services.addr("via-owner").unwrap())
        .await
        .unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(round_trip(s, &data).await, data);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1, "forwarded to A");
    assert_eq!(a.local.opens.load(Ordering::SeqCst), 1, "opened at A");
    services.drain(Duration::from_secs(10)).await;
    assert_eq!(services.stats("via-owner").connections("ok"), 1);
    a.kill().await;
    b.kill().await;
}

/// A UDP service at B whose agent is at A: B forwards each flow to A asking for a UDP tunnel
/// (`Ferry-Protocol: udp`), A confirms it and opens with `open_udp`. A's test opener stands in
/// for the agent with a TCP connection to an echo server, which sends the datagram frames back
/// byte for byte, as the agent's UDP relay would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_service_at_b_reaches_the_agent_at_a_through_the_owner() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    assert_eq!(
        registry
            .claim("edge-a", &a.me, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Claimed
    );
    let echo = echo_server().await;
    let config = GatewayConfig::from_toml(&format!(
        r#"
        listen = "127.0.0.1:0"
        agent_listen = "127.0.0.1:0"
        allow = ["127.0.0.1"]
        [tls]
        self_signed = true
        [auth]
        tokens = "unused"
        [[service]]
        name = "udp-via-owner"
        bind = "127.0.0.1:0"
        protocol = "udp"
        agent = "edge-a"
        destination = "{echo}"
        "#
    ))
    .unwrap();
    let services = Services::bind(b.front.clone(), &config.services).unwrap();
    services.start();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .connect(services.addr("udp-via-owner").unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_536];
    for (i, len) in [1usize, 1400, 20_000, ferry_tunnel::MAX_DATAGRAM]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|j| ((i * 31 + j) % 251) as u8).collect();
        client.send(&data).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(20), client.recv(&mut buf))
            .await
            .expect("no datagram came back")
            .unwrap();
        assert!(buf[..n] == data[..], "datagram {i} of {len} bytes differs");
    }
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1, "forwarded to A");
    assert_eq!(
        a.local.udp_opens.load(Ordering::SeqCst),
        1,
        "opened as UDP at A"
    );
    services.drain(Duration::from_secs(10)).await;
    assert_eq!(services.stats("udp-via-owner").connections("ok"), 1);
    a.kill().await;
    b.kill().await;
}

/// What a gateway older than UDP services does with a forward asking for UDP: it ignores the
/// field and answers a plain `200`. The forwarder must not use that tunnel (it would carry
/// frames to a TCP destination): the flow fails as `udp_unsupported`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_does_not_confirm_udp_is_not_used() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    // The "old owner": TLS with the cluster certificate, reads the request head, answers 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old = listener.local_addr().unwrap();
    let acceptor = pki.acceptor();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok((mut tls, _)) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let mut sink = Vec::new();
                let _ = tls.read_to_end(&mut sink).await;
            });
        }
    });
    let owner = ferry_registry::Owner::new(ferry_registry::InstanceId::random().unwrap(), old);
    assert_eq!(
        registry
            .claim("edge-old", &owner, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Claimed
    );
    let config = GatewayConfig::from_toml(
        r#"
        listen = "127.0.0.1:0"
        agent_listen = "127.0.0.1:0"
        allow = ["127.0.0.1"]
        [tls]
        self_signed = true
        [auth]
        tokens = "unused"
        [[service]]
        name = "udp-old-owner"
        bind = "127.0.0.1:0"
        protocol = "udp"
        agent = "edge-old"
        destination = "127.0.0.1:9"
        idle_timeout = "300ms"
        "#,
    )
    .unwrap();
    let services = Services::bind(b.front.clone(), &config.services).unwrap();
    services.start();
    let stats = services.stats("udp-old-owner");
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .connect(services.addr("udp-old-owner").unwrap())
        .await
        .unwrap();
    client.send(b"anyone?").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stats.connections("udp_unsupported") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flow did not fail"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.connections("ok"), 0);
    services.drain(Duration::from_secs(10)).await;
    b.kill().await;
}
