//! Hot reload: live connections continue, new handshakes see the new certificate, a bad
//! configuration changes nothing.

use std::sync::Arc;

use ferry_tls::{AcceptorConfig, CertSource, TlsAcceptor, TlsConfigError};

use crate::common::{ANY, Server, TempDir, TestCa, client_config, connect, echo, peer_leaf};

#[tokio::test]
async fn live_connection_survives_reload_and_new_handshakes_see_new_cert() {
    let ca = TestCa::new("reload CA");
    let (old, new) = (ca.leaf(&["localhost"]), ca.leaf(&["localhost"]));
    let acceptor = TlsAcceptor::new(&AcceptorConfig::new(old.source())).unwrap();
    let mut server = Server::start(acceptor.clone()).await;
    // No client-side resumption: every handshake shows the current certificate.
    let mut client = client_config(&[&ca.pem()], ANY);
    client.resumption = rustls::client::Resumption::disabled();
    let client = Arc::new(client);

    let mut live = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    assert_eq!(peer_leaf(&live), old.der);

    acceptor.reload(&AcceptorConfig::new(new.source())).unwrap();
    echo(&mut live, b"still here after the reload").await;

    let fresh = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    assert_eq!(peer_leaf(&fresh), new.der);
    echo(&mut live, b"and after a new handshake").await;
}

#[tokio::test]
async fn reload_from_rewritten_files_and_failed_reload_keeps_the_old_config() {
    let dir = TempDir::new("reload-files");
    let ca = TestCa::new("file reload CA");
    let (first, second) = (ca.leaf(&["localhost"]), ca.leaf(&["localhost"]));
    let cert = dir.write("cert.pem", &first.cert_pem);
    let key = dir.write("key.pem", &first.key_pem);
    let config = AcceptorConfig::new(CertSource::files(&cert, &key));
    let acceptor = TlsAcceptor::new(&config).unwrap();
    let mut server = Server::start(acceptor.clone()).await;
    let mut client = client_config(&[&ca.pem()], ANY);
    client.resumption = rustls::client::Resumption::disabled();
    let client = Arc::new(client);

    // Certificate replaced on disk, key not yet: the reload must fail and change nothing.
    std::fs::write(&cert, &second.cert_pem).unwrap();
    let err = acceptor.reload(&config).unwrap_err();
    assert!(matches!(err, TlsConfigError::KeyMismatch { .. }), "{err:?}");
    let tls = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    assert_eq!(peer_leaf(&tls), first.der);

    // Both files replaced: the reload applies.
    std::fs::write(&key, &second.key_pem).unwrap();
    acceptor.reload(&config).unwrap();
    let tls = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    assert_eq!(peer_leaf(&tls), second.der);

    // A file that disappeared: error, the current certificate stays.
    std::fs::remove_file(&key).unwrap();
    let err = acceptor.reload(&config).unwrap_err();
    assert!(matches!(err, TlsConfigError::Read { .. }), "{err:?}");
    let tls = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    assert_eq!(peer_leaf(&tls), second.der);
}
