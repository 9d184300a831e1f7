//! End to end through three test hops on loopback: each hop is built on the sans-IO decoder
//! (`decode_request`, `seal_response`, `udp::*`) and `tokio::io::copy_bidirectional`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_chain::client::{
    ClientConfig, ClientError, UdpChain, connect, handshake, system_unix_ms,
};
use ferry_chain::udp::{open_datagram, wrap_reply};
use ferry_chain::{
    Address, Chain, ChainHop, Decoded, HopKey, KeyId, Keyring, RecordInfo, ReplayGuard, Status,
    decode_request, random_nonce, seal_response,
};
use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;

fn key(n: u8) -> HopKey {
    HopKey::new(KeyId(u16::from(n)), [n; 32])
}

/// One TCP test hop: opens its record, dials the next address, answers, relays.
async fn tcp_hop(key: HopKey) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ring = Arc::new(Keyring::new([key]).unwrap());
    let guard = Arc::new(Mutex::new(ReplayGuard::default()));
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve_tcp(conn, ring.clone(), guard.clone()));
        }
    });
    addr
}

async fn serve_tcp(mut up: TcpStream, ring: Arc<Keyring>, guard: Arc<Mutex<ReplayGuard>>) {
    let rng = SystemRandom::new();
    let mut buf = Vec::new();
    let (opened, consumed) = loop {
        let result = decode_request(&buf, &ring, system_unix_ms(), &mut guard.lock().unwrap());
        match result {
            Ok(Decoded::Done { value, consumed }) => break (value, consumed),
            Ok(Decoded::NeedMore { .. }) => {
                if up.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
            }
            Err(e) => {
                if let Some((info, status)) = e.reply() {
                    answer(&mut up, &ring, &info, status, &rng).await;
                }
                return;
            }
        }
    };
    let next = opened.request.next.socket_addr().unwrap();
    match TcpStream::connect(next).await {
        Err(_) => answer(&mut up, &ring, &opened.info, Status::Refused, &rng).await,
        Ok(mut down) => {
            answer(&mut up, &ring, &opened.info, Status::Ok, &rng).await;
            down.write_all(&buf[consumed..]).await.unwrap();
            let _ = tokio::io::copy_bidirectional(&mut up, &mut down).await;
        }
    }
}

async fn answer(
    up: &mut TcpStream,
    ring: &Keyring,
    info: &RecordInfo,
    status: Status,
    rng: &SystemRandom,
) {
    let mut out = Vec::new();
    let key = ring.get(info.key_id).unwrap();
    seal_response(key, info, status, random_nonce(rng).unwrap(), &mut out).unwrap();
    let _ = up.write_all(&out).await;
}

fn chain(hops: &[(SocketAddr, HopKey)]) -> Chain {
    Chain::new(
        hops.iter()
            .map(|(addr, key)| ChainHop {
                address: Address::try_from(*addr).unwrap(),
                key: key.clone(),
            })
            .collect(),
    )
    .unwrap()
}

async fn three_hops() -> Chain {
    let mut hops = Vec::new();
    for n in 1..=3 {
        hops.push((tcp_hop(key(n)).await, key(n)));
    }
    chain(&hops)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn tcp_through_three_hops_byte_exact_client_closes_first() {
    let chain = three_hops().await;
    let dest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = dest.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap(); // the client's half-close arrives
        s.write_all(&pattern(300_000, 7)).await.unwrap(); // still writable after it
        s.shutdown().await.unwrap();
        tx.send(got).unwrap();
    });
    let mut stream = connect(
        &chain,
        &Address::try_from(dest_addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    let sent = pattern(200_000, 1);
    stream.write_all(&sent).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await.unwrap();
    assert_eq!(rx.await.unwrap(), sent);
    assert!(back == pattern(300_000, 7), "reply differs");
}

#[tokio::test]
async fn tcp_through_three_hops_destination_closes_first_and_speaks_first() {
    let chain = three_hops().await;
    let dest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = dest.accept().await.unwrap();
        s.write_all(b"hello from the destination").await.unwrap();
        s.shutdown().await.unwrap(); // half-close towards the client first
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        tx.send(got).unwrap();
    });
    let mut stream = connect(
        &chain,
        &Address::try_from(dest_addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    let mut greeting = Vec::new();
    stream.read_to_end(&mut greeting).await.unwrap();
    assert_eq!(greeting, b"hello from the destination");
    let sent = pattern(70_000, 3);
    stream.write_all(&sent).await.unwrap(); // our direction still open
    stream.shutdown().await.unwrap();
    assert_eq!(rx.await.unwrap(), sent);
}

#[tokio::test]
async fn dead_hop_2_is_reported_as_hop_2_by_hop_1() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let h1 = tcp_hop(key(1)).await;
    let h3 = tcp_hop(key(3)).await;
    let chain = chain(&[(h1, key(1)), (dead_addr, key(2)), (h3, key(3))]);
    let err = connect(
        &chain,
        &"127.0.0.1:9".parse().unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.hop(), err.reported_by(), err.status()),
        (Some(2), Some(1), Some(Status::Refused)),
        "{err}"
    );
    assert!(
        matches!(
            err,
            ClientError::Unreachable {
                hop: 2,
                reported_by: 1,
                status: Status::Refused
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "hop 2 is unreachable (hop 1 answered: connection refused)"
    );
}

#[tokio::test]
async fn hop_2_failing_is_named_hop_2() {
    // Hop 2 is alive but its next hop (3) is dead: hop 2 answers refused, hop 3 is named.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let h1 = tcp_hop(key(1)).await;
    let h2 = tcp_hop(key(2)).await;
    let c = chain(&[(h1, key(1)), (h2, key(2)), (dead_addr, key(3))]);
    let err = connect(
        &c,
        &"127.0.0.1:9".parse().unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.hop(), err.reported_by(), err.status()),
        (Some(3), Some(2), Some(Status::Refused)),
        "{err}"
    );

    // Hop 2 does not know the key: it closes without an answer, reported as hop 2.
    let h2_other = tcp_hop(HopKey::new(KeyId(2), [0xee; 32])).await;
    let h3 = tcp_hop(key(3)).await;
    let c = chain(&[(h1, key(1)), (h2_other, key(2)), (h3, key(3))]);
    let err = connect(
        &c,
        &"127.0.0.1:9".parse().unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Closed { hop: 2 }), "{err}");
}

#[tokio::test]
async fn dead_destination_is_reported_by_the_last_hop_as_its_own_failure() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let chain = three_hops().await;
    let err = connect(
        &chain,
        &Address::try_from(dead_addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.hop(), err.reported_by(), err.status()),
        (Some(3), Some(3), Some(Status::Refused)),
        "{err}"
    );
    assert_eq!(err.to_string(), "hop 3 answered: connection refused");
}

#[tokio::test]
async fn handshake_over_a_stream_the_caller_connected() {
    let chain = three_hops().await;
    let dest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = dest.accept().await.unwrap();
        s.write_all(b"first").await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
    });
    let first = chain.first().unwrap().address.socket_addr().unwrap();
    let mut tcp = TcpStream::connect(first).await.unwrap();
    let mut early = handshake(
        &mut tcp,
        &chain,
        &Address::try_from(dest_addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    tcp.write_all(b"-echo").await.unwrap();
    tcp.shutdown().await.unwrap();
    tcp.read_to_end(&mut early).await.unwrap();
    assert_eq!(early, b"first-echo");
}

#[tokio::test]
async fn silent_hop_times_out_naming_it() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (s, _) = silent.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(s);
    });
    let c = chain(&[(silent_addr, key(1))]);
    let config = ClientConfig {
        handshake_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let err = connect(&c, &"127.0.0.1:9".parse().unwrap(), &config)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { hop: 1 }), "{err}");
    hold.abort();
}

/// One UDP test hop: per upstream address a flow with its own downstream socket; replies get
/// this hop's response prepended, bound to the flow's latest request.
async fn udp_hop(key: HopKey) -> SocketAddr {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let ring = Keyring::new([key.clone()]).unwrap();
    tokio::spawn(async move {
        let mut guard = ReplayGuard::default();
        let mut flows: HashMap<SocketAddr, (Arc<UdpSocket>, Arc<Mutex<RecordInfo>>)> =
            HashMap::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            let Ok((opened, rest)) = open_datagram(&buf[..n], &ring, system_unix_ms(), &mut guard)
            else {
                continue; // no reply to what does not authenticate
            };
            let (down, latest) = match flows.get(&from) {
                Some(flow) => flow.clone(),
                None => {
                    let down = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    let latest = Arc::new(Mutex::new(opened.info));
                    let (d, l, up, key) = (down.clone(), latest.clone(), sock.clone(), key.clone());
                    tokio::spawn(async move {
                        let rng = SystemRandom::new();
                        let mut buf = vec![0u8; 65_536];
                        while let Ok(n) = d.recv(&mut buf).await {
                            let info = *l.lock().unwrap();
                            let mut out = Vec::new();
                            wrap_reply(
                                &key,
                                &info,
                                Status::Ok,
                                random_nonce(&rng).unwrap(),
                                &buf[..n],
                                &mut out,
                            )
                            .unwrap();
                            up.send_to(&out, from).await.unwrap();
                        }
                    });
                    flows.insert(from, (down.clone(), latest.clone()));
                    (down, latest)
                }
            };
            *latest.lock().unwrap() = opened.info;
            let next = opened.request.next.socket_addr().unwrap();
            down.connect(next).await.unwrap();
            down.send(rest).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn udp_through_three_hops_with_replies() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = echo.recv_from(&mut buf).await.unwrap();
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            echo.send_to(&reply, from).await.unwrap();
        }
    });
    let mut hops = Vec::new();
    for n in 1..=3 {
        hops.push((udp_hop(key(n)).await, key(n)));
    }
    let udp = UdpChain::bind(chain(&hops), ClientConfig::default())
        .await
        .unwrap();
    let dest = Address::try_from(echo_addr).unwrap();
    let mut buf = vec![0u8; 65_536];
    for (i, size) in [0usize, 1, 1200, 20_000].into_iter().enumerate() {
        let payload = pattern(size, i as u8);
        udp.send_to(&dest, &payload).await.unwrap();
        let n = udp.recv(&mut buf).await.unwrap();
        let mut expect = b"echo:".to_vec();
        expect.extend_from_slice(&payload);
        assert!(buf[..n] == expect[..], "datagram {i} of {size} bytes");
    }
}
