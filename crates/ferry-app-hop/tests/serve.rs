//! `serve` on real loopback sockets: three hops carrying TCP, failures named by hop, every
//! kind of bad record rejected with nothing forwarded, floods, hop limits, UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferry_allow::Allowlist;
use ferry_app_hop::ServeConfig;
use ferry_chain::client::{ClientConfig, ClientError, UdpChain, connect, system_unix_ms};
use ferry_chain::{
    Address, Chain, Decoded, DomainName, Flags, HopKey, Host, KeyId, Request, SealOptions, Status,
    decode_response, random_nonce, seal_request,
};
use ferry_test_support::net::{accepted, nothing_accepted, same_port_listeners, trickle};
use ferry_test_support::resolve::Scripted;
use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::oneshot;

async fn three_hops() -> (Chain, Vec<HopHandle>) {
    let hops = vec![hop(1).await, hop(2).await, hop(3).await];
    let c = chain(&[
        (hops[0].addr, key(1)),
        (hops[1].addr, key(2)),
        (hops[2].addr, key(3)),
    ]);
    (c, hops)
}

#[tokio::test]
async fn three_hops_carry_tcp_byte_exact_with_half_close_both_ways() {
    let (chain, _hops) = three_hops().await;
    // Destination 1: reads to EOF (the client's half-close), then answers.
    let dest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = dest.accept().await.unwrap();
        let got = read_all(&mut s).await;
        s.write_all(&pattern(700_000, 9)).await.unwrap();
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
    let sent = pattern(500_000, 1);
    stream.write_all(&sent).await.unwrap();
    stream.shutdown().await.unwrap();
    let back = read_all(&mut stream).await;
    assert!(rx.await.unwrap() == sent, "upstream bytes differ");
    assert!(back == pattern(700_000, 9), "downstream bytes differ");

    // Destination 2: speaks first and half-closes first; the client's direction stays open.
    let dest = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = dest.accept().await.unwrap();
        s.write_all(b"greeting").await.unwrap();
        s.shutdown().await.unwrap();
        tx.send(read_all(&mut s).await).unwrap();
    });
    let mut stream = connect(
        &chain,
        &Address::try_from(dest_addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(read_all(&mut stream).await, b"greeting");
    let sent = pattern(90_000, 4);
    stream.write_all(&sent).await.unwrap();
    stream.shutdown().await.unwrap();
    assert!(rx.await.unwrap() == sent);
}

#[tokio::test]
async fn dead_hop_2_is_reported_as_hop_2() {
    let h1 = hop(1).await;
    let h3 = hop(3).await;
    let dead = dead_addr().await;
    let dest = echo_dest().await;
    let c = chain(&[(h1.addr, key(1)), (dead, key(2)), (h3.addr, key(3))]);
    let err = connect(
        &c,
        &Address::try_from(dest.addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
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
    assert_eq!(err.hop(), Some(2));
    assert_eq!(dest.count(), 0);
}

#[tokio::test]
async fn destination_outside_the_allowlist_is_denied_by_the_last_hop() {
    let mut c = config(1);
    c.allow = Arc::new(Allowlist::parse("*.example.com:443").unwrap());
    let h = start_hop(c).await;
    let dest = echo_dest().await;
    let err = connect(
        &chain(&[(h.addr, key(1))]),
        &Address::try_from(dest.addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.hop(), err.status()),
        (Some(1), Some(Status::Denied)),
        "{err}"
    );
    assert_eq!(dest.count(), 0);
}

/// Sends `bytes` to a hop (then half-closes when `close`), and returns everything it answered
/// before closing.
async fn exchange(hop: SocketAddr, bytes: &[u8], close: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(hop).await.unwrap();
    s.write_all(bytes).await.unwrap();
    if close {
        s.shutdown().await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(20), read_all(&mut s))
        .await
        .expect("the hop closes the connection")
}

fn seal_one(hop_key: &HopKey, dest: SocketAddr, now: u64) -> Vec<u8> {
    let c = chain(&[("127.0.0.1:1".parse().unwrap(), hop_key.clone())]);
    let sealed = c
        .seal(
            &Address::try_from(dest).unwrap(),
            &SealOptions {
                now_unix_ms: now,
                ..Default::default()
            },
            &SystemRandom::new(),
        )
        .unwrap();
    sealed.bytes
}

/// The status in a hop's single response record to a record sealed by `hop_key`.
fn status_of(answer: &[u8], hop_key: &HopKey, record: &[u8]) -> Status {
    let nonce: [u8; 12] = record[7..19].try_into().unwrap();
    match decode_response(answer, hop_key, 1, &nonce).unwrap() {
        Decoded::Done { value, .. } => value.status,
        Decoded::NeedMore { .. } => panic!("short answer: {} bytes", answer.len()),
    }
}

#[tokio::test]
async fn bad_records_are_rejected_and_nothing_is_forwarded() {
    let h = hop(1).await;
    let dest = echo_dest().await;
    let now = system_unix_ms();

    // Wrong key (same key id, other bytes): no answer at all.
    let wrong = seal_one(&HopKey::new(KeyId(1), [0xAA; 32]), dest.addr, now);
    assert_eq!(exchange(h.addr, &wrong, true).await, b"", "wrong key");

    // Unknown key id: refused from the 7-byte prefix, no answer.
    let unknown = seal_one(&HopKey::new(KeyId(77), [1; 32]), dest.addr, now);
    assert_eq!(
        exchange(h.addr, &unknown[..7], false).await,
        b"",
        "unknown key id"
    );

    // One tampered byte anywhere after the prefix: no answer.
    let good = seal_one(&key(1), dest.addr, now);
    for at in [8, 20, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            exchange(h.addr, &bad, true).await,
            b"",
            "tampered byte {at}"
        );
    }
    // A tampered header byte (the length is associated data): no answer.
    let mut bad = good.clone();
    bad[6] ^= 0x01;
    assert_eq!(exchange(h.addr, &bad, true).await, b"", "tampered length");

    // Truncated record, then EOF: no answer.
    assert_eq!(
        exchange(h.addr, &good[..good.len() - 1], true).await,
        b"",
        "truncated"
    );

    // Oversized length: refused from the prefix alone, without waiting for more bytes.
    let mut big = good[..7].to_vec();
    big[5] = 0xFF;
    big[6] = 0xFF;
    assert_eq!(exchange(h.addr, &big, false).await, b"", "oversized length");

    // Stale timestamp (10 minutes old): authenticated, answered `authentication failure`.
    let stale = seal_one(&key(1), dest.addr, now - 600_000);
    let answer = exchange(h.addr, &stale, true).await;
    assert_eq!(
        status_of(&answer, &key(1), &stale),
        Status::AuthFailure,
        "stale"
    );

    // From the future too.
    let future = seal_one(&key(1), dest.addr, now + 600_000);
    let answer = exchange(h.addr, &future, true).await;
    assert_eq!(
        status_of(&answer, &key(1), &future),
        Status::AuthFailure,
        "future"
    );
    assert_eq!(dest.count(), 0, "nothing reached the destination");

    // A good record goes through once ...
    let mut first = TcpStream::connect(h.addr).await.unwrap();
    first.write_all(&good).await.unwrap();
    first.write_all(b"ping").await.unwrap();
    first.shutdown().await.unwrap();
    let answer = read_all(&mut first).await;
    assert_eq!(status_of(&answer, &key(1), &good), Status::Ok);
    assert_eq!(&answer[ferry_chain::RESPONSE_RECORD_LEN..], b"ping");
    assert_eq!(dest.count(), 1);
    // ... and its replay is answered `authentication failure` and not forwarded.
    let answer = exchange(h.addr, &good, true).await;
    assert_eq!(
        status_of(&answer, &key(1), &good),
        Status::AuthFailure,
        "replayed"
    );
    assert_eq!(dest.count(), 1, "the replay reached the destination");
}

#[tokio::test]
async fn silent_client_is_dropped_at_the_handshake_deadline() {
    let mut c = config(1);
    c.handshake_timeout = Duration::from_millis(300);
    let h = start_hop(c).await;
    // Half a prefix, then silence: the hop closes at its deadline.
    let answer = exchange(h.addr, &[1, 1, 1], false).await;
    assert_eq!(answer, b"");
}

/// Connects from `source` (a loopback address) and runs a one-hop handshake by hand.
async fn handshake_from(source: &str, hop: SocketAddr, dest: SocketAddr) -> Status {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut s = sock.connect(hop).await.unwrap();
    let record = seal_one(&key(1), dest, system_unix_ms());
    s.write_all(&record).await.unwrap();
    let mut answer = vec![0u8; ferry_chain::RESPONSE_RECORD_LEN];
    s.read_exact(&mut answer).await.unwrap();
    status_of(&answer, &key(1), &record)
}

#[tokio::test]
async fn a_flood_of_forged_headers_does_not_block_other_clients() {
    let mut c = config(1);
    c.max_handshakes = 64.try_into().unwrap();
    c.per_client_handshakes = 16.try_into().unwrap();
    c.per_client_rate = None; // measure the handshake bounds, not the rate limit
    let h = start_hop(c).await;
    let dest = echo_dest().await;
    let hop_addr = h.addr;

    // The attacker (127.0.0.2) tries to hold more slow handshakes open than the global cap (a
    // valid-looking prefix, then nothing; only 16 are admitted) and floods forged records as
    // fast as it can.
    let mut held = Vec::new();
    for _ in 0..70 {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        if let Ok(mut s) = sock.connect(hop_addr).await {
            let _ = s
                .write_all(&seal_one(&key(1), dest.addr, system_unix_ms())[..10])
                .await;
            held.push(s);
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut flooders = Vec::new();
    for _ in 0..8 {
        let mut stop = stop_rx.clone();
        flooders.push(tokio::spawn(async move {
            let forged = seal_one(
                &HopKey::new(KeyId(1), [0x55; 32]),
                "127.0.0.1:9".parse().unwrap(),
                system_unix_ms(),
            );
            let mut sent = 0u32;
            while !*stop.borrow_and_update() {
                let sock = TcpSocket::new_v4().unwrap();
                sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                if let Ok(mut s) = sock.connect(hop_addr).await {
                    let _ = s.write_all(&forged).await;
                    let _ = s.read(&mut [0u8; 64]).await; // the hop closes without answering
                    sent += 1;
                }
            }
            sent
        }));
    }
    // Meanwhile, another client (127.0.0.3) completes handshakes every time.
    for _ in 0..20 {
        let status = tokio::time::timeout(
            Duration::from_secs(5),
            handshake_from("127.0.0.3", hop_addr, dest.addr),
        )
        .await
        .expect("a legitimate handshake finished while the flood ran");
        assert_eq!(status, Status::Ok);
    }
    stop_tx.send(true).unwrap();
    let mut forged = 0;
    for f in flooders {
        forged += f.await.unwrap();
    }
    assert!(forged > 20, "the flood ran ({forged} forged records)");
    assert_eq!(
        dest.count(),
        20,
        "only the legitimate handshakes reached the destination"
    );
    drop(held);
}

#[tokio::test]
async fn a_hop_loop_is_stopped_by_the_hop_limit() {
    let a = hop(1).await;
    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = b_listener.local_addr().unwrap();
    let rng = SystemRandom::new();
    // Hop 1's record says "another hop follows" (not final) but leaves no hop for it.
    let request = Request {
        timestamp_ms: system_unix_ms(),
        hop_limit: 1,
        flags: Flags::NONE,
        next: Address::try_from(b).unwrap(),
        client: None,
    };
    let mut record = Vec::new();
    seal_request(
        &key(1),
        1,
        &request,
        random_nonce(&rng).unwrap(),
        &mut record,
    )
    .unwrap();
    let answer = exchange(a.addr, &record, true).await;
    assert_eq!(
        status_of(&answer, &key(1), &record),
        Status::HopLimitExceeded
    );

    // A record whose hop limit is already 0.
    let mut record = Vec::new();
    let zero = Request {
        hop_limit: 0,
        ..request
    };
    seal_request(&key(1), 1, &zero, random_nonce(&rng).unwrap(), &mut record).unwrap();
    let answer = exchange(a.addr, &record, true).await;
    assert_eq!(
        status_of(&answer, &key(1), &record),
        Status::HopLimitExceeded
    );

    // The next "hop" never saw a connection.
    let accepted = tokio::time::timeout(Duration::from_millis(50), b_listener.accept()).await;
    assert!(accepted.is_err(), "hop 2 was dialed");
}

#[tokio::test]
async fn udp_through_three_hops_with_replies() {
    let hops = [udp_hop(1).await, udp_hop(2).await, udp_hop(3).await];
    let c = chain(&[
        (hops[0].addr, key(1)),
        (hops[1].addr, key(2)),
        (hops[2].addr, key(3)),
    ]);
    let echo = udp_echo().await;
    let udp = UdpChain::bind(c, ClientConfig::default()).await.unwrap();
    let dest = Address::try_from(echo).unwrap();
    let mut buf = vec![0u8; 65_536];
    for (i, size) in [0usize, 1, 1200, 30_000].into_iter().enumerate() {
        let payload = pattern(size, i as u8);
        udp.send_to(&dest, &payload).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(10), udp.recv(&mut buf))
            .await
            .expect("a reply")
            .unwrap();
        let mut expect = b"echo:".to_vec();
        expect.extend_from_slice(&payload);
        assert!(buf[..n] == expect[..], "datagram {i} of {size} bytes");
    }
}

#[tokio::test]
async fn forged_udp_datagrams_get_no_reply() {
    let h = udp_hop(1).await;
    let echo = udp_echo().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(h.addr).await.unwrap();
    let c = chain(&[(h.addr, key(1))]);
    let sealed = c
        .seal(
            &Address::try_from(echo).unwrap(),
            &SealOptions {
                now_unix_ms: system_unix_ms(),
                udp: true,
                client: None,
            },
            &SystemRandom::new(),
        )
        .unwrap();
    let mut good = sealed.bytes.clone();
    good.extend_from_slice(b"hello");
    let forged = [
        seal_one(&HopKey::new(KeyId(1), [9; 32]), echo, system_unix_ms()),
        {
            let mut t = good.clone();
            t[25] ^= 1;
            t
        },
        good[..20].to_vec(),
        b"garbage".to_vec(),
        Vec::new(),
    ];
    for f in &forged {
        sock.send(f).await.unwrap();
    }
    // Then a good one: the first (and only) reply is its answer.
    sock.send(&good).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
        .await
        .expect("the good datagram is answered")
        .unwrap();
    let payload =
        ferry_chain::udp::open_reply(&c, std::slice::from_ref(&sealed.nonces), &buf[..n]).unwrap();
    assert_eq!(payload, b"echo:hello");
    // Nothing else is queued: the forged datagrams were dropped silently.
    let more = tokio::time::timeout(Duration::from_millis(100), sock.recv(&mut buf)).await;
    assert!(more.is_err(), "a forged datagram was answered");
}

// --- DNS rebinding (rows D3, D4) -----------------------------------------------------------

/// A hop whose allowlist names `rebind.test` and allows `127.0.0.2` only (loopback is
/// otherwise a special address, denied), resolving with `dns`.
fn rebind_hop(dns: &Arc<Scripted>) -> ServeConfig {
    let mut c = config(1);
    c.allow = Arc::new(Allowlist::parse("rebind.test, 127.0.0.2/32").unwrap());
    c.resolver = dns.clone();
    c
}

fn rebind_test(port: u16) -> Address {
    Address::new(
        Host::Domain(DomainName::new("rebind.test").unwrap()),
        NonZeroU16::new(port).unwrap(),
    )
}

async fn rebinding(script: Scripted) -> (Result<(), ClientError>, [TcpListener; 2], Arc<Scripted>) {
    let [allowed, denied] = same_port_listeners(["127.0.0.2", "127.0.0.3"]).await;
    let dns = Arc::new(script);
    let h = start_hop(rebind_hop(&dns)).await;
    let c = chain(&[(h.addr, key(1))]);
    let port = allowed.local_addr().unwrap().port();
    let r = connect(&c, &rebind_test(port), &ClientConfig::default())
        .await
        .map(drop);
    (r, [allowed, denied], dns)
}

#[tokio::test]
async fn a_name_is_resolved_once_and_only_the_checked_address_is_dialled() {
    let script = Scripted::new([&["127.0.0.2"], &["127.0.0.3"]]);
    let (r, [allowed, denied], dns) = rebinding(script).await;
    assert!(r.is_ok(), "{r:?}");
    accepted(&allowed).await;
    assert!(
        nothing_accepted(&denied).await,
        "the second answer was dialled"
    );
    assert_eq!(dns.calls(), 1, "resolved more than once for one connection");
    assert_eq!(dns.names(), ["rebind.test"]);
}

#[tokio::test]
async fn a_denied_first_answer_is_denied_and_the_second_is_never_used() {
    let script = Scripted::new([&["127.0.0.3"], &["127.0.0.2"]]);
    let (r, [allowed, denied], dns) = rebinding(script).await;
    let err = r.unwrap_err();
    assert_eq!(err.status(), Some(Status::Denied), "{err}");
    assert!(
        nothing_accepted(&allowed).await,
        "the second answer was used"
    );
    assert!(
        nothing_accepted(&denied).await,
        "a denied address was dialled"
    );
    assert_eq!(dns.calls(), 1);
}

#[tokio::test]
async fn denied_addresses_of_a_mixed_answer_are_skipped() {
    // The denied address first: dialling in answer order without the check would reach it.
    let script = Scripted::new([&["127.0.0.3", "127.0.0.2"]]);
    let (r, [allowed, denied], dns) = rebinding(script).await;
    assert!(r.is_ok(), "{r:?}");
    accepted(&allowed).await;
    assert!(
        nothing_accepted(&denied).await,
        "a denied address was dialled"
    );
    assert_eq!(dns.calls(), 1);
}

/// Row D5: a resolver that never answers is bounded by the connect timeout (the lookup is
/// inside the connect budget): the client gets `Timeout` from hop 1, after one lookup.
#[tokio::test]
async fn a_resolver_that_never_answers_is_cut_by_the_connect_timeout() {
    let dns = Arc::new(Scripted::never_answering());
    let mut c = rebind_hop(&dns);
    c.connect_timeout = Duration::from_millis(300);
    let h = start_hop(c).await;
    let r = connect(
        &chain(&[(h.addr, key(1))]),
        &rebind_test(9),
        &ClientConfig::default(),
    )
    .await;
    let err = r.map(drop).unwrap_err();
    assert_eq!(err.status(), Some(Status::Timeout), "{err}");
    assert_eq!(dns.calls(), 1);
}

/// Row D5: a failing lookup (no such name) is answered with `DnsFailure`, and nothing else is
/// tried.
#[tokio::test]
async fn a_failing_lookup_is_answered_with_dns_failure() {
    let dns = Arc::new(Scripted::new([&[]]));
    let h = start_hop(rebind_hop(&dns)).await;
    let r = connect(
        &chain(&[(h.addr, key(1))]),
        &rebind_test(9),
        &ClientConfig::default(),
    )
    .await;
    let err = r.map(drop).unwrap_err();
    assert_eq!(err.status(), Some(Status::DnsFailure), "{err}");
    assert_eq!(dns.calls(), 1);
}

#[tokio::test]
async fn a_udp_flow_resolves_once_and_sends_only_to_the_checked_address() {
    let allowed = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let port = allowed.local_addr().unwrap().port();
    let denied = UdpSocket::bind(("127.0.0.3", port)).await.unwrap();
    let dns = Arc::new(Scripted::new([&["127.0.0.3", "127.0.0.2"], &["127.0.0.3"]]));
    let mut c = rebind_hop(&dns);
    c.udp = true;
    let h = start_hop(c).await;
    let udp = UdpChain::bind(chain(&[(h.addr, key(1))]), ClientConfig::default())
        .await
        .unwrap();
    for n in 0..3u8 {
        udp.send_to(&rebind_test(port), &[n]).await.unwrap();
        let mut buf = [0u8; 16];
        let (len, _) = tokio::time::timeout(Duration::from_secs(10), allowed.recv_from(&mut buf))
            .await
            .expect("the checked address gets the datagram")
            .unwrap();
        assert_eq!(&buf[..len], &[n]);
    }
    let mut buf = [0u8; 16];
    assert!(
        denied.try_recv_from(&mut buf).is_err(),
        "a denied address got a datagram"
    );
    assert_eq!(dns.calls(), 1, "one flow, one lookup");
}

// --- Hop UDP: the flow cap (F3) and destinations outside the allowlist (F2) ----------------

/// One sealed single-hop UDP datagram towards `dest` carrying `payload`, and its chain (to
/// open the reply).
fn udp_datagram(
    h: SocketAddr,
    dest: SocketAddr,
    payload: &[u8],
) -> (Vec<u8>, Chain, Vec<ferry_chain::Nonce>) {
    let c = chain(&[(h, key(1))]);
    let sealed = c
        .seal(
            &Address::try_from(dest).unwrap(),
            &SealOptions {
                now_unix_ms: system_unix_ms(),
                udp: true,
                client: None,
            },
            &SystemRandom::new(),
        )
        .unwrap();
    let mut d = sealed.bytes.clone();
    d.extend_from_slice(payload);
    (d, c, sealed.nonces)
}

/// Sends one datagram from `sock` through the hop and returns the reply's payload.
async fn udp_round_trip(
    sock: &UdpSocket,
    h: SocketAddr,
    dest: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let (d, c, nonce) = udp_datagram(h, dest, payload);
    sock.send_to(&d, h).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .expect("a reply")
        .unwrap();
    ferry_chain::udp::open_reply(&c, std::slice::from_ref(&nonce), &buf[..n])
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn over_the_udp_flow_cap_new_flows_are_dropped_and_existing_ones_keep_working() {
    let mut c = config(1);
    c.udp = true;
    c.udp_max_flows = std::num::NonZeroUsize::new(2).unwrap();
    let h = start_hop(c).await;
    let echo = udp_echo().await;
    // Two clients (two source addresses) fill the table.
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    assert_eq!(udp_round_trip(&a, h.addr, echo, b"a1").await, b"echo:a1");
    assert_eq!(udp_round_trip(&b, h.addr, echo, b"b1").await, b"echo:b1");
    // A third source would open a third flow: dropped, no reply.
    let third = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let (d, _, _) = udp_datagram(h.addr, echo, b"c1");
    third.send_to(&d, h.addr).await.unwrap();
    // The hop handles datagrams in arrival order, so once `a`'s next reply is back the third
    // one was handled; the existing flows still work.
    assert_eq!(udp_round_trip(&a, h.addr, echo, b"a2").await, b"echo:a2");
    assert_eq!(udp_round_trip(&b, h.addr, echo, b"b2").await, b"echo:b2");
    let report = h.stop().await;
    assert_eq!(report.udp_dropped, 1, "{report:?}");
    assert_eq!(report.udp_forwarded, 4, "{report:?}");
    let mut buf = [0u8; 1024];
    assert!(
        third.try_recv_from(&mut buf).is_err(),
        "the dropped flow got a reply"
    );
}

#[tokio::test]
async fn a_udp_record_naming_a_denied_destination_is_not_relayed() {
    let mut c = config(1);
    c.udp = true;
    c.allow = Arc::new(Allowlist::parse("127.0.0.2/32").unwrap());
    let h = start_hop(c).await;
    // Loopback without an address rule: a special address, denied.
    let victim = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let victim_addr = victim.local_addr().unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (d, c, nonce) = udp_datagram(h.addr, victim_addr, b"to the victim");
    sender.send_to(&d, h.addr).await.unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sender.recv_from(&mut buf))
        .await
        .expect("a status answer")
        .unwrap();
    assert!(
        n <= d.len(),
        "an answer of {n} bytes to a request of {}",
        d.len()
    );
    let err =
        ferry_chain::udp::open_reply(&c, std::slice::from_ref(&nonce), &buf[..n]).unwrap_err();
    assert!(
        matches!(
            err,
            ferry_chain::udp::UdpError::Reply(ferry_chain::StatusError::HopFailed {
                hop: 1,
                status: Status::Denied
            })
        ),
        "{err:?}"
    );
    let report = h.stop().await;
    assert_eq!(report.udp_refused, 1, "{report:?}");
    assert_eq!(report.udp_forwarded, 0, "{report:?}");
    assert!(
        victim.try_recv_from(&mut buf).is_err(),
        "the victim got a datagram"
    );
}

// --- Spoofed identity (row G2) -------------------------------------------------------------

/// Log lines of the current thread (the test's current-thread runtime runs the hop there).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn access_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("ferry::access"))
            .map(str::to_owned)
            .collect()
    }
}

/// Runs one connection whose record reveals `revealed` through a hop trusting `trusted`, and
/// returns the hop's access-log lines and the sender's address.
async fn reveal(trusted: &[&str], revealed: SocketAddr) -> (Vec<String>, SocketAddr) {
    let logs = Captured::default();
    let w = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || w.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut c = config(1);
    c.trusted_senders = trusted.iter().map(|t| t.parse().unwrap()).collect();
    let h = start_hop(c).await;
    let dest = echo_dest().await;
    let sealed = chain(&[(h.addr, key(1))])
        .seal(
            &Address::try_from(dest.addr).unwrap(),
            &SealOptions {
                now_unix_ms: system_unix_ms(),
                udp: false,
                client: Some(revealed),
            },
            &SystemRandom::new(),
        )
        .unwrap();
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let sender = s.local_addr().unwrap();
    s.write_all(&sealed.bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let answer = read_all(&mut s).await;
    assert_eq!(
        answer.len(),
        ferry_chain::RESPONSE_RECORD_LEN,
        "answered ok, relayed"
    );
    let report = h.stop().await; // waits for the connection's access line
    assert_eq!(report.relayed, 1);
    (logs.access_lines(), sender)
}

#[tokio::test]
async fn a_client_address_revealed_by_an_untrusted_sender_is_ignored() {
    let revealed: SocketAddr = "203.0.113.7:4444".parse().unwrap();
    let (lines, sender) = reveal(&["10.0.0.0/8"], revealed).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(!lines[0].contains("203.0.113.7"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("client={sender}")),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn a_client_address_revealed_by_a_trusted_sender_is_logged_as_the_client() {
    let revealed: SocketAddr = "203.0.113.7:4444".parse().unwrap();
    let (lines, sender) = reveal(&["127.0.0.1/32"], revealed).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("client=203.0.113.7:4444"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("sender={sender}")),
        "{}",
        lines[0]
    );
}

// --- Slow senders (row A1) -----------------------------------------------------------------

#[tokio::test]
async fn a_trickled_chain_header_is_closed_at_the_total_deadline() {
    let mut c = config(1);
    c.handshake_timeout = Duration::from_secs(1);
    let h = start_hop(c).await;
    let dest = echo_dest().await;
    let record = seal_one(&key(1), dest.addr, system_unix_ms());
    let mut head = record.clone();
    head.resize(200, b'x'); // early payload after the record
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    // One byte every 50 ms: every read is well inside the deadline, the record is not.
    let t = trickle(&mut s, &head, Duration::from_millis(50)).await;
    assert!(t.closed_early, "{t:?}");
    assert!(t.sent < record.len(), "the record completed: {t:?}");
    assert_eq!(t.reply, b"", "no answer to an incomplete record");
    assert_eq!(dest.count(), 0, "something was dialled");
    let report = h.stop().await;
    assert_eq!(report.rejected, 1, "{report:?}");
    assert_eq!(report.relayed + report.failed, 0, "{report:?}");
}
