//! The peer listener on its own: TLS only, the shared credential only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use ferry_registry::{MemoryRegistry, Registry};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{Gateway, Pki, SECRET, echo_server, read_head};

fn request(target: SocketAddr, secret: Option<&str>, agent: Option<&str>) -> String {
    let mut r = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(s) = secret {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("ferry-gateway:{s}"));
        r.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    if let Some(a) = agent {
        r.push_str(&format!(
            "Ferry-Agent: {a}\r\nFerry-Client: 192.0.2.7:5555\r\n"
        ));
    }
    r.push_str("\r\n");
    r
}

async fn over_tls(pki: &Pki, peer: SocketAddr, req: &str) -> (u16, String) {
    let tcp = TcpStream::connect(peer).await.unwrap();
    let (mut tls, _) = pki.connector().connect("127.0.0.1", tcp).await.unwrap();
    tls.write_all(req.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), read_head(&mut tls))
        .await
        .unwrap()
}

#[tokio::test]
async fn peer_listener_checks_credential_and_headers() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let pki = Pki::new();
    let a = Gateway::start(registry, &["edge-a"], &pki).await;
    let echo = echo_server().await;

    let (status, head) = over_tls(
        &pki,
        a.peer_addr,
        &request(echo, Some("wrong-secret-0123456789"), Some("edge-a")),
    )
    .await;
    assert_eq!(status, 407);
    assert!(
        head.contains("Proxy-Authenticate: Basic realm=\"ferry-peer\""),
        "{head}"
    );
    let (status, _) = over_tls(&pki, a.peer_addr, &request(echo, None, Some("edge-a"))).await;
    assert_eq!(status, 407);
    let (status, _) = over_tls(&pki, a.peer_addr, &request(echo, Some(SECRET), None)).await;
    assert_eq!(status, 400, "agent id required");
    let (status, _) = over_tls(
        &pki,
        a.peer_addr,
        &request(echo, Some(SECRET), Some("bad id!")),
    )
    .await;
    assert_eq!(status, 400, "invalid agent id");
    assert_eq!(
        a.local.opens.load(Ordering::SeqCst),
        0,
        "nothing opened before the checks"
    );

    let (status, head) = over_tls(
        &pki,
        a.peer_addr,
        &request(echo, Some(SECRET), Some("edge-x")),
    )
    .await;
    assert_eq!(status, 503);
    assert!(head.contains("Ferry-Reason: agent-not-connected"), "{head}");
    let (status, _) = over_tls(
        &pki,
        a.peer_addr,
        &request(echo, Some(SECRET), Some("edge-a")),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn peer_listener_refuses_anything_but_tls() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let pki = Pki::new();
    let a = Gateway::start(registry, &["edge-a"], &pki).await;
    let echo = echo_server().await;
    let mut plain = TcpStream::connect(a.peer_addr).await.unwrap();
    plain
        .write_all(request(echo, Some(SECRET), Some("edge-a")).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut got))
        .await
        .expect("peer listener kept a plaintext connection open");
    // Closed (possibly with a TLS alert, never an HTTP reply), and nothing opened.
    let _ = read;
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    assert_eq!(a.local.opens.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn peer_listener_reload_applies_the_new_allowlist_to_new_connections() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let pki = Pki::new();
    let a = Gateway::start(registry, &["edge-a"], &pki).await;
    let echo = echo_server().await;
    let req = request(echo, Some(SECRET), Some("edge-a"));
    let (status, _) = over_tls(&pki, a.peer_addr, &req).await;
    assert_eq!(status, 200);

    // Only another address allowed now.
    let mut config = ferry_app_tunnel::cluster::PeerConfig::default();
    config.allow = Arc::new(ferry_allow::Allowlist::parse("127.0.0.2").unwrap());
    a.peer.reload(config, pki.acceptor());
    let (status, _) = over_tls(&pki, a.peer_addr, &req).await;
    assert_eq!(status, 403);
}
