//! The tunnel's QUIC handshake uses the post-quantum hybrid group `X25519MLKEM768` by default:
//! its ClientHello (about 1.6 KB with the 1216-byte hybrid key share) spans two QUIC Initial
//! packets, and quinn reassembles it. Real gateway, real agents, real quinn on loopback.

use std::sync::Arc;

use ferry_tls::KeyExchange;
use ferry_tunnel::Gateway;
use ferry_tunnel::wire::ALPN;
use quinn::crypto::rustls::HandshakeData;
use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::kx_group;

use crate::common::{
    Pki, agent_config, fast_gateway_config, run_bound, start_agent, start_gateway, verify,
};

/// A gateway server config that accepts the hybrid group only, so a handshake that completes
/// has negotiated it.
fn hybrid_only(pki: &Pki) -> rustls::ServerConfig {
    let provider = CryptoProvider {
        kx_groups: vec![kx_group::X25519MLKEM768],
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.cert_der().clone()], pki.cert.key_der())
        .unwrap()
}

/// The public QUIC client config (`client_crypto`) completes a handshake with a gateway that
/// accepts nothing but `X25519MLKEM768`: its ClientHello carries the hybrid key share across
/// two Initial packets and the group is negotiated. (quinn reports the group only under a
/// test-only feature, hence the hybrid-only server.)
#[tokio::test]
async fn the_tunnel_handshake_negotiates_x25519mlkem768() {
    let pki = Pki::new();
    let gateway = Gateway::new(fast_gateway_config(), verify);
    let endpoint = gateway
        .bind("127.0.0.1:0".parse().unwrap(), hybrid_only(&pki))
        .unwrap();
    let gw = run_bound(gateway, endpoint);
    let client =
        quinn::ClientConfig::new(ferry_tunnel::client_crypto(Arc::clone(&pki.roots)).unwrap());
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(client, gw.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let data = conn
        .handshake_data()
        .unwrap()
        .downcast::<HandshakeData>()
        .unwrap();
    assert_eq!(data.protocol.as_deref(), Some(ALPN));
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    gw.stop().await;
}

/// A real agent (default settings) connects and authenticates to a gateway that accepts
/// nothing but `X25519MLKEM768`.
#[tokio::test]
async fn an_agent_connects_to_a_hybrid_only_gateway() {
    let pki = Pki::new();
    let gateway = Gateway::new(fast_gateway_config(), verify);
    let endpoint = gateway
        .bind("127.0.0.1:0".parse().unwrap(), hybrid_only(&pki))
        .unwrap();
    let gw = run_bound(gateway, endpoint);
    let config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    assert_eq!(config.key_exchange, KeyExchange::PostQuantum);
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.connects, 1);
    assert_eq!(gw.gateway.connected_agents(), 1);
    agent.stop().await;
    gw.stop().await;
}

/// `KeyExchange::Classical` takes the hybrid group out of the agent's offer: the hybrid-only
/// gateway refuses it, a default gateway accepts it.
#[tokio::test]
async fn a_classical_agent_offers_no_hybrid_group() {
    let pki = Pki::new();
    let gateway = Gateway::new(fast_gateway_config(), verify);
    let endpoint = gateway
        .bind("127.0.0.1:0".parse().unwrap(), hybrid_only(&pki))
        .unwrap();
    let gw = run_bound(gateway, endpoint);
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.key_exchange = KeyExchange::Classical;
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    assert!(!status.connected);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;

    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.key_exchange = KeyExchange::Classical;
    let mut agent = start_agent(config);
    agent.wait_for(|s| s.connected).await;
    agent.stop().await;
    gw.stop().await;
}
