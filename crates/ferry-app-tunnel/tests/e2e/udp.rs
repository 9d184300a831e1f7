//! `[[service]]` with `protocol = "udp"`: datagrams through the gateway, a real agent and a
//! real UDP echo server on loopback. 1000 datagrams of mixed sizes up to the largest carried
//! (65,507 bytes) byte-exact to two clients at once; the flow cap; idle expiry; `allow_from`
//! answering nothing; a destination the agent refuses; a datagram too long for the tunnel
//! (IPv6); a reload adding and removing a UDP service; a hand-made agent sending an oversize
//! frame, ending inside a frame (both reset), or ending between frames (a clean end).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_app_tunnel::service::ServiceStats;
use ferry_tunnel::MAX_DATAGRAM;
use tokio::net::UdpSocket;

use crate::harness::{Files, agent_token, payload, start_agent, start_gateway};

/// A UDP echo server on 127.0.0.1: every datagram goes back to its sender.
async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// A UDP `[[service]]` on port 0 through `edge-0`, with `extra` keys.
fn service(name: &str, destination: SocketAddr, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\nbind = \"127.0.0.1:0\"\nprotocol = \"udp\"\n\
         agent = \"edge-0\"\ndestination = \"{destination}\"\n{extra}\n"
    )
}

async fn start(
    files: &Files,
    services: &str,
) -> (crate::harness::GatewayHandle, crate::harness::AgentHandle) {
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", services)).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    (gw, agent)
}

/// A client socket on `ip`, connected to the service at `to`.
async fn client(ip: &str, to: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind(format!("{ip}:0")).await.unwrap();
    s.connect(to).await.unwrap();
    s
}

/// Sends `data` and waits (bounded) for the datagram that comes back.
async fn echo(s: &UdpSocket, data: &[u8]) -> Vec<u8> {
    s.send(data).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(20), s.recv(&mut buf))
        .await
        .expect("no datagram came back")
        .unwrap();
    buf.truncate(n);
    buf
}

/// Polls `check` until it holds; fails after 20 s (the events it waits for are driven by the
/// gateway, not by this clock).
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing is waiting on `s` (a datagram sent back would have been queued before the drop it
/// answers was counted: the gateway counts a drop instead of answering).
fn nothing_received(s: &UdpSocket) -> bool {
    let mut buf = [0u8; 16];
    matches!(s.try_recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// The sizes of the mixed-size test: the edges (0, 1, the largest), common MTU-sized ones, and
/// others spread in between.
fn size(i: usize) -> usize {
    const EDGES: [usize; 9] = [0, 1, 512, 1200, 1472, 1500, 9000, 65_000, MAX_DATAGRAM];
    if i.is_multiple_of(3) {
        EDGES[(i / 3) % EDGES.len()]
    } else {
        (i * 7919) % 4096 + (i % 5) * 2000
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_datagrams_of_mixed_sizes_echo_byte_exact_to_two_clients_at_once() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let (gw, agent) = start(&files, &service("echo", echo_addr, "")).await;
    let addr = gw.services.addr("echo").unwrap();
    let run = |seed: u64| async move {
        let s = client("127.0.0.1", addr).await;
        let mut bytes = 0;
        for i in 0..500usize {
            let data = payload(size(i), seed * 1000 + i as u64);
            let back = echo(&s, &data).await;
            assert!(
                back == data,
                "client {seed}: datagram {i} ({} bytes) differs",
                data.len()
            );
            bytes += data.len();
        }
        bytes
    };
    let (a, b) = tokio::join!(tokio::spawn(run(1)), tokio::spawn(run(2)));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a > 1_000_000 && b > 1_000_000, "{a} {b}");
    let stats = gw.services.stats("echo");
    assert_eq!(stats.udp_flows(), 2, "one flow per client address");
    assert_eq!(stats.udp_datagrams(), (1000, 1000));
    agent.stop().await;
    gw.stop().await;
    assert_eq!(stats.connections("ok"), 2);
    assert_eq!(stats.bytes(), ((a + b) as u64, (a + b) as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_cap_drops_a_third_client_and_the_first_two_keep_working() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let (gw, agent) = start(&files, &service("capped", echo_addr, "max_flows = 2")).await;
    let addr = gw.services.addr("capped").unwrap();
    let stats = gw.services.stats("capped");
    let one = client("127.0.0.1", addr).await;
    let two = client("127.0.0.1", addr).await;
    assert_eq!(echo(&one, b"one").await, b"one");
    assert_eq!(echo(&two, b"two").await, b"two");
    let three = client("127.0.0.1", addr).await;
    three.send(b"three").await.unwrap();
    until("the third flow dropped", || {
        stats.udp_dropped("flow_cap") == 1
    })
    .await;
    assert_eq!(stats.udp_flows(), 2);
    assert_eq!(echo(&one, b"one again").await, b"one again");
    assert_eq!(echo(&two, b"two again").await, b"two again");
    assert!(nothing_received(&three), "the dropped client got an answer");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flow_expires_and_the_next_datagram_starts_a_new_one() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let (gw, agent) = start(
        &files,
        &service("brief", echo_addr, "idle_timeout = \"300ms\""),
    )
    .await;
    let addr = gw.services.addr("brief").unwrap();
    let stats = gw.services.stats("brief");
    let s = client("127.0.0.1", addr).await;
    assert_eq!(echo(&s, b"first").await, b"first");
    assert_eq!(stats.udp_flows(), 1);
    // Expiry is the gateway's: wait for its flow table to empty and the flow to be logged.
    until("the flow expired", || {
        stats.udp_flows() == 0 && stats.connections("ok") == 1
    })
    .await;
    assert_eq!(echo(&s, b"second").await, b"second");
    assert_eq!(stats.udp_flows(), 1);
    until("the second flow expired", || stats.connections("ok") == 2).await;
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_outside_allow_from_gets_nothing_and_makes_no_flow() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let (gw, agent) = start(
        &files,
        &service("only2", echo_addr, "allow_from = [\"127.0.0.2/32\"]"),
    )
    .await;
    let addr = gw.services.addr("only2").unwrap();
    let stats = gw.services.stats("only2");
    let outsider = client("127.0.0.1", addr).await;
    for _ in 0..3 {
        outsider.send(&[0u8; 1000]).await.unwrap();
    }
    until("the datagrams dropped", || {
        stats.udp_dropped("refused_source") == 3
    })
    .await;
    assert_eq!(stats.udp_flows(), 0);
    assert!(nothing_received(&outsider), "an outsider got an answer");
    let insider = client("127.0.0.2", addr).await;
    assert_eq!(echo(&insider, b"from .2").await, b"from .2");
    assert_eq!(stats.udp_flows(), 1);
    assert!(nothing_received(&outsider));
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_the_agent_refuses_gets_nothing_and_is_counted_agent_denied() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    // The gateway permits 127.0.0.2; the agent allows 127.0.0.1 only.
    let elsewhere: SocketAddr = format!("127.0.0.2:{}", echo_addr.port()).parse().unwrap();
    let (gw, agent) = start(
        &files,
        &service("denied", elsewhere, "idle_timeout = \"300ms\""),
    )
    .await;
    let addr = gw.services.addr("denied").unwrap();
    let stats = gw.services.stats("denied");
    let s = client("127.0.0.1", addr).await;
    s.send(b"anyone?").await.unwrap();
    s.send(b"hello?").await.unwrap();
    // The flow holds (dropping) until idle, then ends with the agent's answer as its result.
    until("the refused flow ended", || {
        stats.connections("agent_denied") == 1
    })
    .await;
    assert_eq!(stats.connections("ok"), 0);
    assert_eq!(stats.udp_dropped("open_failed"), 2);
    assert!(nothing_received(&s));
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_ipv6_a_datagram_longer_than_65507_bytes_is_dropped_and_the_flow_goes_on() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let services = service("v6", echo_addr, "").replace("127.0.0.1:0", "[::1]:0");
    let (gw, agent) = start(&files, &services).await;
    let addr = gw.services.addr("v6").unwrap();
    let stats = gw.services.stats("v6");
    let s = client("[::1]", addr).await;
    assert_eq!(echo(&s, b"small").await, b"small");
    s.send(&vec![7u8; MAX_DATAGRAM + 1]).await.unwrap();
    until("the long datagram dropped", || {
        stats.udp_dropped("too_large") == 1
    })
    .await;
    let largest = payload(MAX_DATAGRAM, 3);
    assert!(echo(&s, &largest).await == largest);
    assert_eq!(stats.udp_flows(), 1);
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_and_removes_a_udp_service() {
    let files = Files::new(1);
    let echo_addr = udp_echo().await;
    let (gw, agent) = start(&files, "").await;
    assert_eq!(gw.services.addr("dns"), None);
    let with = files.gateway_config("127.0.0.1:0", &service("dns", echo_addr, ""));
    let done = gw.reloader.reload(with).unwrap();
    assert!(
        done.applied.iter().any(|a| a == "services added: dns"),
        "{done:?}"
    );
    let addr = gw.services.addr("dns").unwrap();
    let s = client("127.0.0.1", addr).await;
    assert_eq!(echo(&s, b"added").await, b"added");
    let stats: Arc<ServiceStats> = gw.services.stats("dns");
    // Removed: no new flow, the live one runs on.
    let done = gw
        .reloader
        .reload(files.gateway_config("127.0.0.1:0", ""))
        .unwrap();
    assert!(
        done.applied
            .iter()
            .any(|a| a.starts_with("services removed")),
        "{done:?}"
    );
    assert_eq!(gw.services.addr("dns"), None);
    assert_eq!(echo(&s, b"live flow").await, b"live flow");
    let late = client("127.0.0.1", addr).await;
    late.send(b"new client").await.unwrap();
    until("the new client dropped", || {
        stats.udp_dropped("closing") == 1
    })
    .await;
    assert!(nothing_received(&late));
    agent.stop().await;
    gw.stop().await;
}

/// A hand-made agent `edge-0`: authenticates over real QUIC with the real token, then answers
/// the first tunnel with `ok` and writes `frame` on it (then finishes its side if `finish`). Returns the header bytes it read and
/// how the gateway ended the stream (its read side: a reset code, or `None` for a clean end).
async fn hostile_agent(
    files: &Files,
    gateway: SocketAddr,
    frame: &'static [u8],
    finish: bool,
) -> tokio::task::JoinHandle<(Vec<u8>, Option<u64>)> {
    use ferry_tunnel::quinn;
    use ferry_tunnel::wire::{
        AuthRequest, Credential, REPLY_LEN, TunnelStatus, encode_auth, encode_status,
    };

    let roots =
        ferry_app_tunnel::gateway::load::roots("ca", files.dir.join("gw.pem").as_path()).unwrap();
    let crypto = ferry_tunnel::client_crypto(Arc::new(roots)).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(quinn::ClientConfig::new(crypto), gateway, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let mut auth = Vec::new();
    encode_auth(
        &AuthRequest {
            agent_id: ferry_tunnel::AgentId::new("edge-0").unwrap(),
            credential: Credential::new(&agent_token("edge-0")).unwrap(),
            member: None,
        },
        &mut auth,
    );
    send.write_all(&auth).await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        recv.read_to_end(REPLY_LEN).await.unwrap(),
        [1, 0],
        "auth ok"
    );
    tokio::spawn(async move {
        let _endpoint = endpoint;
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let mut header = vec![0u8; 2];
        recv.read_exact(&mut header).await.unwrap();
        let mut status = Vec::new();
        encode_status(TunnelStatus::Ok, &mut status);
        send.write_all(&status).await.unwrap();
        send.write_all(frame).await.unwrap();
        if finish {
            send.finish().unwrap();
        }
        // Whatever the gateway sends until it gives up on the stream.
        let mut sink = vec![0u8; 70_000];
        let end = loop {
            match recv.read(&mut sink).await {
                Ok(Some(_)) => {}
                Ok(None) => break None,
                Err(quinn::ReadError::Reset(code)) => break Some(code.into_inner()),
                Err(e) => panic!("{e}"),
            }
        };
        (header, end)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sending_an_oversize_frame_gets_its_flow_reset() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config(
        "127.0.0.1:0",
        &service("hostile", "127.0.0.1:9".parse().unwrap(), ""),
    ))
    .await;
    // 65,535 bytes announced: more than any datagram.
    let agent = hostile_agent(&files, gw.agents, &[0xff, 0xff, 0, 0], false).await;
    let stats = gw.services.stats("hostile");
    let s = client("127.0.0.1", gw.services.addr("hostile").unwrap()).await;
    s.send(b"hello").await.unwrap();
    let (header, end) = tokio::time::timeout(Duration::from_secs(20), agent)
        .await
        .expect("the gateway kept the stream")
        .unwrap();
    assert_eq!(header, [2, 0x11], "a version 2 UDP header");
    assert_eq!(end, Some(1), "reset with code 1 (aborted), not a clean end");
    until("the flow logged", || stats.connections("ok") == 1).await;
    assert!(nothing_received(&s));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_ending_inside_a_frame_gets_its_flow_reset() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config(
        "127.0.0.1:0",
        &service("cut", "127.0.0.1:9".parse().unwrap(), ""),
    ))
    .await;
    // A frame of 16 bytes announced, 2 sent; the raw agent then finishes its side.
    let agent = hostile_agent(&files, gw.agents, &[0x00, 0x10, b'a', b'b'], true).await;
    let s = client("127.0.0.1", gw.services.addr("cut").unwrap()).await;
    s.send(b"hello").await.unwrap();
    let (_, end) = tokio::time::timeout(Duration::from_secs(20), agent)
        .await
        .expect("the gateway kept the stream")
        .unwrap();
    assert_eq!(end, Some(1), "reset with code 1 (aborted)");
    assert!(nothing_received(&s));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_ending_between_frames_gets_a_clean_end() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config(
        "127.0.0.1:0",
        &service("clean", "127.0.0.1:9".parse().unwrap(), ""),
    ))
    .await;
    // One whole datagram, then the agent finishes: the gateway relays it and finishes too.
    let agent = hostile_agent(&files, gw.agents, &[0x00, 0x02, b'o', b'k'], true).await;
    let s = client("127.0.0.1", gw.services.addr("clean").unwrap()).await;
    s.send(b"hello").await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(20), s.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"ok");
    let (_, end) = tokio::time::timeout(Duration::from_secs(20), agent)
        .await
        .expect("the gateway kept the stream")
        .unwrap();
    assert_eq!(end, None, "a clean end, not a reset");
    gw.stop().await;
}
