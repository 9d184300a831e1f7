//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;

use crate::udp::{encode_datagram, open_datagram, open_reply, wrap_reply};
use crate::{
    Address, Chain, ChainHop, Decoded, DomainName, Flags, HopKey, Host, KeyId, Keyring,
    ReplayGuard, Request, RequestError, SealedChain, Status, decode_request, decode_response,
    seal_request, seal_response,
};

/// The fixed time every harness uses.
pub const NOW: u64 = 1_700_000_000_000;

/// Key id 7 with bytes `0..32`, the key of the test vectors.
#[must_use]
pub fn key7() -> HopKey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap();
    }
    HopKey::new(KeyId(7), bytes)
}

/// A keyring with [`key7`] and key id 8 (bytes all `0x42`).
#[must_use]
pub fn keyring() -> Keyring {
    Keyring::new([key7(), HopKey::new(KeyId(8), [0x42; 32])]).unwrap()
}

/// Takes bytes off the front of fuzz input, zeros when it runs out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }
}

/// A valid request (for hop index `hop`) derived from fuzz bytes.
pub fn request_from(b: &mut Bytes<'_>, hop: u8) -> Request {
    let port = NonZeroU16::new(u16::from_be_bytes(b.array())).unwrap_or(NonZeroU16::MIN);
    let host = match b.byte() % 3 {
        0 => Host::V4(Ipv4Addr::from(b.array::<4>())),
        1 => Host::V6(Ipv6Addr::from(b.array::<16>())),
        _ => {
            const CHARS: &[u8] = b"abcxyzABC019-_.";
            let n = 1 + usize::from(b.byte() % 255);
            let name: String = (0..n)
                .map(|_| char::from(CHARS[usize::from(b.byte()) % CHARS.len()]))
                .collect();
            Host::Domain(DomainName::new(&name).unwrap())
        }
    };
    let client = match b.byte() % 3 {
        0 => None,
        1 => Some(SocketAddr::new(
            IpAddr::V4(b.array::<4>().into()),
            u16::from_be_bytes(b.array()),
        )),
        _ => Some(SocketAddr::new(
            IpAddr::V6(b.array::<16>().into()),
            u16::from_be_bytes(b.array()),
        )),
    };
    let max_limit = crate::MAX_HOPS - hop + 1;
    Request {
        timestamp_ms: NOW - 30_000 + u64::from(u16::from_be_bytes(b.array())),
        hop_limit: 1 + b.byte() % max_limit,
        flags: Flags::from_bits(b.byte() & 0b11).unwrap(),
        next: Address::new(host, port),
        client,
    }
}

/// Harness `chain_request`: arbitrary bytes into [`decode_request`], whole and in every split;
/// then a request built from the bytes round-trips, and tampering any chosen byte is refused
/// without touching the guard.
pub fn request(data: &[u8]) {
    let ring = keyring();
    check_splits(data, &ring);

    let mut b = Bytes(data);
    let hop = 1 + b.byte() % crate::MAX_HOPS;
    let nonce = b.array::<12>();
    let flip_at = usize::from(u16::from_be_bytes(b.array()));
    let flip_bits = b.byte() | 1;
    let request = request_from(&mut b, hop);
    let mut wire = Vec::new();
    seal_request(&key7(), hop, &request, nonce, &mut wire).unwrap();
    assert!(wire.len() <= crate::MAX_REQUEST_RECORD);
    let mut guard = ReplayGuard::default();
    let Ok(Decoded::Done { value, consumed }) = decode_request(&wire, &ring, NOW, &mut guard)
    else {
        panic!("sealed request does not decode");
    };
    assert_eq!(consumed, wire.len());
    assert_eq!(value.request, request);
    assert_eq!((value.info.hop_index, value.info.nonce), (hop, nonce));
    check_splits(&wire, &ring);

    let i = flip_at % wire.len();
    wire[i] ^= flip_bits;
    let mut guard = ReplayGuard::default();
    match decode_request(&wire, &ring, NOW, &mut guard) {
        Ok(Decoded::Done { .. }) => panic!("tampered byte {i} accepted"),
        Ok(Decoded::NeedMore { .. }) | Err(RequestError::Frame(_) | RequestError::Auth) => {}
        Err(e) => panic!("tampered byte {i} gave {e:?}"),
    }
    assert!(guard.is_empty(), "guard touched by a forged record");
}

/// Decoding every prefix agrees with decoding the whole: a prefix of something that decodes
/// (or fails) is `NeedMore` or the same outcome; a failing decode never touches the guard.
fn check_splits(data: &[u8], ring: &Keyring) {
    let whole = decode_request(data, ring, NOW, &mut ReplayGuard::default());
    if let Ok(Decoded::NeedMore { at_least }) = &whole {
        assert!(*at_least > data.len());
    }
    let end = match &whole {
        Ok(Decoded::Done { consumed, .. }) => *consumed,
        _ => data.len(),
    };
    for cut in 0..end.min(crate::MAX_REQUEST_RECORD + 1) {
        let mut guard = ReplayGuard::default();
        let part = decode_request(&data[..cut], ring, NOW, &mut guard);
        match (&part, &whole) {
            (Ok(Decoded::NeedMore { at_least }), _) => assert!(*at_least > cut),
            (Err(p), Err(w)) => assert_eq!(p, w),
            _ => panic!("prefix {cut}: {part:?} but whole: {whole:?}"),
        }
        if part.is_err() || matches!(part, Ok(Decoded::NeedMore { .. })) {
            assert!(guard.is_empty());
        }
    }
}

/// Harness `chain_response`: arbitrary bytes into [`decode_response`]; a response built from
/// the bytes round-trips and is refused for another nonce or hop.
pub fn response(data: &[u8]) {
    let key = key7();
    let mut b = Bytes(data);
    let request_nonce = b.array::<12>();
    let rest = b.0;
    if let Ok(Decoded::NeedMore { at_least }) = decode_response(rest, &key, 1, &request_nonce) {
        assert!(at_least > rest.len());
    }
    let hop = 1 + b.byte() % crate::MAX_HOPS;
    let status = Status::ALL[usize::from(b.byte()) % Status::ALL.len()];
    let nonce = b.array::<12>();
    let info = crate::RecordInfo {
        hop_index: hop,
        key_id: key.id(),
        nonce: request_nonce,
    };
    let mut wire = Vec::new();
    seal_response(&key, &info, status, nonce, &mut wire).unwrap();
    assert_eq!(wire.len(), crate::RESPONSE_RECORD_LEN);
    let got = decode_response(&wire, &key, hop, &request_nonce).unwrap();
    let Decoded::Done { value, consumed } = got else {
        panic!("complete response needs more")
    };
    assert_eq!(
        (value.hop_index, value.status, consumed),
        (hop, status, wire.len())
    );
    for cut in 0..wire.len() {
        assert!(matches!(
            decode_response(&wire[..cut], &key, hop, &request_nonce),
            Ok(Decoded::NeedMore { .. })
        ));
    }
    let mut other = request_nonce;
    other[0] ^= 1;
    assert!(decode_response(&wire, &key, hop, &other).is_err());
}

/// Harness `chain_udp`: arbitrary bytes into the UDP openers; then a datagram through 1-3 hops
/// and its reply back, built from the bytes, arrive unchanged.
pub fn udp(data: &[u8]) {
    let ring = keyring();
    let mut guard = ReplayGuard::default();
    let _ = open_datagram(data, &ring, NOW, &mut guard);
    let mut b = Bytes(data);
    let n = 1 + usize::from(b.byte() % 3);
    let keys: Vec<HopKey> = (0..n)
        .map(|i| HopKey::new(KeyId(u16::try_from(i).unwrap()), b.array()))
        .collect();
    let hops = keys
        .iter()
        .enumerate()
        .map(|(i, key)| ChainHop {
            address: format!("10.0.0.{}:{}", i + 1, 7000 + i).parse().unwrap(),
            key: key.clone(),
        })
        .collect();
    let chain = Chain::new(hops).unwrap();
    let _ = open_reply(&chain, &[vec![[0; 12]; n]], data);
    let nonces: Vec<[u8; 12]> = (0..n).map(|_| b.array()).collect();
    let destination: Address = "192.0.2.1:53".parse().unwrap();
    let payload = b.0.to_vec();
    let sealed = seal_with(&chain, &destination, &nonces);
    let mut datagram = Vec::new();
    encode_datagram(&sealed, &payload, &mut datagram).unwrap();
    let mut infos = Vec::new();
    let mut current = datagram;
    for (i, key) in keys.iter().enumerate() {
        let ring = Keyring::new([key.clone()]).unwrap();
        let mut guard = ReplayGuard::default();
        let (opened, rest) = open_datagram(&current, &ring, NOW, &mut guard).unwrap();
        let expect_next = chain.hops().get(i + 1).map_or(&destination, |h| &h.address);
        assert_eq!(&opened.request.next, expect_next);
        assert!(opened.request.flags.contains(Flags::UDP));
        assert_eq!(opened.request.flags.contains(Flags::FINAL), i + 1 == n);
        infos.push(opened.info);
        current = rest.to_vec();
    }
    assert_eq!(current, payload);
    let mut reply = payload.clone();
    for (key, info) in keys.iter().zip(&infos).rev() {
        let mut out = Vec::new();
        wrap_reply(key, info, Status::Ok, [9; 12], &reply, &mut out).unwrap();
        reply = out;
    }
    let got = open_reply(&chain, &[vec![[1; 12]; n], sealed.nonces.clone()], &reply).unwrap();
    assert_eq!(got, payload.as_slice());
}

/// Seals a chain with given nonces (deterministic, for harnesses and vectors).
#[must_use]
pub fn seal_with(chain: &Chain, destination: &Address, nonces: &[[u8; 12]]) -> SealedChain {
    let options = crate::SealOptions {
        now_unix_ms: NOW,
        udp: true,
        client: None,
    };
    chain
        .seal_with_nonces(destination, &options, nonces.to_vec())
        .unwrap()
}

/// Harness `chain_text`: arbitrary text as a key file (`Keyring::parse`) and as a hop address
/// (`host:port`, as written in chain configs and on the command line).
///
/// Invariants: no panic; a parsed keyring has 1..=[`crate::MAX_KEYS`] keys with distinct ids,
/// each found by `get`; a parsed address displays as text that parses back to itself, and a
/// domain address never holds an IP literal's text (`1.2.3.4` is always `Host::V4`).
pub fn text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ring) = Keyring::parse(text) {
        assert!(!ring.is_empty() && ring.len() <= crate::MAX_KEYS);
        let ids: std::collections::BTreeSet<KeyId> = ring.ids().collect();
        assert_eq!(ids.len(), ring.len());
        for id in ids {
            assert_eq!(ring.get(id).map(HopKey::id), Some(id));
        }
    }
    if let Ok(address) = text.parse::<Address>() {
        let shown = address.to_string();
        assert_eq!(shown.parse::<Address>().as_ref(), Ok(&address), "{shown}");
        if let Host::Domain(name) = address.host() {
            assert!(name.as_str().parse::<IpAddr>().is_err(), "{shown}");
        }
    }
}
