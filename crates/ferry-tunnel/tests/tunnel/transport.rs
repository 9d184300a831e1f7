//! The TCP transport and the agent's transport choice: fallback when UDP gets no answer,
//! forced TCP, rejections that do not fall back, replacement across transports, the QUIC
//! probe.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_tunnel::wire::RejectReason;
use ferry_tunnel::{AgentId, AgentRejected, Gateway, Transport, TransportKind};

use crate::common::*;
use crate::tunnels::{client, dest};

/// A gateway listening on TCP only, and a UDP socket on the same port that reads nothing
/// (UDP "gets nothing back": no QUIC answer, no ICMP error either).
async fn tcp_only_gateway(pki: &Pki) -> (GatewayHandle, UdpSocket) {
    for _ in 0..100 {
        let gateway = Gateway::new(fast_gateway_config(), verify);
        let tcp = gateway
            .bind_tcp("127.0.0.1:0".parse().unwrap(), pki.server_tls())
            .await
            .unwrap();
        let addr = tcp.local_addr().unwrap();
        let Ok(black_hole) = UdpSocket::bind(addr) else {
            continue;
        };
        return (run_tcp_only(gateway, tcp), black_hole);
    }
    panic!("no port free on both tcp and udp");
}

fn auto_config(pki: &Pki, gateway: SocketAddr, agent: &str) -> ferry_tunnel::AgentConfig {
    let mut config = agent_config(pki, gateway, agent, &format!("token-{agent}"), "127.0.0.1");
    config.transport = Transport::Auto;
    config.fallback_after = Duration::from_millis(500);
    config
}

/// Acceptance: UDP gets nothing back, so `auto` falls back to TCP within its bound and a
/// 1 MiB transfer through a tunnel is byte-exact; status and gateway name the transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_tcp_when_udp_gets_no_answer() {
    let pki = Pki::new();
    let (gw, _black_hole) = tcp_only_gateway(&pki).await;
    let mut agent = start_agent(auto_config(&pki, gw.addr, "site-1"));
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    assert_eq!(status.fallbacks, 1);
    assert_eq!(status.connects, 1);
    let reason = status.transport_reason.unwrap();
    assert!(reason.contains("no answer within 500ms"), "{reason}");
    assert!(reason.ends_with("using tcp"), "{reason}");
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Tcp)
    );
    let echo = echo_server().await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let data = payload(1024 * 1024, 41);
    assert!(round_trip(tunnel, &data).await == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}

/// `auto` with a gateway that answers QUIC uses QUIC and never tries TCP.
#[tokio::test]
async fn auto_uses_quic_when_it_answers() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut agent = start_agent(auto_config(&pki, gw.addr, "site-1"));
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Quic));
    assert_eq!(status.fallbacks, 0);
    assert_eq!(
        status.transport_reason.as_deref(),
        Some("auto: quic connected")
    );
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Quic)
    );
    agent.stop().await;
    gw.stop().await;
}

/// A rejection over QUIC is the gateway's answer, not a transport problem: no fallback.
#[tokio::test]
async fn rejection_over_quic_does_not_fall_back() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = auto_config(&pki, gw.addr, "site-1");
    config.credential = ferry_tunnel::Credential::new("wrong").unwrap();
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.rejections >= 2).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    assert_eq!(status.fallbacks, 0);
    assert_eq!(status.transport, None);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;
}

/// `transport = tcp` connects over TCP although QUIC would work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_tcp_is_used_even_when_quic_works() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.transport = Transport::Tcp;
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    assert_eq!(status.transport_reason.as_deref(), Some("transport = tcp"));
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Tcp)
    );
    let echo = echo_server().await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    let data = payload(1024 * 1024, 42);
    assert!(round_trip(tunnel, &data).await == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}

/// `transport = quic` never falls back: with UDP unanswered it keeps failing.
#[tokio::test]
async fn forced_quic_does_not_fall_back() {
    let pki = Pki::new();
    let (gw, _black_hole) = tcp_only_gateway(&pki).await;
    let mut config = auto_config(&pki, gw.addr, "site-1");
    config.transport = Transport::Quic;
    config.auth_timeout = Duration::from_millis(300);
    let mut agent = start_agent(config);
    let status = agent
        .wait_for(|s| s.attempts >= 2 && s.last_error.is_some())
        .await;
    assert!(!status.connected);
    assert_eq!(status.fallbacks, 0);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;
}

/// One live connection per agent id across transports: a newer TCP connection replaces a
/// QUIC one (the QUIC agent is told "replaced"), and a newer QUIC one replaces a TCP one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_connection_replaces_the_older_across_transports() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut quic = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    quic.transport = Transport::Quic;
    // Long back-off after the replacement: the replaced agent does not take over again
    // during the test.
    quic.backoff = ferry_tunnel::Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
    let mut first = start_agent(quic);
    first.wait_for(|s| s.connected).await;
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Quic)
    );
    let mut tcp = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    tcp.transport = Transport::Tcp;
    tcp.backoff = ferry_tunnel::Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
    let mut second = start_agent(tcp);
    second.wait_for(|s| s.connected).await;
    let replaced = first.wait_for(|s| s.replaced == 1 && !s.connected).await;
    assert_eq!(replaced.transport, Some(TransportKind::Quic));
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Tcp)
    );
    let echo = echo_server().await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), dest(echo), client())
        .await
        .unwrap();
    assert_eq!(round_trip(tunnel, b"over tcp").await, b"over tcp");
    first.stop().await;

    // And back: a QUIC connection replaces the TCP one, which is told "replaced" through
    // the close notice.
    let mut quic = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    quic.transport = Transport::Quic;
    quic.backoff = ferry_tunnel::Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
    let mut third = start_agent(quic);
    third.wait_for(|s| s.connected).await;
    second.wait_for(|s| s.replaced == 1 && !s.connected).await;
    assert_eq!(
        gw.gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Quic)
    );
    third.stop().await;
    second.stop().await;
    gw.stop().await;
}

/// While on TCP after a fallback, the agent probes QUIC; once QUIC answers, the live TCP
/// connection is kept and the next connection uses QUIC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_probe_brings_quic_back_at_the_next_connection() {
    let pki = Pki::new();
    // A verifier that can be told to refuse, to end the agent's connection on demand.
    let refuse = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&refuse);
    let gateway = Gateway::new(
        fast_gateway_config(),
        move |id: &AgentId, c: &str, now: u64| {
            if r.load(Ordering::SeqCst) {
                return Err(AgentRejected::BadCredential);
            }
            verify(id, c, now)
        },
    );
    let (tcp_gw, black_hole) = loop {
        let tcp = gateway
            .bind_tcp("127.0.0.1:0".parse().unwrap(), pki.server_tls())
            .await
            .unwrap();
        if let Ok(b) = UdpSocket::bind(tcp.local_addr().unwrap()) {
            break (run_tcp_only(gateway.clone(), tcp), b);
        }
    };
    let addr = tcp_gw.addr;
    let mut config = auto_config(&pki, addr, "site-1");
    config.quic_retry = Duration::from_secs(1);
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    // QUIC starts answering on the same gateway; the TCP connection stays up.
    drop(black_hole);
    let quic_gw = run_bound(
        gateway.clone(),
        gateway.bind(addr, pki.server_tls()).unwrap(),
    );
    let status = agent.wait_for(|s| s.quic_probes_ok >= 1).await;
    assert!(status.connected, "the live tcp connection is kept");
    assert_eq!(status.connects, 1);
    assert_eq!(
        gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Tcp)
    );
    // The connection ends (revoked once); the next one uses QUIC.
    refuse.store(true, Ordering::SeqCst);
    assert_eq!(gateway.revalidate().revoked.len(), 1);
    refuse.store(false, Ordering::SeqCst);
    let status = agent
        .wait_for(|s| s.connected && s.transport == Some(TransportKind::Quic))
        .await;
    assert_eq!(
        status.transport_reason.as_deref(),
        Some("auto: quic connected")
    );
    assert_eq!(status.fallbacks, 1);
    assert_eq!(
        gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Quic)
    );
    agent.stop().await;
    quic_gw.stop().await;
    tcp_gw.stop().await;
}
