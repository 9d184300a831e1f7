//! TLS termination: byte-exact relay both ways, half-close through TLS, plain and TLS
//! listeners side by side, failed handshakes, client certificates.

use ferry_tls::{CertSource, ConnectorConfig, PemInput, SelfSigned, TlsConnector};
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::common::{
    TempDir, cert_lines, connector, echo, localhost_cert, start_toml, tagged_echo, tls_connect,
    toml_path,
};

fn tls_listener(upstream: std::net::SocketAddr, tls_lines: &str) -> String {
    format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{tls_lines}\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\n"
    )
}

#[tokio::test]
async fn tls_relay_is_byte_exact_both_ways_and_client_eof_reaches_the_upstream() {
    // The upstream reads to EOF (which only comes if the client's close_notify became a FIN
    // towards it), then answers everything reversed and closes.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got.reverse();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let dir = TempDir::new("exact");
    let cert = localhost_cert();
    let p = start_toml(&tls_listener(up, &cert_lines(&dir, "server", &cert))).await;

    let mut data = vec![0u8; (1 << 20) + 12_345];
    rand::rng().fill_bytes(&mut data);
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    let (mut tls, info) = connector(&[&cert], 0)
        .connect("localhost", tcp)
        .await
        .unwrap();
    assert!(!info.resumed);
    tls.write_all(&data).await.unwrap();
    tls.shutdown().await.unwrap();
    let mut back = Vec::new();
    tls.read_to_end(&mut back).await.unwrap();
    data.reverse();
    assert!(back == data, "relayed bytes differ");

    drop(tls);
    let r = p.stop().await;
    assert_eq!((r.accepted, r.completed, r.tls_handshakes), (1, 1, 1));
    assert_eq!(r.client_to_upstream, data.len() as u64);
    assert_eq!(r.upstream_to_client, data.len() as u64);
}

#[tokio::test]
async fn upstream_eof_reaches_the_tls_client_which_can_still_send() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = l.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"bye").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        tx.send(got).unwrap();
    });
    let dir = TempDir::new("upstream-eof");
    let cert = localhost_cert();
    let p = start_toml(&tls_listener(up, &cert_lines(&dir, "server", &cert))).await;
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    let (mut tls, _) = connector(&[&cert], 0)
        .connect("localhost", tcp)
        .await
        .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye", "upstream EOF must arrive as a clean TLS close");
    tls.write_all(b"written after the upstream closed")
        .await
        .unwrap();
    tls.shutdown().await.unwrap();
    assert_eq!(rx.await.unwrap(), b"written after the upstream closed");
    drop(tls);
    let r = p.stop().await;
    assert_eq!(r.completed, 1);
}

#[tokio::test]
async fn plain_and_tls_listeners_side_by_side() {
    let up = tagged_echo(b'U').await;
    let dir = TempDir::new("side");
    let cert = localhost_cert();
    let text = format!(
        "[[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "server", &cert)
    );
    let p = start_toml(&text).await;
    let mut plain = TcpStream::connect(p.addrs[0]).await.unwrap();
    let mut tag = [0u8; 1];
    plain.read_exact(&mut tag).await.unwrap();
    assert_eq!(tag[0], b'U');
    echo(&mut plain, b"plain bytes").await;
    let (mut tls, info, tag) = tls_connect(&connector(&[&cert], 0), p.addrs[1], "localhost").await;
    assert_eq!(tag, b'U');
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    echo(&mut tls, b"tls bytes").await;
    drop((plain, tls));
    let r = p.stop().await;
    assert_eq!((r.accepted, r.tls_handshakes), (2, 1));
}

#[tokio::test]
async fn failed_handshakes_close_and_are_counted() {
    let up = tagged_echo(b'X').await;
    let dir = TempDir::new("garbage");
    let cert = localhost_cert();
    let p = start_toml(&tls_listener(up, &cert_lines(&dir, "server", &cert))).await;
    // Garbage instead of a ClientHello.
    let mut raw = TcpStream::connect(p.addr()).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest).await;
    assert!(!rest.contains(&b'X'), "garbage reached the upstream");
    // A client that does not trust the certificate aborts the handshake.
    let stranger = SelfSigned::generate(["localhost"]).unwrap();
    let tcp = TcpStream::connect(p.addr()).await.unwrap();
    assert!(
        connector(&[&stranger], 0)
            .connect("localhost", tcp)
            .await
            .is_err()
    );
    // A good client still works.
    let (_tls, _, tag) = tls_connect(&connector(&[&cert], 0), p.addr(), "localhost").await;
    assert_eq!(tag, b'X');
    drop(_tls);
    let r = p.stop().await;
    assert_eq!(r.accepted, 3);
    assert_eq!(r.tls_handshake_failures, 2);
    assert_eq!(r.tls_handshakes, 1);
}

#[tokio::test]
async fn client_ca_requires_a_trusted_client_certificate() {
    let up = tagged_echo(b'M').await;
    let dir = TempDir::new("mtls");
    let (server, client, stranger) = (
        localhost_cert(),
        SelfSigned::generate(["client.test"]).unwrap(),
        SelfSigned::generate(["client.test"]).unwrap(),
    );
    let client_ca = dir.write("clients.pem", client.cert_pem());
    let lines = format!(
        "{}client_ca = {}\n",
        cert_lines(&dir, "server", &server),
        toml_path(&client_ca)
    );
    let p = start_toml(&tls_listener(up, &lines)).await;
    let with_cert = |cert: Option<&SelfSigned>| {
        let mut c = ConnectorConfig::new();
        c.add_ca(PemInput::memory("server", server.cert_pem()))
            .session_cache_size(0);
        if let Some(cert) = cert {
            c.client_cert(CertSource::pem(cert.cert_pem(), cert.key_pem()));
        }
        TlsConnector::new(&c).unwrap()
    };
    let (_ok, _, tag) = tls_connect(&with_cert(Some(&client)), p.addr(), "localhost").await;
    assert_eq!(tag, b'M');
    drop(_ok);
    for bad in [None, Some(&stranger)] {
        let tcp = TcpStream::connect(p.addr()).await.unwrap();
        // In TLS 1.3 the client learns of the rejection only when it reads.
        if let Ok((mut tls, _)) = with_cert(bad).connect("localhost", tcp).await {
            let mut b = [0u8; 1];
            assert!(
                !matches!(tls.read(&mut b).await, Ok(1)),
                "a client without a trusted certificate was served"
            );
        }
    }
    let r = p.stop().await;
    assert_eq!(r.tls_handshakes, 1);
    assert_eq!(r.tls_handshake_failures, 2);
}
