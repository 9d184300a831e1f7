//! SNI certificate selection, ALPN and the minimum protocol version.

use std::sync::Arc;

use ferry_tls::{AcceptorConfig, HandshakeError, TlsAcceptor, TlsVersion};

use crate::common::{ANY, Leaf, Server, TLS12, TLS13, TestCa, client_config, connect, peer_leaf};

struct Certs {
    ca: TestCa,
    default: Leaf,
    exact: Leaf,
    wildcard: Leaf,
}

fn certs() -> Certs {
    let ca = TestCa::new("sni CA");
    Certs {
        default: ca.leaf(&["default.test", "x.y.example.com", "127.0.0.1"]),
        exact: ca.leaf(&["a.example.com"]),
        wildcard: ca.leaf(&["*.example.com"]),
        ca,
    }
}

fn sni_config(c: &Certs, with_default: bool) -> AcceptorConfig {
    let mut config = if with_default {
        AcceptorConfig::new(c.default.source())
    } else {
        AcceptorConfig::without_default_cert()
    };
    config
        .sni_cert(["a.example.com"], c.exact.source())
        .sni_cert(["*.example.com"], c.wildcard.source());
    config
}

#[tokio::test]
async fn sni_selects_exact_then_wildcard_then_default() {
    let c = certs();
    let mut server = Server::start(TlsAcceptor::new(&sni_config(&c, true)).unwrap()).await;
    let client = Arc::new(client_config(&[&c.ca.pem()], ANY));
    let cases = [
        ("a.example.com", &c.exact, Some("a.example.com")),
        ("b.example.com", &c.wildcard, Some("b.example.com")),
        ("B.Example.COM", &c.wildcard, Some("b.example.com")),
        // Wildcards cover one label only.
        ("x.y.example.com", &c.default, Some("x.y.example.com")),
        ("default.test", &c.default, Some("default.test")),
        // An IP address: no SNI at all.
        ("127.0.0.1", &c.default, None),
    ];
    for (name, expected, sni) in cases {
        let tls = connect(server.addr, &client, name).await.unwrap();
        let info = server.next_ok().await;
        assert_eq!(peer_leaf(&tls), expected.der, "{name}");
        assert_eq!(
            info.sni.as_deref().map(str::to_ascii_lowercase).as_deref(),
            sni,
            "{name}"
        );
    }
}

#[tokio::test]
async fn without_default_unknown_or_missing_sni_fails() {
    let c = certs();
    let mut server = Server::start(TlsAcceptor::new(&sni_config(&c, false)).unwrap()).await;
    let client = Arc::new(client_config(&[&c.ca.pem()], ANY));
    connect(server.addr, &client, "a.example.com")
        .await
        .unwrap();
    server.next_ok().await;
    for name in ["default.test", "127.0.0.1"] {
        assert!(connect(server.addr, &client, name).await.is_err(), "{name}");
        let result = server.next().await;
        assert!(
            matches!(result, Err(HandshakeError::Tls(_))),
            "{name}: {result:?}"
        );
    }
}

async fn alpn_case(
    server_protocols: &[&str],
    client_protocols: &[&str],
) -> (Result<Option<Vec<u8>>, HandshakeError>, Option<Vec<u8>>) {
    let ca = TestCa::new("alpn CA");
    let mut config = AcceptorConfig::new(ca.leaf(&["localhost"]).source());
    config.alpn(server_protocols);
    let mut server = Server::start(TlsAcceptor::new(&config).unwrap()).await;
    let mut client = client_config(&[&ca.pem()], ANY);
    client.alpn_protocols = client_protocols
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    let client = Arc::new(client);
    let client_alpn = connect(server.addr, &client, "localhost")
        .await
        .ok()
        .and_then(|tls| tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec));
    (server.next().await.map(|info| info.alpn), client_alpn)
}

#[tokio::test]
async fn alpn_is_negotiated_or_refused() {
    let (server, client) = alpn_case(&["h2", "http/1.1"], &["http/1.1", "h2"]).await;
    assert_eq!(
        server.unwrap().as_deref(),
        Some(&b"h2"[..]),
        "server preference wins"
    );
    assert_eq!(client.as_deref(), Some(&b"h2"[..]));

    let (server, client) = alpn_case(&["h2", "http/1.1"], &["http/1.1"]).await;
    assert_eq!(server.unwrap().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(client.as_deref(), Some(&b"http/1.1"[..]));

    let (server, _) = alpn_case(&["h2"], &["spdy/1"]).await;
    assert!(
        matches!(
            server,
            Err(HandshakeError::Tls(rustls::Error::NoApplicationProtocol))
        ),
        "{server:?}"
    );

    let (server, client) = alpn_case(&["h2"], &[]).await;
    assert_eq!(server.unwrap(), None);
    assert_eq!(client, None);
}

#[tokio::test]
async fn minimum_version_and_reported_parameters() {
    let ca = TestCa::new("version CA");
    let leaf = ca.leaf(&["localhost"]);

    let default = TlsAcceptor::new(&AcceptorConfig::new(leaf.source())).unwrap();
    let mut server = Server::start(default).await;
    connect(
        server.addr,
        &Arc::new(client_config(&[&ca.pem()], TLS12)),
        "localhost",
    )
    .await
    .unwrap();
    let info = server.next_ok().await;
    assert_eq!(info.version, TlsVersion::Tls12);
    assert!(
        info.cipher_suite.starts_with("TLS_ECDHE_"),
        "{}",
        info.cipher_suite
    );
    connect(
        server.addr,
        &Arc::new(client_config(&[&ca.pem()], ANY)),
        "localhost",
    )
    .await
    .unwrap();
    let info = server.next_ok().await;
    assert_eq!(info.version, TlsVersion::Tls13);
    assert!(
        info.cipher_suite.starts_with("TLS13_"),
        "{}",
        info.cipher_suite
    );
    assert!(!info.resumed);
    assert_eq!(info.peer_certificate, None);

    let mut config = AcceptorConfig::new(leaf.source());
    config.min_version(TlsVersion::Tls13);
    let mut server = Server::start(TlsAcceptor::new(&config).unwrap()).await;
    assert!(
        connect(
            server.addr,
            &Arc::new(client_config(&[&ca.pem()], TLS12)),
            "localhost"
        )
        .await
        .is_err()
    );
    assert!(matches!(server.next().await, Err(HandshakeError::Tls(_))));
    connect(
        server.addr,
        &Arc::new(client_config(&[&ca.pem()], TLS13)),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(server.next_ok().await.version, TlsVersion::Tls13);
}
