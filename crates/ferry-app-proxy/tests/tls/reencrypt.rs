//! Re-encryption: TLS from the proxy to upstreams, verified against the configured CA.

use ferry_tls::{AcceptorConfig, ClientAuth, PemInput, SelfSigned, TlsAcceptor};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::common::{
    TempDir, cert_lines, connector, echo, localhost_cert, start_toml, tls_connect, tls_tagged_echo,
    toml_path,
};

/// A TLS listener in front of one pool whose `[pool.p.tls]` holds `pool_tls`.
fn config(dir: &TempDir, front: &SelfSigned, up: std::net::SocketAddr, pool_tls: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n[pool.p.tls]\n{pool_tls}\n",
        cert_lines(dir, "front", front)
    )
}

#[tokio::test]
async fn upstream_certificate_is_verified_with_the_configured_ca() {
    let upstream_cert = localhost_cert();
    let acceptor = TlsAcceptor::new(&AcceptorConfig::new(upstream_cert.to_source())).unwrap();
    let (up, mut seen) = tls_tagged_echo(acceptor, b'T').await;
    let dir = TempDir::new("reencrypt");
    let ca = dir.write("upstream-ca.pem", upstream_cert.cert_pem());
    let front = localhost_cert();
    // Verified for the upstream's IP address (127.0.0.1 is in the certificate), then for an
    // explicit server_name.
    for extra in ["", "server_name = \"localhost\"\n"] {
        let p = start_toml(&config(
            &dir,
            &front,
            up,
            &format!("ca = {}\n{extra}", toml_path(&ca)),
        ))
        .await;
        let (mut tls, _, tag) = tls_connect(&connector(&[&front], 0), p.addr(), "localhost").await;
        assert_eq!(tag, b'T');
        echo(&mut tls, b"encrypted twice").await;
        let info = seen.recv().await.unwrap().unwrap();
        let want_sni = if extra.is_empty() {
            None
        } else {
            Some("localhost")
        };
        assert_eq!(info.sni.as_deref(), want_sni);
        drop(tls);
        let r = p.stop().await;
        assert_eq!((r.completed, r.upstream_tls_failures), (1, 0));
    }
}

#[tokio::test]
async fn wrong_ca_closes_the_connection_and_is_counted() {
    let upstream_cert = localhost_cert();
    let acceptor = TlsAcceptor::new(&AcceptorConfig::new(upstream_cert.to_source())).unwrap();
    let (up, mut seen) = tls_tagged_echo(acceptor, b'T').await;
    let dir = TempDir::new("wrong-ca");
    let other = localhost_cert();
    let wrong = dir.write("wrong-ca.pem", other.cert_pem());
    let front = localhost_cert();
    let p = start_toml(&config(
        &dir,
        &front,
        up,
        &format!("ca = {}\n", toml_path(&wrong)),
    ))
    .await;
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    let (mut tls, _) = connector(&[&front], 0)
        .connect("localhost", tcp)
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest).await;
    assert!(
        rest.is_empty(),
        "bytes from an unverified upstream: {rest:?}"
    );
    // The upstream saw the proxy abort the handshake.
    assert!(seen.recv().await.unwrap().is_err());
    drop(tls);
    let r = p.stop().await;
    assert_eq!(r.upstream_tls_failures, 1);
    assert_eq!(r.completed, 0);
}

#[tokio::test]
async fn client_certificate_is_presented_to_upstreams_that_require_one() {
    let upstream_cert = localhost_cert();
    let client_cert = SelfSigned::generate(["proxy.test"]).unwrap();
    let mut server = AcceptorConfig::new(upstream_cert.to_source());
    server.client_auth(ClientAuth::Required(vec![PemInput::memory(
        "proxy client CA",
        client_cert.cert_pem(),
    )]));
    let (up, mut seen) = tls_tagged_echo(TlsAcceptor::new(&server).unwrap(), b'C').await;
    let dir = TempDir::new("upstream-mtls");
    let ca = dir.write("upstream-ca.pem", upstream_cert.cert_pem());
    let (cc, ck) = dir.write_cert("client", &client_cert);
    let front = localhost_cert();
    let p = start_toml(&config(
        &dir,
        &front,
        up,
        &format!(
            "ca = {}\nclient_cert = {}\nclient_key = {}\n",
            toml_path(&ca),
            toml_path(&cc),
            toml_path(&ck)
        ),
    ))
    .await;
    let (_tls, _, tag) = tls_connect(&connector(&[&front], 0), p.addr(), "localhost").await;
    assert_eq!(tag, b'C');
    let info = seen.recv().await.unwrap().unwrap();
    assert_eq!(info.peer_certificate.as_ref(), Some(client_cert.cert_der()));
    drop(_tls);
    p.stop().await;
}

#[tokio::test]
async fn plain_listener_to_tls_upstream() {
    let upstream_cert = localhost_cert();
    let acceptor = TlsAcceptor::new(&AcceptorConfig::new(upstream_cert.to_source())).unwrap();
    let (up, _seen) = tls_tagged_echo(acceptor, b'P').await;
    let dir = TempDir::new("plain-to-tls");
    let ca = dir.write("upstream-ca.pem", upstream_cert.cert_pem());
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[pool.p]\nupstreams = [\"{up}\"]\n\
         [pool.p.tls]\nca = {}\n",
        toml_path(&ca)
    ))
    .await;
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let mut tag = [0u8; 1];
    c.read_exact(&mut tag).await.unwrap();
    assert_eq!(tag[0], b'P');
    echo(&mut c, b"plain in, tls out").await;
    drop(c);
    p.stop().await;
}

#[tokio::test]
async fn reload_rereads_the_upstream_ca() {
    let (first, second) = (localhost_cert(), localhost_cert());
    // No resumption at the upstream: a resumed session carries the first certificate's
    // verification over, and every handshake here must present the current certificate.
    let no_resumption = |cert: &SelfSigned| {
        let mut c = AcceptorConfig::new(cert.to_source());
        c.session_cache_size(0).tickets(ferry_tls::Tickets::Off);
        c
    };
    let acceptor = TlsAcceptor::new(&no_resumption(&first)).unwrap();
    let (up, mut seen) = tls_tagged_echo(acceptor.clone(), b'R').await;
    let dir = TempDir::new("upstream-ca-reload");
    let ca = dir.write("upstream-ca.pem", first.cert_pem());
    let front = localhost_cert();
    let p = start_toml(&config(
        &dir,
        &front,
        up,
        &format!("ca = {}\n", toml_path(&ca)),
    ))
    .await;
    let client = connector(&[&front], 0);
    let (_ok, _, tag) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(tag, b'R');
    seen.recv().await.unwrap().unwrap();

    // The upstream moves to a new certificate: the proxy refuses it until its CA file has the
    // new one and is reloaded.
    acceptor.reload(&no_resumption(&second)).unwrap();
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    let (mut refused, _) = client.connect("localhost", tcp).await.unwrap();
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
    assert!(seen.recv().await.unwrap().is_err());

    dir.write("upstream-ca.pem", second.cert_pem());
    let outcome = p.reloader.reload_tls();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.reloaded, 2, "the listener and the pool");
    let (_ok2, _, tag) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(tag, b'R');
    drop((_ok, _ok2, refused));
    let r = p.stop().await;
    assert_eq!((r.completed, r.upstream_tls_failures), (2, 1));
}
