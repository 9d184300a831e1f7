//! Client certificates on the acceptor, and the connector's verification.

use std::sync::Arc;
use std::time::Duration;

use ferry_tls::{
    AcceptorConfig, CertificateFault, ClientAuth, ConnectorConfig, HandshakeError, PemInput,
    TlsAcceptor, TlsConnector,
};
use rustls::CertificateError;
use tokio::net::TcpStream;

use crate::common::{ANY, Leaf, Server, TestCa, connect, provider, roots};

fn mtls_server_config(server_ca: &TestCa, client_ca: &TestCa, required: bool) -> AcceptorConfig {
    let mut config = AcceptorConfig::new(server_ca.leaf(&["localhost"]).source());
    let cas = vec![PemInput::memory("client CA", client_ca.pem())];
    config.client_auth(if required {
        ClientAuth::Required(cas)
    } else {
        ClientAuth::Optional(cas)
    });
    config
}

fn client_with_cert(server_ca: &TestCa, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(ANY)
        .unwrap()
        .with_root_certificates(roots(&[&server_ca.pem()]));
    let mut config = match cert {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

#[tokio::test]
async fn required_client_certificate_accepts_trusted_and_rejects_others() {
    let (server_ca, client_ca, stranger_ca) = (
        TestCa::new("server CA"),
        TestCa::new("client CA"),
        TestCa::new("stranger CA"),
    );
    let config = mtls_server_config(&server_ca, &client_ca, true);
    let mut server = Server::start(TlsAcceptor::new(&config).unwrap()).await;

    let good = client_ca.leaf(&["client.test"]);
    connect(
        server.addr,
        &client_with_cert(&server_ca, Some(&good)),
        "localhost",
    )
    .await
    .unwrap();
    let info = server.next_ok().await;
    assert_eq!(info.peer_certificate.as_ref(), Some(&good.der));

    // In TLS 1.3 the client finishes before the server checks its certificate, so the
    // client-side outcome varies; the server's verdict is what matters.
    let _ = connect(
        server.addr,
        &client_with_cert(&server_ca, None),
        "localhost",
    )
    .await;
    let result = server.next().await;
    assert!(
        matches!(
            result,
            Err(HandshakeError::Tls(rustls::Error::NoCertificatesPresented))
        ),
        "{result:?}"
    );

    let stranger = stranger_ca.leaf(&["client.test"]);
    let _ = connect(
        server.addr,
        &client_with_cert(&server_ca, Some(&stranger)),
        "localhost",
    )
    .await;
    let result = server.next().await;
    assert!(
        matches!(
            result,
            Err(HandshakeError::Tls(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn optional_client_certificate() {
    let (server_ca, client_ca, stranger_ca) = (
        TestCa::new("server CA"),
        TestCa::new("client CA"),
        TestCa::new("stranger CA"),
    );
    let config = mtls_server_config(&server_ca, &client_ca, false);
    let mut server = Server::start(TlsAcceptor::new(&config).unwrap()).await;

    connect(
        server.addr,
        &client_with_cert(&server_ca, None),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(server.next_ok().await.peer_certificate, None);

    let good = client_ca.leaf(&["client.test"]);
    connect(
        server.addr,
        &client_with_cert(&server_ca, Some(&good)),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(
        server.next_ok().await.peer_certificate,
        Some(good.der.clone())
    );

    let stranger = stranger_ca.leaf(&["client.test"]);
    let _ = connect(
        server.addr,
        &client_with_cert(&server_ca, Some(&stranger)),
        "localhost",
    )
    .await;
    assert!(matches!(server.next().await, Err(HandshakeError::Tls(_))));
}

/// A `TlsConnector` handshake against `server` (which greets, then echoes).
async fn connector_handshake(
    server: &Server,
    config: &ConnectorConfig,
    name: &str,
) -> Result<ferry_tls::HandshakeInfo, HandshakeError> {
    let connector = TlsConnector::new(config).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    connector.connect(name, tcp).await.map(|(_, info)| info)
}

fn trusting(ca: &TestCa) -> ConnectorConfig {
    let mut config = ConnectorConfig::new();
    config.add_ca(PemInput::memory("test CA", ca.pem()));
    config
}

#[tokio::test]
async fn connector_verifies_ca_and_name() {
    let (ca, other_ca) = (TestCa::new("upstream CA"), TestCa::new("other CA"));
    let leaf = ca.leaf(&["upstream.test"]);
    let mut server_config = AcceptorConfig::new(leaf.source());
    server_config.alpn(["h2"]);
    let mut server = Server::start(TlsAcceptor::new(&server_config).unwrap()).await;

    let mut config = trusting(&ca);
    config.alpn(["h2"]);
    let info = connector_handshake(&server, &config, "upstream.test")
        .await
        .unwrap();
    assert_eq!(info.sni.as_deref(), Some("upstream.test"));
    assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(info.peer_certificate.as_ref(), Some(&leaf.der));
    assert_eq!(server.next_ok().await.sni.as_deref(), Some("upstream.test"));

    let unknown_ca = connector_handshake(&server, &trusting(&other_ca), "upstream.test").await;
    assert!(
        matches!(
            &unknown_ca,
            Err(HandshakeError::Certificate(refused))
                if refused.fault == CertificateFault::UnknownIssuer
        ),
        "{unknown_ca:?}"
    );
    assert!(server.next().await.is_err());

    let wrong_name = connector_handshake(&server, &trusting(&ca), "evil.test").await;
    assert!(
        matches!(
            &wrong_name,
            Err(HandshakeError::Certificate(refused))
                if matches!(refused.fault, CertificateFault::NameMismatch { .. })
        ),
        "{wrong_name:?}"
    );
    assert!(server.next().await.is_err());

    // Dialled by address, verified (and SNI sent) as the configured name.
    let mut by_address = trusting(&ca);
    by_address.server_name("upstream.test");
    let info = connector_handshake(&server, &by_address, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(info.sni.as_deref(), Some("upstream.test"));
    server.next_ok().await;

    // Explicitly insecure: the unknown CA is accepted.
    let mut insecure = trusting(&other_ca);
    insecure.insecure_skip_verify();
    connector_handshake(&server, &insecure, "evil.test")
        .await
        .unwrap();
    server.next_ok().await;

    assert!(matches!(
        connector_handshake(&server, &trusting(&ca), "not a name!").await,
        Err(HandshakeError::InvalidServerName(_))
    ));
}

#[tokio::test]
async fn connector_client_certificate_and_resumption() {
    let (server_ca, client_ca) = (TestCa::new("server CA"), TestCa::new("client CA"));
    let config = mtls_server_config(&server_ca, &client_ca, true);
    let mut server = Server::start(TlsAcceptor::new(&config).unwrap()).await;
    let client_leaf = client_ca.leaf(&["agent-1"]);
    let mut client = trusting(&server_ca);
    client.client_cert(client_leaf.source());
    let connector = TlsConnector::new(&client).unwrap();
    for expect_resumed in [false, true] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let (mut tls, info) = connector.connect("localhost", tcp).await.unwrap();
        assert_eq!(info.resumed, expect_resumed);
        let mut greeting = [0u8; 6];
        tokio::io::AsyncReadExt::read_exact(&mut tls, &mut greeting)
            .await
            .unwrap();
        let server_info = server.next_ok().await;
        assert_eq!(server_info.resumed, expect_resumed);
        assert_eq!(
            server_info.peer_certificate.as_ref(),
            Some(&client_leaf.der)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn connector_deadline_against_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let _silent = listener.accept().await.unwrap();
    let mut config = trusting(&TestCa::new("any CA"));
    config.handshake_timeout(Duration::from_secs(3));
    let connector = TlsConnector::new(&config).unwrap();
    let result = connector.connect("localhost", tcp).await;
    assert!(
        matches!(result, Err(HandshakeError::Timeout(d)) if d == Duration::from_secs(3)),
        "{result:?}"
    );
}
