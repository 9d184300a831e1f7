//! UDP rows of the reliability matrix on real loopback hops: oversized and truncated datagrams
//! (F4), a replayed datagram (F5) and a datagram relay loop (F6). Each test reads the hop's
//! counters from the report `serve` returns when stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ferry_app_hop::serve::{ServeReport, bind};
use ferry_app_hop::{ServeConfig, serve};
use ferry_chain::client::system_unix_ms;
use ferry_chain::udp::{MAX_DATAGRAM, UdpError, encode_datagram, open_reply};
use ferry_chain::{
    Address, Chain, Flags, Request, SealOptions, SealedChain, Status, StatusError, random_nonce,
    seal_request,
};
use ring::rand::SystemRandom;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// A hop whose report can be read once it is stopped.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    report: oneshot::Receiver<ServeReport>,
}

impl Running {
    async fn stop(self) -> ServeReport {
        self.stop.send(()).unwrap();
        self.report.await.unwrap()
    }
}

async fn start(config: ServeConfig) -> Running {
    let (listener, udp) = bind(&config).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let (report_tx, report) = oneshot::channel();
    tokio::spawn(async move {
        let r = serve(config, listener, udp, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let _ = report_tx.send(r);
    });
    Running { addr, stop, report }
}

async fn udp_hop_with_report(n: u8) -> Running {
    let mut c = config(n);
    c.udp = true;
    start(c).await
}

/// A UDP destination that reports every datagram it receives and answers `big` with a
/// datagram of the largest size, anything else with `ok:` + the datagram.
async fn destination() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let got = buf[..n].to_vec();
            let reply = if got.starts_with(b"big") {
                pattern(MAX_DATAGRAM, 7)
            } else {
                [b"ok:".as_slice(), &got].concat()
            };
            let _ = tx.send(got);
            s.send_to(&reply, from).await.unwrap();
        }
    });
    (addr, rx)
}

fn seal(chain: &Chain, dest: SocketAddr) -> SealedChain {
    chain
        .seal(
            &Address::try_from(dest).unwrap(),
            &SealOptions {
                now_unix_ms: system_unix_ms(),
                udp: true,
                client: None,
            },
            &SystemRandom::new(),
        )
        .unwrap()
}

fn datagram(sealed: &SealedChain, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_datagram(sealed, payload, &mut out).unwrap();
    out
}

async fn recv(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
        .await
        .expect("an answer from the hop")
        .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn oversized_and_truncated_datagrams_are_dropped_and_counted() {
    let hop = udp_hop_with_report(1).await;
    let (dest, mut seen) = destination().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(hop.addr).await.unwrap();
    let c = chain(&[(hop.addr, key(1))]);

    // A datagram of the largest UDP size that is not a record: dropped without a reply.
    sock.send(&pattern(MAX_DATAGRAM, 3)).await.unwrap();
    // Every truncation of a valid record, from empty to one byte short: dropped.
    let sealed = seal(&c, dest);
    let record_len = sealed.bytes.len();
    for len in 0..record_len {
        sock.send(&sealed.bytes[..len]).await.unwrap();
    }
    // A valid datagram of the largest size is forwarded, but the destination's reply of the
    // largest size has no room left for the hop's response record: dropped, not truncated.
    let big = seal(&c, dest);
    let mut payload = b"big".to_vec();
    payload.extend(pattern(MAX_DATAGRAM - big.bytes.len() - 3, 5));
    let big_datagram = datagram(&big, &payload);
    assert_eq!(big_datagram.len(), MAX_DATAGRAM);
    sock.send(&big_datagram).await.unwrap();
    assert!(seen.recv().await.unwrap() == payload, "big payload differs");
    // Then a small one: the first and only answer the client gets is its reply.
    let small = seal(&c, dest);
    sock.send(&datagram(&small, b"small")).await.unwrap();
    let answer = recv(&sock).await;
    let nonces = [big.nonces.clone(), small.nonces.clone()];
    assert_eq!(open_reply(&c, &nonces, &answer).unwrap(), b"ok:small");
    assert_eq!(seen.recv().await.unwrap(), b"small");

    let report = hop.stop().await;
    assert_eq!(report.udp_forwarded, 2);
    // 1 oversized non-record + every truncation + the oversized reply.
    assert_eq!(report.udp_dropped, 1 + record_len as u64 + 1, "{report:?}");
    assert_eq!(report.udp_refused, 0);
    assert!(
        seen.try_recv().is_err(),
        "a dropped datagram reached the destination"
    );
}

#[tokio::test]
async fn a_replayed_datagram_is_refused_not_relayed_and_counted() {
    let hop = udp_hop_with_report(1).await;
    let (dest, mut seen) = destination().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(hop.addr).await.unwrap();
    let c = chain(&[(hop.addr, key(1))]);

    let first = seal(&c, dest);
    let captured = datagram(&first, b"one");
    sock.send(&captured).await.unwrap();
    let nonces = [first.nonces.clone()];
    assert_eq!(
        open_reply(&c, &nonces, &recv(&sock).await).unwrap(),
        b"ok:one"
    );

    // The same bytes again: answered `auth_failure` by hop 1 and not forwarded.
    sock.send(&captured).await.unwrap();
    let refused = open_reply(&c, &nonces, &recv(&sock).await).unwrap_err();
    assert_eq!(
        refused,
        UdpError::Reply(StatusError::HopFailed {
            hop: 1,
            status: Status::AuthFailure
        })
    );

    // A fresh datagram on the same flow still goes through.
    let second = seal(&c, dest);
    sock.send(&datagram(&second, b"two")).await.unwrap();
    let nonces = [second.nonces.clone()];
    assert_eq!(
        open_reply(&c, &nonces, &recv(&sock).await).unwrap(),
        b"ok:two"
    );

    let report = hop.stop().await;
    assert_eq!(seen.recv().await.unwrap(), b"one");
    assert_eq!(seen.recv().await.unwrap(), b"two");
    assert!(
        seen.try_recv().is_err(),
        "the replay reached the destination"
    );
    assert_eq!(report.udp_forwarded, 2);
    assert_eq!(report.udp_refused, 1, "{report:?}");
    assert_eq!(report.udp_dropped, 0);
}

/// A record for `hop_index` sealed by hop `key_n`'s key.
fn record(key_n: u8, hop_index: u8, hop_limit: u8, flags: Flags, next: SocketAddr) -> Vec<u8> {
    let request = Request {
        timestamp_ms: system_unix_ms(),
        hop_limit,
        flags,
        next: Address::try_from(next).unwrap(),
        client: None,
    };
    let mut out = Vec::new();
    let nonce = random_nonce(&SystemRandom::new()).unwrap();
    seal_request(&key(key_n), hop_index, &request, nonce, &mut out).unwrap();
    out
}

#[tokio::test]
async fn a_datagram_loop_between_two_hops_stops_at_the_hop_limit() {
    // Both hops hold both keys, as two hops of one operator would.
    let keys = ferry_chain::Keyring::new([key(1), key(2)]).unwrap();
    let mut c1 = config(1);
    c1.udp = true;
    c1.keys = keys.clone().into();
    let mut c2 = config(2);
    c2.udp = true;
    c2.keys = keys.into();
    let (h1, h2) = (start(c1).await, start(c2).await);
    let (dest, mut seen) = destination().await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(h1.addr).await.unwrap();

    // hop 1 -> hop 2 -> hop 1 -> hop 2 -> ...: the third record says more hops follow
    // (not final) with a hop limit of 1, and a fourth would lead to the destination.
    let records = [
        record(1, 1, 3, Flags::UDP, h2.addr),
        record(2, 2, 2, Flags::UDP, h1.addr),
        record(1, 3, 1, Flags::UDP, h2.addr),
        record(2, 4, 1, Flags::UDP.union(Flags::FINAL), dest),
    ];
    let mut looped = records.concat();
    looped.extend_from_slice(b"loop");
    sock.send(&looped).await.unwrap();

    // The answer travels back through both hops: hop 3 (hop 1 again) refused the record.
    let answer = recv(&sock).await;
    let path = chain(&[(h1.addr, key(1)), (h2.addr, key(2)), (h1.addr, key(1))]);
    // The nonce of each record (bytes 7..19 of its header); responses are bound to them.
    let nonces: Vec<ferry_chain::Nonce> = records[..3]
        .iter()
        .map(|r| r[7..19].try_into().unwrap())
        .collect();
    assert_eq!(
        open_reply(&path, &[nonces], &answer).unwrap_err(),
        UdpError::Reply(StatusError::HopFailed {
            hop: 3,
            status: Status::HopLimitExceeded
        })
    );

    let (r1, r2) = (h1.stop().await, h2.stop().await);
    // Each hop carried the datagram once; hop 1 refused it the second time round.
    assert_eq!((r1.udp_forwarded, r1.udp_refused), (1, 1), "{r1:?}");
    assert_eq!((r2.udp_forwarded, r2.udp_refused), (1, 0), "{r2:?}");
    assert!(
        seen.try_recv().is_err(),
        "the looped datagram reached the destination"
    );
}
