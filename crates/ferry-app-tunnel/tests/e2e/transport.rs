//! The TCP transport end to end, with real curl: an agent whose UDP gets nothing back falls
//! back to TCP (`transport = "auto"`), and `transport = "tcp"` forced; both carry a 1 MiB
//! download byte-exact through `curl -x`.

use std::net::SocketAddr;
use std::process::Stdio;

use ferry_tunnel::TransportKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::harness::{CLIENT_TOKEN, Files, payload, start_agent, start_gateway};

/// An HTTP server answering every request with `body` (`Content-Length`, then close).
pub(crate) async fn file_server(body: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.write_all(body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// `curl -p -x` through the gateway's client front to `http://{server}/`: the body.
pub(crate) async fn curl_through(front: SocketAddr, agent: &str, server: SocketAddr) -> Vec<u8> {
    let proxy = format!("http://{agent}:{CLIENT_TOKEN}@{front}");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-p", "-x", &proxy])
        .arg(format!("http://{server}/file"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl must be installed (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Acceptance: the agent is pointed at an address where UDP gets nothing back (the gateway's
/// TCP-transport port, which has no UDP listener). It falls back to TCP within
/// `fallback_after`, says so in its status, and `curl -x` through the gateway downloads
/// 1 MiB byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_blocked_agent_falls_back_to_tcp_and_curl_gets_1_mib_byte_exact() {
    let files = Files::new(1);
    // The TCP transport on its own port: nothing answers UDP there.
    let gw = start_gateway(&files.gateway_config_with(
        "127.0.0.1:0",
        "agent_listen_tcp = \"127.0.0.1:0\"",
        "",
    ))
    .await;
    let tcp = gw.agents_tcp.expect("the tcp transport listens");
    assert_ne!(tcp.port(), gw.agents.port());
    let mut agent = start_agent(&files.agent_config(
        tcp,
        "edge-0",
        "transport = \"auto\"\nfallback_after = \"1s\"",
    ))
    .await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    assert_eq!(status.fallbacks, 1);
    let reason = status.transport_reason.unwrap();
    assert!(reason.starts_with("quic"), "{reason}");
    assert!(reason.ends_with("using tcp"), "{reason}");
    assert_eq!(
        gw.tunnel
            .agent_transport(&ferry_tunnel::AgentId::new("edge-0").unwrap()),
        Some(TransportKind::Tcp)
    );
    let data = payload(1 << 20, 19);
    let server = file_server(data.clone()).await;
    let got = curl_through(gw.client, "edge-0", server).await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}

/// `transport = "tcp"`: no UDP at all, TCP on the same port as QUIC (the default
/// `agent_listen_tcp`), `curl -x` downloads 1 MiB byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_tcp_transport_carries_curl_1_mib_byte_exact() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    assert_eq!(
        gw.agents_tcp,
        Some(gw.agents),
        "tcp listens on the quic address by default"
    );
    let mut agent =
        start_agent(&files.agent_config(gw.agents, "edge-0", "transport = \"tcp\"")).await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    assert_eq!(status.transport_reason.as_deref(), Some("transport = tcp"));
    assert_eq!(status.fallbacks, 0);
    let data = payload(1 << 20, 20);
    let server = file_server(data.clone()).await;
    let got = curl_through(gw.client, "edge-0", server).await;
    assert!(
        got == data,
        "bytes differ ({} of {} bytes)",
        got.len(),
        data.len()
    );
    agent.stop().await;
    gw.stop().await;
}

/// `agent_listen_tcp = "off"`: no TCP listener; a forced-TCP agent cannot connect, a QUIC
/// one still does.
#[tokio::test]
async fn tcp_transport_can_be_turned_off() {
    let files = Files::new(1);
    let gw =
        start_gateway(&files.gateway_config_with("127.0.0.1:0", "agent_listen_tcp = \"off\"", ""))
            .await;
    assert_eq!(gw.agents_tcp, None);
    let mut agent =
        start_agent(&files.agent_config(gw.agents, "edge-0", "transport = \"quic\"")).await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Quic));
    agent.stop().await;
    gw.stop().await;
}
