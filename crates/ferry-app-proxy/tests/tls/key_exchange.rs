//! Post-quantum hybrid key exchange through the proxy: `X25519MLKEM768` on the listener and
//! towards TLS upstreams by default, classical groups still accepted, `post_quantum = false`
//! to turn it off. Real rustls clients, the proxy in-process on port 0.

use std::sync::Arc;

use ferry_tls::rustls::crypto::aws_lc_rs::{default_provider, kx_group};
use ferry_tls::rustls::crypto::{CryptoProvider, SupportedKxGroup};
use ferry_tls::rustls::{self, ClientConfig, NamedGroup, RootCertStore};
use ferry_tls::{AcceptorConfig, KeyExchange, SelfSigned, TlsAcceptor, TlsConnector};
use tokio::net::TcpStream;

use crate::common::{
    TempDir, cert_lines, connector, echo, localhost_cert, start_toml, tagged_echo, tls_connect,
    tls_tagged_echo, toml_path,
};

/// A rustls client trusting `cert` that offers only `group`, TLS 1.3.
fn offering(cert: &SelfSigned, group: &'static dyn SupportedKxGroup) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert_der().clone()).unwrap();
    let provider = CryptoProvider {
        kx_groups: vec![group],
        ..default_provider()
    };
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from_rustls(Arc::new(config))
}

fn listener(dir: &TempDir, cert: &SelfSigned, up: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}{extra}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(dir, "server", cert)
    )
}

#[tokio::test]
async fn a_hybrid_only_client_negotiates_x25519mlkem768() {
    let up = tagged_echo(b'Q').await;
    let dir = TempDir::new("kx-pq");
    let cert = localhost_cert();
    let p = start_toml(&listener(&dir, &cert, up, "")).await;
    let (mut tls, info, tag) = tls_connect(
        &offering(&cert, kx_group::X25519MLKEM768),
        p.addr(),
        "localhost",
    )
    .await;
    assert_eq!(tag, b'Q');
    assert_eq!(info.key_exchange, Some("X25519MLKEM768"));
    assert_eq!(
        tls.get_ref()
            .1
            .negotiated_key_exchange_group()
            .unwrap()
            .name(),
        NamedGroup::X25519MLKEM768
    );
    echo(&mut tls, b"quantum-safe").await;
    drop(tls);
    assert_eq!(p.stop().await.tls_handshakes, 1);
}

#[tokio::test]
async fn a_classical_only_client_negotiates_x25519() {
    let up = tagged_echo(b'C').await;
    let dir = TempDir::new("kx-classic");
    let cert = localhost_cert();
    let p = start_toml(&listener(&dir, &cert, up, "")).await;
    let (mut tls, info, tag) =
        tls_connect(&offering(&cert, kx_group::X25519), p.addr(), "localhost").await;
    assert_eq!(tag, b'C');
    assert_eq!(info.key_exchange, Some("X25519"));
    echo(&mut tls, b"classical").await;
    drop(tls);
    p.stop().await;
}

/// `post_quantum = false` on the listener: the hybrid group is no longer accepted; classical
/// clients are served as before.
#[tokio::test]
async fn post_quantum_false_turns_the_hybrid_group_off() {
    let up = tagged_echo(b'F').await;
    let dir = TempDir::new("kx-off");
    let cert = localhost_cert();
    let p = start_toml(&listener(&dir, &cert, up, "post_quantum = false\n")).await;
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    let refused = offering(&cert, kx_group::X25519MLKEM768)
        .connect("localhost", tcp)
        .await;
    assert!(refused.is_err(), "a hybrid-only client must be refused");
    // The default connector offers X25519 next to the hybrid share.
    let (_tls, info, tag) = tls_connect(&connector(&[&cert], 0), p.addr(), "localhost").await;
    assert_eq!(tag, b'F');
    assert_eq!(info.key_exchange, Some("X25519"));
    p.stop().await;
}

/// Re-encryption: the proxy offers the hybrid group to TLS upstreams by default, and only
/// classical groups with `post_quantum = false` in `[pool.p.tls]`.
#[tokio::test]
async fn upstream_tls_offers_x25519mlkem768_unless_turned_off() {
    let upstream_cert = localhost_cert();
    let mut upstream = AcceptorConfig::new(upstream_cert.to_source());
    upstream.key_exchange(KeyExchange::PostQuantum);
    let (up, mut seen) = tls_tagged_echo(TlsAcceptor::new(&upstream).unwrap(), b'U').await;
    let dir = TempDir::new("kx-upstream");
    let ca = dir.write("upstream-ca.pem", upstream_cert.cert_pem());
    let front = localhost_cert();
    for (pool_extra, want) in [("", "X25519MLKEM768"), ("post_quantum = false\n", "X25519")] {
        let text = format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\n\
             [pool.p]\nupstreams = [\"{up}\"]\n[pool.p.tls]\nca = {}\n{pool_extra}",
            cert_lines(&dir, "front", &front),
            toml_path(&ca)
        );
        let p = start_toml(&text).await;
        let (tls, _, tag) = tls_connect(&connector(&[&front], 0), p.addr(), "localhost").await;
        assert_eq!(tag, b'U');
        let info = seen.recv().await.unwrap().unwrap();
        assert_eq!(info.key_exchange, Some(want), "[pool.p.tls] {pool_extra:?}");
        drop(tls);
        p.stop().await;
    }
}
