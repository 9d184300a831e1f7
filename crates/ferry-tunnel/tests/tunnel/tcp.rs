//! The TCP transport against hand-made peers: keep-alive and idle detection on both ends, the
//! ALPN and the authentication deadline on the gateway.

use std::sync::Arc;
use std::time::Duration;

use ferry_tunnel::wire::{ALPN_TCP, AuthReply, REPLY_LEN, decode_auth_reply};
use ferry_tunnel::{Transport, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::common::*;

fn short_keep_alive(q: &mut ferry_tunnel::QuicSettings) {
    q.keep_alive_interval = Duration::from_millis(200);
    q.idle_timeout = Duration::from_millis(700);
}

/// A gateway that authenticates the agent and starts HTTP/2 but then stops answering (its
/// connection is no longer driven, so PINGs get no PONG): the agent's idle detection ends the
/// connection and it reconnects.
#[tokio::test]
async fn agent_detects_a_gateway_that_stopped_answering() {
    let pki = Pki::new();
    let gateway = RawTcpGateway::bind(&pki).await;
    let mut config = agent_config(&pki, gateway.addr(), "site-1", "token-site-1", "127.0.0.1");
    config.transport = Transport::Tcp;
    // One connection: version 1 auth bytes, and one connection for this gateway to hold.
    config.connections = Some(std::num::NonZeroU8::MIN);
    short_keep_alive(&mut config.quic);
    let mut agent = start_agent(config);
    let mut tls = gateway.accept().await;
    let mut auth = vec![0u8; auth_message("site-1", None).len()];
    tls.read_exact(&mut auth).await.unwrap();
    assert_eq!(auth, auth_message("site-1", None));
    write_auth_reply(&mut tls, AuthReply::Ok).await;
    let (_send, mut conn) = h2::client::handshake(tls).await.unwrap();
    // Driven until the agent is connected, then left alone (held, not dropped).
    tokio::select! {
        _ = &mut conn => panic!("connection ended"),
        _ = agent.wait_for(|s| s.connected) => {}
    }
    let status = agent
        .wait_for(|s| !s.connected && s.last_error.is_some())
        .await;
    let error = status.last_error.unwrap();
    assert!(error.contains("idle timeout"), "{error}");
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    drop(conn);
    agent.stop().await;
}

/// An agent that authenticates and starts HTTP/2, then stops answering: the gateway's idle
/// detection closes the connection and forgets the agent.
#[tokio::test]
async fn gateway_detects_an_agent_that_stopped_answering() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    short_keep_alive(&mut config.quic);
    let gw = start_gateway(&pki, config).await;
    let mut tls = tls_connect(&pki, gw.addr, ALPN_TCP).await;
    tls.write_all(&auth_message("site-1", None)).await.unwrap();
    let mut reply = [0u8; REPLY_LEN];
    tls.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        decode_auth_reply(&reply).unwrap().complete().unwrap().0,
        AuthReply::Ok
    );
    let mut conn = h2::server::handshake(tls).await.unwrap();
    let gateway = gw.gateway.clone();
    tokio::select! {
        _ = conn.accept() => panic!("the gateway opened a stream"),
        () = async {
            while !gateway.is_connected(&id("site-1")) {
                tokio::task::yield_now().await;
            }
        } => {}
    }
    assert_eq!(
        gateway.agent_transport(&id("site-1")),
        Some(TransportKind::Tcp)
    );
    // Not driven any more: PINGs go unanswered.
    tokio::time::timeout(Duration::from_secs(10), async {
        while gateway.is_connected(&id("site-1")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the gateway kept a silent agent");
    drop(conn);
    gw.stop().await;
}

/// A TLS connection with another ALPN is dropped before anything is read.
#[tokio::test]
async fn wrong_alpn_is_refused_on_tcp() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    // rustls refuses a server that picks no ALPN the client offered, and the gateway only
    // speaks ferry-tunnel-h2/1: the handshake fails, or the stream ends at once.
    let r = TlsConnector::from(Arc::new(pki.client_tls(b"h2")))
        .connect("localhost".try_into().unwrap(), tcp)
        .await;
    if let Ok(mut tls) = r {
        let _ = tls.write_all(&auth_message("site-1", None)).await;
        let mut buf = [0u8; 2];
        assert!(tls.read_exact(&mut buf).await.is_err());
    }
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}

/// A TLS connection that sends a valid beginning of an auth message and then nothing is cut
/// at the authentication deadline, and nothing is stored for it.
#[tokio::test]
async fn stalled_auth_on_tcp_is_cut_at_the_deadline() {
    let pki = Pki::new();
    let mut config = fast_gateway_config();
    config.auth_timeout = Duration::from_millis(400);
    let gw = start_gateway(&pki, config).await;
    let mut tls = tls_connect(&pki, gw.addr, ALPN_TCP).await;
    tls.write_all(&[1, 4, b'a', b'b']).await.unwrap();
    let mut buf = Vec::new();
    // The gateway closes without a reply.
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf))
        .await
        .expect("not cut at the deadline");
    assert!(n.is_err() || buf.is_empty(), "{buf:?}");
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}

/// Bytes after the auth message (an agent must wait for the reply) are malformed: rejected
/// with the reply, nothing stored.
#[tokio::test]
async fn bytes_after_the_auth_message_are_malformed_on_tcp() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut tls = tls_connect(&pki, gw.addr, ALPN_TCP).await;
    let mut wire = auth_message("site-1", None);
    wire.extend_from_slice(b"PRI * HTTP/2.0");
    tls.write_all(&wire).await.unwrap();
    let mut reply = [0u8; REPLY_LEN];
    tls.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        decode_auth_reply(&reply).unwrap().complete().unwrap().0,
        AuthReply::Rejected(ferry_tunnel::RejectReason::Malformed)
    );
    assert_eq!(gw.gateway.connected_agents(), 0);
    gw.stop().await;
}
