//! `[[service]]`: public TCP ports of the gateway forwarded through an agent without CONNECT:
//! real curl, 8 MiB byte-exact with half-close, `send_proxy` v1 and v2 parsed by
//! `ferry-front`'s decoder, `allow_from`, a destination the agent refuses, and services added
//! and removed by a reload while a live connection runs on.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use ferry_app_core::reload::ReloadError;
use ferry_front::proxy_protocol::Version;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::Command;

use crate::harness::{
    Files, echo_server, http_server, payload, proxy_header_server, round_trip, start_agent,
    start_gateway,
};

/// A `[[service]]` table on port 0 through `edge-0`, with `extra` keys.
fn service(name: &str, destination: SocketAddr, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\nbind = \"127.0.0.1:0\"\nagent = \"edge-0\"\n\
         destination = \"{destination}\"\n{extra}\n"
    )
}

/// A gateway with `services` and agent `edge-0` (allowed to reach 127.0.0.1 only), connected.
async fn start(
    files: &Files,
    services: &str,
) -> (crate::harness::GatewayHandle, crate::harness::AgentHandle) {
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", services)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    (gw, agent)
}

/// Reads until EOF or a reset; returns the bytes read before it.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the gateway did not close the connection");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_an_http_server_through_a_tcp_service() {
    let files = Files::new(1);
    let http = http_server().await;
    let (gw, agent) = start(&files, &service("web", http, "")).await;
    let addr = gw.services.addr("web").unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl must be installed (apt-get install curl)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mib_through_a_service_is_byte_exact_with_half_close_both_ways() {
    let files = Files::new(1);
    let echo = echo_server().await;
    let (gw, agent) = start(&files, &service("bulk", echo, "")).await;
    let data = payload(8 << 20, 11);
    let s = TcpStream::connect(gw.services.addr("bulk").unwrap())
        .await
        .unwrap();
    // The client half-closes after its last byte; the echo's EOF comes back only after every
    // byte did, through the tunnel's half-close in both directions.
    let back = round_trip(s, &data).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_proxy_gives_the_service_the_real_client_address_in_v1_and_v2() {
    let files = Files::new(1);
    let (v1_server, mut v1_headers) = proxy_header_server().await;
    let (v2_server, mut v2_headers) = proxy_header_server().await;
    let services = format!(
        "{}{}",
        service("pp1", v1_server, "send_proxy = \"v1\""),
        service("pp2", v2_server, "send_proxy = \"v2\"")
    );
    let (gw, agent) = start(&files, &services).await;
    for (name, version, headers) in [
        ("pp1", Version::V1, &mut v1_headers),
        ("pp2", Version::V2, &mut v2_headers),
    ] {
        let addr = gw.services.addr(name).unwrap();
        let s = TcpStream::connect(addr).await.unwrap();
        let client = s.local_addr().unwrap();
        // The service's bytes come after the header, unchanged.
        assert_eq!(
            round_trip(s, b"after the header").await,
            b"after the header"
        );
        let header = headers.recv().await.unwrap();
        assert_eq!(header.version, version);
        let seen = header.addresses.unwrap();
        assert_eq!(seen.source, client, "{name}: the client's real address");
        assert_eq!(seen.destination, addr, "{name}: the service's address");
    }
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_closes_other_sources_at_accept() {
    let files = Files::new(1);
    let echo = echo_server().await;
    let (gw, agent) = start(
        &files,
        &service("only2", echo, "allow_from = [\"127.0.0.2/32\"]"),
    )
    .await;
    let addr = gw.services.addr("only2").unwrap();
    let stats = gw.services.stats("only2");

    // From 127.0.0.1: closed without a byte relayed.
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let _ = refused.write_all(b"let me in").await;
    assert!(read_to_close(&mut refused).await.is_empty());
    assert_eq!(stats.connections("refused_source"), 1);
    assert_eq!(stats.connections("ok"), 0);

    // From 127.0.0.2: relayed.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let allowed = socket.connect(addr).await.unwrap();
    assert_eq!(round_trip(allowed, b"from .2").await, b"from .2");
    assert_eq!(stats.connections("refused_source"), 1);
    agent.stop().await;
    gw.stop().await;
    assert_eq!(stats.connections("ok"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_the_agent_does_not_allow_is_closed_and_counted_denied() {
    let files = Files::new(1);
    // The gateway permits 127.0.0.2; the agent allows 127.0.0.1 only.
    let echo = echo_server().await;
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", echo.port()).parse().unwrap();
    let (gw, agent) = start(&files, &service("denied", elsewhere, "")).await;
    let stats = gw.services.stats("denied");
    let mut s = TcpStream::connect(gw.services.addr("denied").unwrap())
        .await
        .unwrap();
    let _ = s.write_all(b"hello?").await;
    assert!(read_to_close(&mut s).await.is_empty());
    // Counted (and logged: the same result) before the connection was closed.
    assert_eq!(stats.connections("agent_denied"), 1);
    assert_eq!(stats.connections("ok"), 0);
    agent.stop().await;
    gw.stop().await;
}

/// Connects until `addr` refuses (its listener closed); bounded.
async fn until_refused(addr: SocketAddr) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(s) = TcpStream::connect(addr).await {
            drop(s);
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the removed service's listener still accepts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_and_removes_services_and_live_connections_run_on() {
    let files = Files::new(1);
    let echo = echo_server().await;
    let (gw, agent) = start(&files, &service("old", echo, "")).await;
    let old_addr = gw.services.addr("old").unwrap();
    let mut live = TcpStream::connect(old_addr).await.unwrap();
    live.write_all(b"before").await.unwrap();
    let mut buf = [0u8; 6];
    live.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"before");

    // "old" removed, "new" added.
    let config = files.gateway_config("127.0.0.1:0", &service("new", echo, ""));
    let done = gw.reloader.reload(config.clone()).unwrap();
    assert!(
        done.applied.iter().any(|a| a == "services added: new"),
        "{done:?}"
    );
    assert!(
        done.applied
            .iter()
            .any(|a| a.starts_with("services removed") && a.ends_with(": old")),
        "{done:?}"
    );
    assert_eq!(gw.services.addr("old"), None);
    until_refused(old_addr).await;
    let new_addr = gw.services.addr("new").unwrap();
    let s = TcpStream::connect(new_addr).await.unwrap();
    assert_eq!(round_trip(s, b"new service").await, b"new service");

    // The connection accepted by the removed service still relays, to its natural end.
    assert_eq!(round_trip(live, b"after").await, b"after");

    // A service whose address cannot be bound refuses the reload; the running one stays.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let clash = format!(
        "{}[[service]]\nname = \"clash\"\nbind = \"{}\"\nagent = \"edge-0\"\ndestination = \"{echo}\"\n",
        service("new", echo, ""),
        taken.local_addr().unwrap()
    );
    let err = gw
        .reloader
        .reload(files.gateway_config("127.0.0.1:0", &clash))
        .unwrap_err();
    let ReloadError::Config(e) = &err else {
        panic!("{err:?}")
    };
    let text = ferry_app_core::error::error_line(e);
    assert!(
        text.contains("service[1].bind") && text.contains("\"clash\""),
        "{text}"
    );
    assert_eq!(gw.services.addr("clash"), None);
    assert_eq!(gw.services.addr("new"), Some(new_addr));
    let s = TcpStream::connect(new_addr).await.unwrap();
    assert_eq!(round_trip(s, b"still").await, b"still");
    agent.stop().await;
    gw.stop().await;
}
