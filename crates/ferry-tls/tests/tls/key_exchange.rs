//! Post-quantum hybrid key exchange: `X25519MLKEM768` is preferred by default on both ends,
//! classical groups still work, and `KeyExchange::Classical` turns the hybrid group off. Real
//! rustls clients and servers on loopback sockets.

use std::sync::Arc;

use ferry_tls::{
    AcceptorConfig, ConnectorConfig, HandshakeError, KeyExchange, PemInput, TlsAcceptor,
    TlsConnector,
};
use rustls::crypto::CryptoProvider;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
use rustls::{ClientConfig, HandshakeKind, NamedGroup};
use tokio::net::TcpStream;

use crate::common::{Server, TLS13, TestCa, client_hello, connect, echo, roots};

/// A rustls client trusting `ca_pem` that offers only `groups`, TLS 1.3.
fn client_offering(ca_pem: &str, groups: &[&'static dyn SupportedKxGroup]) -> Arc<ClientConfig> {
    let provider = CryptoProvider {
        kx_groups: groups.to_vec(),
        ..default_provider()
    };
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(TLS13)
            .unwrap()
            .with_root_certificates(roots(&[ca_pem]))
            .with_no_client_auth(),
    )
}

async fn server(ca: &TestCa, key_exchange: KeyExchange) -> Server {
    let leaf = ca.leaf(&["localhost"]);
    let mut config = AcceptorConfig::new(leaf.source());
    config.key_exchange(key_exchange);
    Server::start(TlsAcceptor::new(&config).unwrap()).await
}

fn negotiated(client: &crate::common::Client) -> NamedGroup {
    client
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name()
}

#[tokio::test]
async fn the_default_group_order_puts_the_hybrid_group_first() {
    assert_eq!(
        KeyExchange::default().group_names(),
        ["X25519MLKEM768", "X25519", "secp256r1", "secp384r1"]
    );
    assert_eq!(
        KeyExchange::Classical.group_names(),
        ["X25519", "secp256r1", "secp384r1"]
    );
    let names: Vec<NamedGroup> = ferry_tls::provider(KeyExchange::default())
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(
        names,
        [
            NamedGroup::X25519MLKEM768,
            NamedGroup::X25519,
            NamedGroup::secp256r1,
            NamedGroup::secp384r1
        ]
    );
}

#[tokio::test]
async fn a_client_offering_only_x25519mlkem768_negotiates_it() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let client = client_offering(&ca.pem(), &[kx_group::X25519MLKEM768]);
    let mut tls = connect(server.addr, &client, "localhost").await.unwrap();
    assert_eq!(negotiated(&tls), NamedGroup::X25519MLKEM768);
    let info = server.next_ok().await;
    assert_eq!(info.key_exchange, Some("X25519MLKEM768"));
    echo(&mut tls, b"post-quantum").await;
}

#[tokio::test]
async fn a_classical_only_client_still_negotiates_x25519() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let client = client_offering(&ca.pem(), &[kx_group::X25519]);
    let mut tls = connect(server.addr, &client, "localhost").await.unwrap();
    assert_eq!(negotiated(&tls), NamedGroup::X25519);
    assert_eq!(server.next_ok().await.key_exchange, Some("X25519"));
    echo(&mut tls, b"classical").await;
}

#[tokio::test]
async fn a_p256_only_client_still_negotiates_secp256r1() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let client = client_offering(&ca.pem(), &[kx_group::SECP256R1]);
    let tls = connect(server.addr, &client, "localhost").await.unwrap();
    assert_eq!(negotiated(&tls), NamedGroup::secp256r1);
    assert_eq!(server.next_ok().await.key_exchange, Some("secp256r1"));
}

/// Ferry's connector (default) against Ferry's acceptor (default): the hybrid group, in one
/// round trip.
#[tokio::test]
async fn ferry_to_ferry_uses_x25519mlkem768_without_a_retry() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let mut config = ConnectorConfig::new();
    config.add_ca(PemInput::memory("test CA", ca.pem()));
    let connector = TlsConnector::new(&config).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (tls, info) = connector.connect("localhost", tcp).await.unwrap();
    assert_eq!(info.key_exchange, Some("X25519MLKEM768"));
    assert_eq!(tls.get_ref().1.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(server.next_ok().await.key_exchange, Some("X25519MLKEM768"));
}

/// The default connector sends an X25519 key share next to the hybrid one, so a classical-only
/// server answers at once (no HelloRetryRequest).
#[tokio::test]
async fn the_default_connector_reaches_a_classical_server_without_a_retry() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::Classical).await;
    let mut config = ConnectorConfig::new();
    config.add_ca(PemInput::memory("test CA", ca.pem()));
    let connector = TlsConnector::new(&config).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (tls, info) = connector.connect("localhost", tcp).await.unwrap();
    assert_eq!(info.key_exchange, Some("X25519"));
    assert_eq!(tls.get_ref().1.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(server.next_ok().await.key_exchange, Some("X25519"));
}

/// `KeyExchange::Classical` on the acceptor really turns the hybrid group off: a client that
/// offers nothing else is refused.
#[tokio::test]
async fn a_classical_acceptor_refuses_a_hybrid_only_client() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::Classical).await;
    let client = client_offering(&ca.pem(), &[kx_group::X25519MLKEM768]);
    let err = connect(server.addr, &client, "localhost")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HandshakeFailure"), "{err}");
    assert!(
        matches!(server.next().await, Err(HandshakeError::Tls(_))),
        "the server must refuse the handshake"
    );
}

/// `KeyExchange::Classical` on the connector: no hybrid key share, X25519 negotiated with a
/// default acceptor.
#[tokio::test]
async fn a_classical_connector_negotiates_x25519() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let mut config = ConnectorConfig::new();
    config
        .add_ca(PemInput::memory("test CA", ca.pem()))
        .key_exchange(KeyExchange::Classical);
    let connector = TlsConnector::new(&config).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (_tls, info) = connector.connect("localhost", tcp).await.unwrap();
    assert_eq!(info.key_exchange, Some("X25519"));
    assert_eq!(server.next_ok().await.key_exchange, Some("X25519"));
}

/// Resumed TLS 1.3 handshakes keep the hybrid group (psk_dhe_ke: a fresh key exchange).
#[tokio::test]
async fn a_resumed_handshake_uses_x25519mlkem768_too() {
    let ca = TestCa::new("kx ca");
    let mut server = server(&ca, KeyExchange::default()).await;
    let client = client_offering(&ca.pem(), &[kx_group::X25519MLKEM768]);
    let first = connect(server.addr, &client, "localhost").await.unwrap();
    assert!(!server.next_ok().await.resumed);
    drop(first);
    let second = connect(server.addr, &client, "localhost").await.unwrap();
    let info = server.next_ok().await;
    assert!(info.resumed);
    assert_eq!(info.key_exchange, Some("X25519MLKEM768"));
    assert_eq!(negotiated(&second), NamedGroup::X25519MLKEM768);
}

/// The default ClientHello carries the 1216-byte hybrid key share and an X25519 one: about
/// 1.5 KB, more than one QUIC Initial packet (1200 bytes) holds, which the tunnel's QUIC
/// handshake tests exercise. A classical ClientHello is about 1 KB smaller.
#[test]
fn the_hybrid_client_hello_is_larger_than_one_quic_initial_packet() {
    let ca = TestCa::new("kx ca");
    let with = |key_exchange| {
        ClientConfig::builder_with_provider(ferry_tls::provider(key_exchange))
            .with_protocol_versions(TLS13)
            .unwrap()
            .with_root_certificates(roots(&[&ca.pem()]))
            .with_no_client_auth()
    };
    let hybrid = client_hello(with(KeyExchange::PostQuantum), "localhost").len();
    let classical = client_hello(with(KeyExchange::Classical), "localhost").len();
    assert!(hybrid > 1200, "{hybrid} bytes");
    assert!(hybrid - classical >= 1216, "{hybrid} - {classical}");
}
