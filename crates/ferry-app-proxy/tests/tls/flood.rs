//! A flood of unfinished handshakes does not stop other connections: the handshake runs in
//! each connection's task, never in the accept loop.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    TempDir, cert_lines, connector, echo, localhost_cert, start_toml, tagged_echo, tls_connect,
};

/// The first flight a TLS client sends (its ClientHello), captured over an in-memory pipe.
async fn client_hello() -> Vec<u8> {
    let (client_io, mut server_io) = tokio::io::duplex(64 * 1024);
    let cert = localhost_cert();
    let c = connector(&[&cert], 0);
    let task = tokio::spawn(async move { c.connect("localhost", client_io).await.map(|_| ()) });
    let mut buf = vec![0u8; 64 * 1024];
    let mut hello = Vec::new();
    // A TLS record: 5-byte header with the length in bytes 3..5.
    while hello.len() < 5 || hello.len() < 5 + usize::from(u16::from_be_bytes([hello[3], hello[4]]))
    {
        let n = server_io.read(&mut buf).await.unwrap();
        assert!(n > 0);
        hello.extend_from_slice(&buf[..n]);
    }
    task.abort();
    hello
}

#[tokio::test]
async fn stalled_handshakes_do_not_block_plain_or_tls_connections() {
    let up = tagged_echo(b'F').await;
    let dir = TempDir::new("flood");
    let cert = localhost_cert();
    // A handshake deadline far beyond the test, and few handshake slots: nothing here may
    // depend on the flood timing out.
    let p = start_toml(&format!(
        "[[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
         [[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\
         handshake_timeout = \"10m\"\nmax_handshakes = 4\n[pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "server", &cert)
    ))
    .await;
    let hello = client_hello().await;
    let mut flood = Vec::new();
    for i in 0..200 {
        let mut tcp = TcpStream::connect(p.addrs[1]).await.unwrap();
        if i % 2 == 0 {
            // Half a ClientHello; the other half of the flood sends nothing at all.
            tcp.write_all(&hello[..hello.len() / 2]).await.unwrap();
        }
        flood.push(tcp);
    }
    let bound = Duration::from_secs(30);
    let mut plain = tokio::time::timeout(bound, TcpStream::connect(p.addrs[0]))
        .await
        .unwrap()
        .unwrap();
    let mut tag = [0u8; 1];
    tokio::time::timeout(bound, plain.read_exact(&mut tag))
        .await
        .expect("plain connection starved by the handshake flood")
        .unwrap();
    echo(&mut plain, b"plain during the flood").await;
    let (mut tls, _, tag) = tokio::time::timeout(
        bound,
        tls_connect(&connector(&[&cert], 0), p.addrs[1], "localhost"),
    )
    .await
    .expect("tls handshake starved by the handshake flood");
    assert_eq!(tag, b'F');
    echo(&mut tls, b"tls during the flood").await;
    drop((plain, tls, flood));
    let r = p.stop().await;
    assert_eq!(r.accepted, 202);
    assert_eq!(r.tls_handshakes, 1);
    assert_eq!(r.tls_handshake_failures, 200, "dropped flood connections");
}
