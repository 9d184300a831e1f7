//! Every status the front answers, each produced by a real request through the real gateway
//! and a real agent (no stand-in opener).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{CLIENT_TOKEN, Files, ask, connect_request, echo_server, gateway_and_agent};

/// A listener whose accept queue is full, so that a new connect to it hangs (its SYNs are
/// dropped). Returns the address and the connections that fill the queue.
async fn black_hole() -> (SocketAddr, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("connect to the black hole: {e}"),
            Err(_full) => {
                // Keep the listener alive with the streams.
                std::mem::forget(listener);
                return (addr, held);
            }
        }
    }
    panic!("the accept queue never filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_through_the_real_gateway_and_agent() {
    let files = Files::new(1);
    let (gw, agent) = gateway_and_agent(&files, r#"connect_timeout = "500ms""#).await;
    let echo = echo_server().await;
    let target = echo.to_string();

    // 407 with Proxy-Authenticate: no credentials, then a wrong password.
    let (status, head, _) = ask(gw.client, &connect_request(&target, "edge-0", None), b"").await;
    assert_eq!(status, 407, "{head}");
    assert!(head.contains("Proxy-Authenticate: Basic realm="), "{head}");
    let (status, head, _) = ask(
        gw.client,
        &connect_request(&target, "edge-0", Some("wrong")),
        b"",
    )
    .await;
    assert_eq!(status, 407, "{head}");
    assert!(head.contains("Proxy-Authenticate: Basic"), "{head}");

    // 405: not CONNECT.
    let (status, _, _) = ask(gw.client, "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", b"").await;
    assert_eq!(status, 405);

    let good = |t: &str, agent: &str| connect_request(t, agent, Some(CLIENT_TOKEN));
    // 403 from the gateway's allowlist (10.1.2.3 is not in it).
    let (status, _, _) = ask(gw.client, &good("10.1.2.3:80", "edge-0"), b"").await;
    assert_eq!(status, 403);
    // 403 from the agent's allowlist (the gateway allows 127.0.0.2, the agent does not).
    let (status, _, _) = ask(gw.client, &good("127.0.0.2:80", "edge-0"), b"").await;
    assert_eq!(status, 403);

    // 502: the agent's dial is refused.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let (status, _, _) = ask(gw.client, &good(&closed.to_string(), "edge-0"), b"").await;
    assert_eq!(status, 502);

    // 503: no agent connected with that id.
    let (status, _, _) = ask(gw.client, &good(&target, "edge-9"), b"").await;
    assert_eq!(status, 503);

    // 504: the agent's dial times out (500 ms) on a destination that never answers.
    let (hole, _held) = black_hole().await;
    let (status, _, _) = ask(gw.client, &good(&hole.to_string(), "edge-0"), b"").await;
    assert_eq!(status, 504);

    // 200, and bytes written together with the CONNECT head are forwarded, not lost.
    let (status, head, mut s) = ask(gw.client, &good(&target, "edge-0"), b"early bytes").await;
    assert_eq!(status, 200, "{head}");
    let mut back = [0u8; 11];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"early bytes");
    s.write_all(b" and more").await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b" and more");

    agent.stop().await;
    gw.stop().await;
}
