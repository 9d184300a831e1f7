//! A hand-made gateway that misbehaves towards a real agent: no header, a malformed header, a
//! header of another version. The agent answers or resets; it never hangs or dials.

use std::time::Duration;

use ferry_tunnel::wire::{
    AuthReply, MAX_AUTH_LEN, REPLY_LEN, TunnelStatus, decode_auth, decode_status, encode_auth_reply,
};
use ferry_tunnel::{Gateway, GatewayConfig};
use quinn::{Connection, ReadError, VarInt};

use crate::common::*;

/// A raw QUIC server with the gateway's config; accepts one agent and says "ok" to its auth.
async fn raw_gateway(
    pki: &Pki,
    header_timeout: Duration,
) -> (quinn::Endpoint, Connection, AgentHandle) {
    let config = Gateway::new(GatewayConfig::default(), verify)
        .server_config(pki.server_tls())
        .unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let mut agent_config = agent_config(pki, addr, "site-1", "token-site-1", "127.0.0.1");
    agent_config.header_timeout = header_timeout;
    let mut agent = start_agent(agent_config);
    let conn = endpoint.accept().await.unwrap().await.unwrap();
    let (mut send, mut recv) = conn.accept_bi().await.unwrap();
    let auth = recv.read_to_end(MAX_AUTH_LEN).await.unwrap();
    let (request, _) = decode_auth(&auth).unwrap().complete().unwrap();
    assert_eq!(request.credential.as_str(), "token-site-1");
    let mut reply = Vec::new();
    encode_auth_reply(AuthReply::Ok, &mut reply);
    send.write_all(&reply).await.unwrap();
    send.finish().unwrap();
    agent.wait_for(|s| s.connected).await;
    (endpoint, conn, agent)
}

#[tokio::test]
async fn missing_header_is_reset_at_the_header_deadline() {
    let pki = Pki::new();
    let (_endpoint, conn, agent) = raw_gateway(&pki, Duration::from_millis(300)).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&[1, 0, 0]).await.unwrap(); // a header that never completes
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), recv.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(r, Err(ReadError::Reset(VarInt::from_u32(1))));
    agent.stop().await;
}

async fn status_for(conn: &Connection, bytes: &[u8]) -> TunnelStatus {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    send.finish().unwrap();
    let got = recv.read_to_end(REPLY_LEN).await.unwrap();
    decode_status(&got).unwrap().complete().unwrap().0
}

#[tokio::test]
async fn malformed_or_foreign_headers_get_a_status() {
    let pki = Pki::new();
    let (_endpoint, conn, agent) = raw_gateway(&pki, Duration::from_secs(10)).await;
    // Unknown destination type 9.
    let mut bad = vec![1];
    bad.extend_from_slice(&[0; 8]);
    bad.push(9);
    assert_eq!(status_for(&conn, &bad).await, TunnelStatus::Malformed);
    // Version 3, and version 2 with a protocol other than UDP.
    assert_eq!(
        status_for(&conn, &[3]).await,
        TunnelStatus::UnsupportedVersion
    );
    assert_eq!(
        status_for(&conn, &[2, 0x06]).await,
        TunnelStatus::UnsupportedVersion
    );
    // The connection survives both.
    assert!(conn.close_reason().is_none());
    agent.stop().await;
}
