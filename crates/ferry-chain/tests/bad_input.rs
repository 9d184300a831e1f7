//! Hostile input: wrong key, tampered bytes, truncation, oversized lengths, replays, stale and
//! future timestamps, unknown version and key id; each a typed error, the guard untouched by
//! anything that did not authenticate.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::num::NonZeroUsize;
use std::time::Duration;

use ferry_chain::fuzzing::{NOW, key7, keyring};
use ferry_chain::{
    Decoded, Flags, FrameError, HopKey, KeyError, KeyId, Keyring, Malformed, ReplayConfig,
    ReplayGuard, Request, RequestError, Status, decode_request, seal_request,
};

fn request(ts: u64) -> Request {
    Request {
        timestamp_ms: ts,
        hop_limit: 2,
        flags: Flags::NONE,
        next: "example.com:443".parse().unwrap(),
        client: None,
    }
}

fn sealed(key: &HopKey, nonce: u8, ts: u64) -> Vec<u8> {
    let mut out = Vec::new();
    seal_request(key, 1, &request(ts), [nonce; 12], &mut out).unwrap();
    out
}

fn decode(
    buf: &[u8],
    guard: &mut ReplayGuard,
) -> Result<Decoded<ferry_chain::OpenedRequest>, RequestError> {
    decode_request(buf, &keyring(), NOW, guard)
}

#[test]
fn wrong_key_is_auth_error_without_reply_and_guard_untouched() {
    // Key id 7 on the wire but other bytes: the hop's key 7 fails the tag.
    let wire = sealed(&HopKey::new(KeyId(7), [9; 32]), 1, NOW);
    let mut guard = ReplayGuard::default();
    let err = decode(&wire, &mut guard).unwrap_err();
    assert_eq!(err, RequestError::Auth);
    assert_eq!(err.reply(), None);
    assert!(guard.is_empty());
}

#[test]
fn every_tampered_byte_is_rejected() {
    let wire = sealed(&key7(), 1, NOW);
    for i in 0..wire.len() {
        let mut bad = wire.clone();
        bad[i] ^= 0x01;
        let mut guard = ReplayGuard::default();
        let got = decode(&bad, &mut guard);
        assert!(
            matches!(
                got,
                Err(RequestError::Auth | RequestError::Frame(_)) | Ok(Decoded::NeedMore { .. })
            ),
            "byte {i}: {got:?}"
        );
        assert!(guard.is_empty(), "byte {i} touched the guard");
    }
}

#[test]
fn truncated_header_needs_more_at_every_length() {
    let wire = sealed(&key7(), 1, NOW);
    let mut guard = ReplayGuard::default();
    for cut in 0..wire.len() {
        let at_least = match decode(&wire[..cut], &mut guard).unwrap() {
            Decoded::NeedMore { at_least } => at_least,
            Decoded::Done { .. } => panic!("done at {cut}"),
        };
        assert_eq!(at_least, if cut < 7 { 7 } else { wire.len() });
    }
    assert!(guard.is_empty());
}

#[test]
fn oversized_and_undersized_lengths_rejected_from_seven_bytes() {
    for len in [0u16, 31, 305, 0xffff] {
        let prefix = [1, 1, 1, 0, 7, (len >> 8) as u8, len as u8];
        let got = decode(&prefix, &mut ReplayGuard::default());
        assert!(
            matches!(got, Err(RequestError::Frame(FrameError::BadLength { .. }))),
            "{len}: {got:?}"
        );
    }
}

#[test]
fn unknown_version_kind_hop_and_key_id() {
    let wire = sealed(&key7(), 1, NOW);
    let with = |i: usize, v: u8| {
        let mut b = wire.clone();
        b[i] = v;
        decode(&b, &mut ReplayGuard::default())
    };
    assert_eq!(
        with(0, 2),
        Err(RequestError::Frame(FrameError::UnknownVersion(2)))
    );
    assert_eq!(
        with(1, 2),
        Err(RequestError::Frame(FrameError::WrongKind(2)))
    );
    assert_eq!(
        with(2, 0),
        Err(RequestError::Frame(FrameError::BadHopIndex(0)))
    );
    assert_eq!(
        with(2, 17),
        Err(RequestError::Frame(FrameError::BadHopIndex(17)))
    );
    assert_eq!(
        with(4, 9),
        Err(RequestError::Frame(FrameError::UnknownKeyId(9)))
    );
    // Moving the record to another hop position breaks the tag.
    assert_eq!(with(2, 2), Err(RequestError::Auth));
}

#[test]
fn second_key_of_the_keyring_works() {
    let wire = sealed(&HopKey::new(KeyId(8), [0x42; 32]), 1, NOW);
    assert!(matches!(
        decode(&wire, &mut ReplayGuard::default()),
        Ok(Decoded::Done { .. })
    ));
}

#[test]
fn replay_rejected_and_answered_with_auth_failure() {
    let wire = sealed(&key7(), 1, NOW);
    let mut guard = ReplayGuard::default();
    assert!(matches!(
        decode(&wire, &mut guard),
        Ok(Decoded::Done { .. })
    ));
    let err = decode(&wire, &mut guard).unwrap_err();
    assert!(matches!(err, RequestError::Replayed { .. }));
    assert_eq!(err.reply().map(|(_, s)| s), Some(Status::AuthFailure));
    assert_eq!(guard.len(), 1);
}

#[test]
fn stale_and_future_timestamps_rejected() {
    let mut guard = ReplayGuard::default();
    for (ts, ok) in [
        (NOW - 60_000, true),
        (NOW - 60_001, false),
        (NOW + 60_000, true),
        (NOW + 60_001, false),
        (0, false),
        (u64::MAX, false),
    ] {
        let got = decode(
            &sealed(&key7(), (ts % 251) as u8 ^ ok as u8, ts),
            &mut guard,
        );
        if ok {
            assert!(matches!(got, Ok(Decoded::Done { .. })), "{ts}: {got:?}");
        } else {
            assert!(
                matches!(got, Err(RequestError::Stale { .. })),
                "{ts}: {got:?}"
            );
            assert_eq!(
                got.unwrap_err().reply().map(|(_, s)| s),
                Some(Status::AuthFailure)
            );
        }
    }
    assert_eq!(guard.len(), 2);
}

#[test]
fn hop_limit_zero_is_exceeded_and_limit_too_large_is_malformed() {
    let mut r = request(NOW);
    r.hop_limit = 0;
    let mut wire = Vec::new();
    seal_request(&key7(), 1, &r, [3; 12], &mut wire).unwrap();
    let err = decode(&wire, &mut ReplayGuard::default()).unwrap_err();
    assert_eq!(err.reply().map(|(_, s)| s), Some(Status::HopLimitExceeded));
    r.hop_limit = 17;
    assert!(seal_request(&key7(), 1, &r, [3; 12], &mut Vec::new()).is_err());
    r.hop_limit = 16;
    assert!(seal_request(&key7(), 1, &r, [3; 12], &mut Vec::new()).is_ok());
    assert!(seal_request(&key7(), 2, &r, [3; 12], &mut Vec::new()).is_err());
    let _ = Malformed::HopLimit(17); // the decoder's name for it
}

#[test]
fn guard_memory_is_bounded_and_denies_when_full() {
    let config = ReplayConfig {
        window: Duration::from_secs(60),
        capacity: NonZeroUsize::new(4).unwrap(),
    };
    let mut guard = ReplayGuard::new(config);
    for n in 0..4 {
        assert!(matches!(
            decode(&sealed(&key7(), n, NOW), &mut guard),
            Ok(Decoded::Done { .. })
        ));
    }
    let err = decode(&sealed(&key7(), 9, NOW), &mut guard).unwrap_err();
    assert!(matches!(err, RequestError::GuardFull { .. }));
    assert_eq!(guard.len(), 4);
    // 61 s later the old entries expire and room is made.
    let later = NOW + 61_000;
    let got = decode_request(&sealed(&key7(), 10, later), &keyring(), later, &mut guard);
    assert!(matches!(got, Ok(Decoded::Done { .. })), "{got:?}");
    assert_eq!(guard.len(), 1);
    // A clock stepping back does not revive the forgotten nonces.
    let got = decode_request(&sealed(&key7(), 0, NOW), &keyring(), NOW, &mut guard);
    assert!(matches!(got, Err(RequestError::Stale { .. })), "{got:?}");
}

#[test]
fn keyring_parse_formats_and_errors() {
    let k = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let ring = Keyring::parse(&format!("# c\n7 {k}\n\n 8 {} # new\n", k.to_uppercase())).unwrap();
    assert_eq!(ring.ids().collect::<Vec<_>>(), [KeyId(7), KeyId(8)]);
    assert_eq!(ring.get(KeyId(7)), Some(&key7()));
    let env = Keyring::parse(&format!("7 {k},8 {k}")).unwrap();
    assert_eq!(env.len(), 2);
    assert_eq!(Keyring::parse(""), Err(KeyError::Empty));
    assert_eq!(Keyring::parse("# only\n"), Err(KeyError::Empty));
    assert_eq!(
        Keyring::parse(&format!("7 {k}\n7 {k}")),
        Err(KeyError::Duplicate { entry: 2, id: 7 })
    );
    assert_eq!(Keyring::parse("x 00"), Err(KeyError::BadId { entry: 1 }));
    assert_eq!(
        Keyring::parse("70000 00"),
        Err(KeyError::BadId { entry: 1 })
    );
    assert_eq!(Keyring::parse("+7 00"), Err(KeyError::BadId { entry: 1 }));
    assert_eq!(
        Keyring::parse("7 00"),
        Err(KeyError::BadKey { entry: 1, id: 7 })
    );
    assert_eq!(
        Keyring::parse(&format!("7 {}zz", &k[..62])),
        Err(KeyError::BadKey { entry: 1, id: 7 })
    );
    assert_eq!(
        Keyring::parse(&format!("7 {k} extra")),
        Err(KeyError::Syntax { entry: 1 })
    );
    assert_eq!(Keyring::parse("7"), Err(KeyError::Syntax { entry: 1 }));
    let many: String = (0..65).map(|i| format!("{i} {k}\n")).collect();
    assert_eq!(Keyring::parse(&many), Err(KeyError::TooMany));
    // Messages and Debug never show key material.
    let dbg = format!("{:?} {:?}", ring, key7());
    assert!(!dbg.contains("0102") && !dbg.contains("[0, 1"), "{dbg}");
    let err = Keyring::parse(&format!("7 {}", &k[..60]))
        .unwrap_err()
        .to_string();
    assert!(!err.contains(&k[..10]), "{err}");
}

#[test]
fn responses_reject_wrong_key_hop_nonce_and_every_tampered_byte() {
    use ferry_chain::{RecordInfo, ResponseError, decode_response, seal_response};
    let key = key7();
    let info = RecordInfo {
        hop_index: 2,
        key_id: key.id(),
        nonce: [1; 12],
    };
    let mut wire = Vec::new();
    seal_response(&key, &info, Status::Denied, [2; 12], &mut wire).unwrap();
    let ok = decode_response(&wire, &key, 2, &[1; 12]).unwrap();
    assert!(matches!(ok, Decoded::Done { value, consumed: 37 } if value.status == Status::Denied));
    assert_eq!(
        decode_response(&wire, &HopKey::new(KeyId(7), [9; 32]), 2, &[1; 12]),
        Err(ResponseError::Auth)
    );
    assert_eq!(
        decode_response(&wire, &HopKey::new(KeyId(8), [0x42; 32]), 2, &[1; 12]),
        Err(ResponseError::Frame(FrameError::UnknownKeyId(7)))
    );
    assert_eq!(
        decode_response(&wire, &key, 1, &[1; 12]),
        Err(ResponseError::WrongHop {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        decode_response(&wire, &key, 2, &[3; 12]),
        Err(ResponseError::Auth)
    );
    for i in 0..wire.len() {
        let mut bad = wire.clone();
        bad[i] ^= 0x80;
        assert!(
            decode_response(&bad, &key, 2, &[1; 12]).is_err(),
            "byte {i}"
        );
    }
    for cut in 0..wire.len() {
        assert!(matches!(
            decode_response(&wire[..cut], &key, 2, &[1; 12]),
            Ok(Decoded::NeedMore { .. })
        ));
    }
    // A request record is not a response (kind byte), and vice versa.
    let req = sealed(&key, 1, NOW);
    assert_eq!(
        decode_response(&req, &key, 1, &[1; 12]),
        Err(ResponseError::Frame(FrameError::WrongKind(1)))
    );
    assert_eq!(
        decode(&wire, &mut ReplayGuard::default()),
        Err(RequestError::Frame(FrameError::WrongKind(2)))
    );
}

#[test]
fn chain_reads_statuses_in_order_and_names_the_failing_hop() {
    use ferry_chain::{Chain, ChainHop, RecordInfo, SealOptions, StatusError, seal_response};
    let keys: Vec<HopKey> = (1..=3)
        .map(|n| HopKey::new(KeyId(n), [n as u8; 32]))
        .collect();
    let chain = Chain::new(
        keys.iter()
            .map(|k| ChainHop {
                address: "10.0.0.1:7000".parse().unwrap(),
                key: k.clone(),
            })
            .collect(),
    )
    .unwrap();
    let options = SealOptions {
        now_unix_ms: NOW,
        ..SealOptions::default()
    };
    let sealed = chain
        .seal_with_nonces(
            &"example.com:443".parse().unwrap(),
            &options,
            vec![[1; 12], [2; 12], [3; 12]],
        )
        .unwrap();
    let mut back = Vec::new();
    for (i, status) in [Status::Ok, Status::Timeout].into_iter().enumerate() {
        let info = RecordInfo {
            hop_index: i as u8 + 1,
            key_id: keys[i].id(),
            nonce: sealed.nonces[i],
        };
        seal_response(&keys[i], &info, status, [9; 12], &mut back).unwrap();
    }
    assert_eq!(
        chain.read_statuses(&sealed.nonces, &back[..37]),
        Ok(Decoded::NeedMore { at_least: 37 + 7 })
    );
    assert_eq!(
        chain.read_statuses(&sealed.nonces, &back),
        Err(StatusError::HopFailed {
            hop: 2,
            status: Status::Timeout
        })
    );
    // Hop 1's status sent twice: the second copy does not verify as hop 2's.
    let mut twice = back[..37].to_vec();
    twice.extend_from_slice(&back[..37]);
    let err = chain.read_statuses(&sealed.nonces, &twice).unwrap_err();
    assert_eq!(err.hop(), 2);
}
