//! `accept_proxy` behind a test "balancer": connections from 127.0.0.1 (trusted) that start
//! with a PROXY v2 header naming the real client. The client front's per-client limit, its
//! failed-auth block and its access log key on the header's address; an untrusted sender of a
//! header, a late header and a missing one are refused; a service passes the original client
//! through `send_proxy` and checks `allow_from` against it; on a `[client_tls]` front the header
//! comes before the TLS handshake.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ferry_front::proxy_protocol::{ProxyHeader, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{
    CLIENT_TOKEN, Files, connect_request, echo_server, proxy_header_server, read_head, round_trip,
    start_agent, start_gateway,
};

/// The `ferry::access` lines logged by this test binary (a global subscriber, installed once),
/// and the certificate refusals (`ferry_tls`, `ferry_app_tunnel::verify`).
pub(crate) fn access_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOG.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt as _;
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buf);
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || Sink(Arc::clone(&writer))),
            )
            .with(
                tracing_subscriber::filter::Targets::new()
                    .with_target("ferry::access", tracing::Level::INFO)
                    .with_target("ferry_tls", tracing::Level::INFO)
                    .with_target("ferry_app_tunnel::verify", tracing::Level::INFO),
            );
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    }))
}

/// Waits for an access-log line containing every one of `needles`; returns it.
pub(crate) async fn logged(log: &Mutex<Vec<u8>>, needles: &[&str]) -> String {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no access-log line with {needles:?}"))
}

/// A PROXY v2 header for a TCP connection from `client` to `to`.
fn v2(client: &str, to: &str) -> Vec<u8> {
    let mut out = Vec::new();
    ProxyHeader::proxy(Version::V2, client.parse().unwrap(), to.parse().unwrap())
        .encode(&mut out)
        .unwrap();
    out
}

/// A v2 `LOCAL` header (a balancer's health check).
fn v2_local() -> Vec<u8> {
    let mut out = Vec::new();
    ProxyHeader::local(Version::V2).encode(&mut out).unwrap();
    out
}

/// Connects to `to` from `source` (any 127.x address).
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// The balancer (127.0.0.1) forwards a client: `header`, then a CONNECT to `target` with
/// `password`, in one write. Returns the reply's status, text and the stream.
async fn forwarded(
    front: SocketAddr,
    header: &[u8],
    target: SocketAddr,
    password: &str,
) -> (u16, String, TcpStream) {
    let mut s = connect_from("127.0.0.1", front).await;
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(
        connect_request(&target.to_string(), "edge-0", Some(password)).as_bytes(),
    );
    s.write_all(&bytes).await.unwrap();
    let (status, text) = read_head(&mut s).await;
    (status, text, s)
}

/// Reads until EOF or a reset; returns the bytes read before it.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the gateway did not close the connection");
    out
}

const FRONT: &str = r#"
[accept_proxy]
trusted = ["127.0.0.1"]
timeout = "300ms"
[limits]
max_tunnels_per_client = 1
auth_failures = "1/min burst 1"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_trusted_balancer_are_limited_blocked_and_logged_by_their_header_address()
{
    let log = access_log();
    let files = Files::new(1);
    let echo = echo_server().await;
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", FRONT)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let front = gw.client;
    let to = "192.0.2.1:8080";

    // Per-client connection limit 1, counted per header address: two clients behind the same
    // balancer both get their tunnel ...
    let (status, text, first) =
        forwarded(front, &v2("127.0.0.9:1234", to), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 200, "{text}");
    let (status, text, second) =
        forwarded(front, &v2("127.0.0.10:1234", to), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 200, "{text}");
    // ... and the first one's second tunnel hits its own cap.
    let (status, text, _third) =
        forwarded(front, &v2("127.0.0.9:1235", to), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 429, "{text}");
    let line = logged(&log, &["client=127.0.0.9:1235", "limited"]).await;
    assert!(line.contains("status=429"), "{line}");

    // The tunnels relay the client's bytes (nothing of the header reaches the agent).
    assert_eq!(round_trip(first, b"first").await, b"first");
    assert_eq!(round_trip(second, b"second").await, b"second");
    logged(&log, &["client=127.0.0.9:1234", "status=200"]).await;

    // The failed-auth block: one refused credential blocks that client, not its neighbours.
    let (status, text, _s) =
        forwarded(front, &v2("127.0.0.11:1", to), echo, "fy1_wrong-token").await;
    assert_eq!(status, 407, "{text}");
    let (status, text, _s) = forwarded(front, &v2("127.0.0.11:2", to), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 429, "blocked by its own failure: {text}");
    logged(&log, &["client=127.0.0.11:2", "auth_blocked"]).await;
    let (status, text, s) = forwarded(front, &v2("127.0.0.12:1", to), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 200, "another client is not blocked: {text}");
    assert_eq!(round_trip(s, b"twelve").await, b"twelve");

    // A LOCAL header (health check) is accepted: the balancer itself is the client.
    let (status, text, s) = forwarded(front, &v2_local(), echo, CLIENT_TOKEN).await;
    assert_eq!(status, 200, "{text}");
    let balancer = format!("client={}", s.local_addr().unwrap());
    assert_eq!(round_trip(s, b"local").await, b"local");
    logged(&log, &[&balancer, "status=200"]).await;
    assert_eq!(gw.front.stats().proxy_rejected(), 0);
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_sender_a_late_header_and_no_header_are_refused_before_any_reply() {
    let log = access_log();
    let files = Files::new(1);
    let echo = echo_server().await;
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", FRONT)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let front = gw.client;
    let request = connect_request(&echo.to_string(), "edge-0", Some(CLIENT_TOKEN));
    let stats = gw.front.stats();

    // 127.0.0.2 is not trusted: its header is never believed, the connection is closed.
    let mut untrusted = connect_from("127.0.0.2", front).await;
    let mut bytes = v2("127.0.0.20:1", "192.0.2.1:8080");
    bytes.extend_from_slice(request.as_bytes());
    let _ = untrusted.write_all(&bytes).await;
    assert!(read_to_close(&mut untrusted).await.is_empty());
    assert_eq!(stats.proxy_rejected(), 1);
    let line = logged(&log, &["client=127.0.0.2:", "proxy_untrusted"]).await;
    assert!(!line.contains("127.0.0.20"), "{line}");

    // A trusted peer whose header stops half-way is closed at the header timeout.
    let mut late = connect_from("127.0.0.1", front).await;
    let header = v2("127.0.0.21:1", "192.0.2.1:8080");
    late.write_all(&header[..10]).await.unwrap();
    let late_peer = format!("client={}", late.local_addr().unwrap());
    assert!(read_to_close(&mut late).await.is_empty());
    assert_eq!(stats.proxy_rejected(), 2);
    logged(&log, &[&late_peer, "proxy_header_timeout"]).await;

    // A trusted peer that sends no header at all (a CONNECT straight away) is closed too.
    let mut bare = connect_from("127.0.0.1", front).await;
    let _ = bare.write_all(request.as_bytes()).await;
    let bare_peer = format!("client={}", bare.local_addr().unwrap());
    assert!(read_to_close(&mut bare).await.is_empty());
    assert_eq!(stats.proxy_rejected(), 3);
    logged(&log, &[&bare_peer, "proxy_header_invalid"]).await;

    // None of them got a reply or a tunnel; a well-formed one still does.
    assert_eq!(stats.replies(200), 0);
    let (status, text, s) = forwarded(
        front,
        &v2("127.0.0.22:1", "192.0.2.1:8080"),
        echo,
        CLIENT_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(round_trip(s, b"ok").await, b"ok");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_tls_front_the_header_comes_before_the_handshake_and_names_the_client() {
    let log = access_log();
    let files = Files::new(1);
    let echo = echo_server().await;
    let extra = format!(
        "[client_tls]\ncert = \"{}\"\nkey = \"{}\"\n[accept_proxy]\ntrusted = [\"127.0.0.1\"]\n",
        files.path("gw.pem"),
        files.path("gw.key")
    );
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", &extra)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let mut tls = ferry_tls::ConnectorConfig::new();
    tls.add_ca(ferry_tls::PemInput::memory(
        "gateway",
        std::fs::read_to_string(files.path("gw.pem")).unwrap(),
    ));
    let connector = ferry_tls::TlsConnector::new(&tls).unwrap();

    // The balancer's plain header first, then the client's TLS handshake and CONNECT.
    let mut tcp = connect_from("127.0.0.1", gw.client).await;
    tcp.write_all(&v2("127.0.0.30:3030", "192.0.2.1:443"))
        .await
        .unwrap();
    let (mut s, _info) = connector.connect("localhost", tcp).await.unwrap();
    let request = connect_request(&echo.to_string(), "edge-0", Some(CLIENT_TOKEN));
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "closed before a reply head"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(b"through tls").await.unwrap();
    let mut back = [0u8; 11];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"through tls");
    drop(s);
    logged(&log, &["client=127.0.0.30:3030", "status=200"]).await;
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_turns_accept_proxy_on_for_new_connections() {
    let files = Files::new(1);
    let echo = echo_server().await;
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let request = connect_request(&echo.to_string(), "edge-0", Some(CLIENT_TOKEN));
    // Before: a direct client is served.
    let mut direct = connect_from("127.0.0.1", gw.client).await;
    direct.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut direct).await.0, 200);

    let done = gw
        .reloader
        .reload(files.gateway_config("127.0.0.1:0", FRONT))
        .unwrap();
    assert!(!done.applied.is_empty(), "{done:?}");
    assert!(gw.front.config().accept_proxy.is_some());
    // After: a connection without a header is refused, one through the balancer is served,
    // and the tunnel opened before the reload still relays.
    let mut bare = connect_from("127.0.0.1", gw.client).await;
    let _ = bare.write_all(request.as_bytes()).await;
    assert!(read_to_close(&mut bare).await.is_empty());
    assert_eq!(gw.front.stats().proxy_rejected(), 1);
    let (status, text, s) = forwarded(
        gw.client,
        &v2("127.0.0.40:1", "192.0.2.1:8080"),
        echo,
        CLIENT_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(round_trip(s, b"after").await, b"after");
    assert_eq!(round_trip(direct, b"live").await, b"live");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_behind_a_balancer_sends_the_original_client_on_and_checks_allow_from_on_it() {
    let log = access_log();
    let files = Files::new(1);
    let (server, mut headers) = proxy_header_server().await;
    // allow_from names the clients (127.0.0.8-15), not the balancer (127.0.0.1).
    let service = format!(
        "[[service]]\nname = \"db\"\nbind = \"127.0.0.1:0\"\nagent = \"edge-0\"\n\
         destination = \"{server}\"\nsend_proxy = \"v2\"\nallow_from = [\"127.0.0.8/29\"]\n\
         accept_proxy = {{ trusted = [\"127.0.0.1\"], versions = [\"v2\"] }}\n"
    );
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", &service)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let addr = gw.services.addr("db").unwrap();
    let stats = gw.services.stats("db");

    let mut s = connect_from("127.0.0.1", addr).await;
    s.write_all(&v2("127.0.0.13:4321", "192.0.2.1:2222"))
        .await
        .unwrap();
    assert_eq!(
        round_trip(s, b"after the header").await,
        b"after the header"
    );
    let seen = headers.recv().await.unwrap();
    assert_eq!(seen.version, Version::V2);
    let a = seen.addresses.unwrap();
    assert_eq!(
        a.source,
        "127.0.0.13:4321".parse().unwrap(),
        "the original client"
    );
    assert_eq!(
        a.destination,
        "192.0.2.1:2222".parse().unwrap(),
        "where it connected"
    );
    logged(
        &log,
        &["service=db", "client=127.0.0.13:4321", "result=\"ok\""],
    )
    .await;

    // A client outside allow_from, behind the trusted balancer: refused by its own address.
    let mut s = connect_from("127.0.0.1", addr).await;
    s.write_all(&v2("127.0.0.20:1", "192.0.2.1:2222"))
        .await
        .unwrap();
    assert!(read_to_close(&mut s).await.is_empty());
    assert_eq!(stats.connections("refused_source"), 1);

    // An untrusted sender (127.0.0.2) claiming an allowed client is refused unread.
    let mut s = connect_from("127.0.0.2", addr).await;
    let _ = s.write_all(&v2("127.0.0.9:1", "192.0.2.1:2222")).await;
    assert!(read_to_close(&mut s).await.is_empty());
    assert_eq!(stats.connections("proxy_untrusted"), 1);
    // A v1 header where only v2 is accepted.
    let mut s = connect_from("127.0.0.1", addr).await;
    let _ = s
        .write_all(b"PROXY TCP4 127.0.0.9 192.0.2.1 1 2222\r\n")
        .await;
    assert!(read_to_close(&mut s).await.is_empty());
    assert_eq!(stats.connections("proxy_header_invalid"), 1);
    assert_eq!(stats.connections("ok"), 1);
    assert!(
        headers.try_recv().is_err(),
        "nothing else reached the service"
    );
    agent.stop().await;
    gw.stop().await;
}
