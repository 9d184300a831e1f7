//! Handshake floods: the concurrency cap, the busy policies, and established traffic.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use ferry_tls::{AcceptorConfig, BusyPolicy, HandshakeError, HandshakeLimits, TlsAcceptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::common::{ANY, Server, TestCa, client_config, client_hello, connect, echo};
use crate::handshake::tcp_pair;

fn limited(ca: &TestCa, cap: usize, timeout: Duration, policy: BusyPolicy) -> TlsAcceptor {
    let mut limits = HandshakeLimits::default();
    limits
        .max_in_flight(NonZeroUsize::new(cap).unwrap())
        .timeout(timeout)
        .when_busy(policy);
    let mut config = AcceptorConfig::new(ca.leaf(&["localhost"]).source());
    config.limits(limits);
    TlsAcceptor::new(&config).unwrap()
}

/// Clients that connect and send only part of a ClientHello hold no handshake slot, so a
/// legitimate client is served at once even with far more of them than slots.
#[tokio::test]
async fn stalled_partial_hellos_take_no_slot() {
    let ca = TestCa::new("partial CA");
    // The deadline is far longer than the test may take: the legitimate client must not need
    // the flood to time out.
    let acceptor = limited(&ca, 2, Duration::from_secs(600), BusyPolicy::Wait);
    let mut server = Server::start(acceptor.clone()).await;
    let hello = client_hello(client_config(&[&ca.pem()], ANY), "localhost");
    let mut flood = Vec::new();
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(&hello[..hello.len() / 2]).await.unwrap();
        flood.push(tcp);
    }
    let client = Arc::new(client_config(&[&ca.pem()], ANY));
    let mut tls = tokio::time::timeout(
        Duration::from_secs(20),
        connect(server.addr, &client, "localhost"),
    )
    .await
    .expect("legitimate handshake starved by stalled clients")
    .unwrap();
    server.next_ok().await;
    echo(&mut tls, b"served during the flood").await;
    assert_eq!(acceptor.handshakes_in_flight(), 0);
    drop(flood);
}

/// A raw client that sends a complete ClientHello and never answers; once the server has
/// answered, the server side holds a handshake slot (or is queued for one).
async fn stalled_full_hello(
    acceptor: &TlsAcceptor,
    hello: &[u8],
) -> (
    TcpStream,
    tokio::task::JoinHandle<Result<(), HandshakeError>>,
) {
    let (mut client, server_io) = tcp_pair().await;
    client.write_all(hello).await.unwrap();
    let acceptor = acceptor.clone();
    let task = tokio::spawn(async move { acceptor.accept(server_io).await.map(|_| ()) });
    (client, task)
}

/// Yield until `done` holds; panic (rather than hang) if it never does.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never reached");
}

/// More stalled handshakes than slots (BusyPolicy::Wait): established connections keep
/// working, the flood is cut at the deadline, and a client that arrives during the flood is
/// served as soon as the flood's slots free up, within its own deadline.
#[tokio::test(start_paused = true)]
async fn flood_over_the_cap_queues_then_legit_client_gets_through() {
    let ca = TestCa::new("flood CA");
    let deadline = Duration::from_secs(1);
    let acceptor = limited(&ca, 2, deadline, BusyPolicy::Wait);
    let mut server = Server::start(acceptor.clone()).await;
    let client = Arc::new(client_config(&[&ca.pem()], ANY));
    let mut established = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;

    let hello = client_hello(client_config(&[&ca.pem()], ANY), "localhost");
    let start = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..6 {
        flood.push(stalled_full_hello(&acceptor, &hello).await);
    }
    until(|| acceptor.handshakes_in_flight() == 2 && acceptor.handshakes_waiting() == 4).await;
    // The two flooders holding slots received the server's flight.
    let mut answered = 0;
    for (tcp, _) in &mut flood {
        let mut byte = [0u8; 1];
        if let Ok(Ok(1)) = tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut byte)).await
        {
            answered += 1;
        }
    }
    assert_eq!(answered, 2);
    echo(&mut established, b"established traffic during the flood").await;

    // Half-way through the flood's deadline, a legitimate client arrives.
    tokio::time::sleep(deadline / 2).await;
    let legit_start = Instant::now();
    let legit = connect(server.addr, &client, "localhost").await.unwrap();
    server.next_ok().await;
    // Served once the flood's slots were freed at its deadline, within the client's own.
    let (since_flood, waited) = (start.elapsed(), legit_start.elapsed());
    assert!(
        since_flood >= deadline,
        "served at {since_flood:?}, before the flood timed out"
    );
    assert!(waited < deadline, "legit client waited {waited:?}");
    for (_, task) in flood {
        assert!(matches!(
            task.await.unwrap(),
            Err(HandshakeError::Timeout(_))
        ));
    }
    assert!(start.elapsed() >= deadline);
    assert_eq!(acceptor.handshakes_in_flight(), 0);
    assert_eq!(acceptor.handshakes_waiting(), 0);
    drop(legit);
    echo(&mut established, b"and after it").await;
}

/// BusyPolicy::Refuse: with every slot taken, a new handshake fails at once with `Busy`.
#[tokio::test(start_paused = true)]
async fn refuse_policy_fails_fast_when_full() {
    let ca = TestCa::new("refuse CA");
    let acceptor = limited(&ca, 1, Duration::from_secs(5), BusyPolicy::Refuse);
    let hello = client_hello(client_config(&[&ca.pem()], ANY), "localhost");
    let (mut holder, holder_task) = stalled_full_hello(&acceptor, &hello).await;
    let mut byte = [0u8; 1];
    assert_eq!(
        holder.read(&mut byte).await.unwrap(),
        1,
        "server answered the first hello"
    );
    assert_eq!(acceptor.handshakes_in_flight(), 1);

    let start = Instant::now();
    let (_second, second_task) = stalled_full_hello(&acceptor, &hello).await;
    assert!(matches!(
        second_task.await.unwrap(),
        Err(HandshakeError::Busy)
    ));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "refused without waiting"
    );

    assert!(matches!(
        holder_task.await.unwrap(),
        Err(HandshakeError::Timeout(_))
    ));
    assert_eq!(acceptor.handshakes_in_flight(), 0);
}
