//! Hostile or odd ClientHellos: fragmentation, garbage, silence, trickling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_tls::{AcceptorConfig, HandshakeError, TlsAcceptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::common::{ANY, Server, TestCa, client_config, client_hello, connect, echo};

fn acceptor(ca: &TestCa) -> TlsAcceptor {
    TlsAcceptor::new(&AcceptorConfig::new(ca.leaf(&["localhost"]).source())).unwrap()
}

/// How the relay rewrites the client's first TLS record (the ClientHello).
#[derive(Clone, Copy)]
enum Split {
    /// Forward every client byte as its own write (TCP_NODELAY on): 1-byte TCP segments.
    Bytes,
    /// Re-frame the ClientHello handshake message into TLS records of at most `n` bytes.
    Records(usize),
}

/// A relay between a client and `upstream` that fragments what the client sends first.
async fn relay(upstream: SocketAddr, split: Split) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        server.set_nodelay(true).unwrap();
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        });
        match split {
            Split::Bytes => {
                let mut byte = [0u8; 1];
                while client_read.read_exact(&mut byte).await.is_ok() {
                    if server_write.write_all(&byte).await.is_err() {
                        return;
                    }
                }
            }
            Split::Records(n) => {
                let mut header = [0u8; 5];
                client_read.read_exact(&mut header).await.unwrap();
                assert_eq!(header[0], 22, "first record must be a handshake record");
                let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
                let mut body = vec![0u8; len];
                client_read.read_exact(&mut body).await.unwrap();
                let mut reframed = Vec::new();
                for chunk in body.chunks(n) {
                    reframed.extend_from_slice(&header[..3]);
                    reframed.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
                    reframed.extend_from_slice(chunk);
                }
                assert!(body.len() > n, "the ClientHello must span several records");
                server_write.write_all(&reframed).await.unwrap();
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            }
        }
    });
    addr
}

async fn handshake_through(split: Split) {
    let ca = TestCa::new("fragment CA");
    let mut server = Server::start(acceptor(&ca)).await;
    let client = Arc::new(client_config(&[&ca.pem()], ANY));
    let via = relay(server.addr, split).await;
    let mut tls = connect(via, &client, "localhost").await.unwrap();
    let info = server.next_ok().await;
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    echo(&mut tls, b"after a fragmented hello").await;
}

#[tokio::test]
async fn client_hello_in_one_byte_tcp_segments() {
    handshake_through(Split::Bytes).await;
}

#[tokio::test]
async fn client_hello_split_across_two_tls_records() {
    handshake_through(Split::Records(100)).await;
}

#[tokio::test]
async fn client_hello_split_across_many_small_tls_records() {
    handshake_through(Split::Records(7)).await;
}

/// Connect, write `bytes`, optionally half-close, and return the server's result.
async fn server_result_for(bytes: &[u8], close: bool) -> Result<(), HandshakeError> {
    let ca = TestCa::new("garbage CA");
    let mut server = Server::start(acceptor(&ca)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    if close {
        tcp.shutdown().await.unwrap();
    }
    let result = server.next().await.map(|_| ());
    // Whatever the server answered (an alert or nothing), it closes the connection.
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest).await;
    result
}

#[tokio::test]
async fn garbage_instead_of_client_hello_is_a_tls_error() {
    let mut random = vec![0u8; 4096];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x.to_le_bytes()[0];
    }
    random[0] = 0x42; // not a TLS content type
    let cases: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        &random,
        // A handshake record whose body is not a ClientHello.
        &[22, 3, 1, 0, 4, 2, 0, 0, 0],
    ];
    for case in cases {
        match server_result_for(case, false).await {
            Err(HandshakeError::Tls(_)) => {}
            other => panic!(
                "{:?}: expected a TLS error, got {other:?}",
                &case[..8.min(case.len())]
            ),
        }
    }
}

#[tokio::test]
async fn truncated_client_hello_then_eof_is_an_io_error() {
    let ca = TestCa::new("eof CA");
    let hello = client_hello(client_config(&[&ca.pem()], ANY), "localhost");
    match server_result_for(&hello[..hello.len() / 2], true).await {
        Err(HandshakeError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("expected an i/o error, got {other:?}"),
    }
}

/// A connected (client, server) pair of loopback sockets.
pub(crate) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[tokio::test(start_paused = true)]
async fn silent_client_hits_the_default_deadline() {
    let ca = TestCa::new("silent CA");
    let acceptor = acceptor(&ca);
    let (_client, server_io) = tcp_pair().await;
    let start = Instant::now();
    let result = acceptor.accept(server_io).await;
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Err(HandshakeError::Timeout(d)) if d == Duration::from_secs(10)),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_100),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_is_total_not_per_read() {
    // A client that sends its ClientHello one byte per second: each read makes progress, but the
    // whole handshake is still cut at the 10 s deadline.
    let ca = TestCa::new("trickle CA");
    let acceptor = acceptor(&ca);
    let hello = client_hello(client_config(&[&ca.pem()], ANY), "localhost");
    assert!(hello.len() > 20);
    let (mut client, server_io) = tcp_pair().await;
    let trickle = tokio::spawn(async move {
        for byte in hello {
            if client.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let start = Instant::now();
    let result = acceptor.accept(server_io).await;
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Err(HandshakeError::Timeout(_))),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(11),
        "{elapsed:?}"
    );
    trickle.abort();
}
