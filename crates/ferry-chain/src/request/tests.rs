//! Authenticated but malformed plaintexts.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::fuzzing::{NOW, key7, keyring};
use crate::record::seal_record;
use crate::response::Status;
use crate::wire::{Header, KIND_REQUEST, TAG_LEN};

/// Seals arbitrary plaintext as hop 1 with key 7, as only a key holder could.
fn seal_raw(plain: &[u8]) -> Vec<u8> {
    let header = Header {
        kind: KIND_REQUEST,
        hop_index: 1,
        key_id: key7().id(),
        length: plain.len() + TAG_LEN,
    };
    let mut p = plain.to_vec();
    let mut out = Vec::new();
    seal_record(&key7(), &header, [4; 12], &[], &mut p, &mut out).unwrap();
    out
}

fn valid() -> Vec<u8> {
    let mut p = NOW.to_be_bytes().to_vec();
    p.extend_from_slice(&[1, 0, TYPE_V4, 10, 0, 0, 1, 0, 80, 0]);
    p
}

#[test]
fn authenticated_but_malformed_plaintexts_answer_protocol_error() {
    let base = valid();
    let mut cases: Vec<(Vec<u8>, Malformed)> = Vec::new();
    let mut p = base.clone();
    p[9] = 0x80;
    cases.push((p, Malformed::Flags(0x80)));
    let mut p = base.clone();
    p[10] = 2;
    cases.push((p, Malformed::AddressType(2)));
    let mut p = base.clone();
    p[15] = 0;
    p[16] = 0;
    cases.push((p, Malformed::ZeroPort));
    let mut p = base.clone();
    p[17] = 9;
    cases.push((p, Malformed::ClientType(9)));
    let mut p = base.clone();
    p.push(0);
    cases.push((p, Malformed::TrailingBytes));
    let mut p = base.clone();
    p[17] = TYPE_V4;
    cases.push((p, Malformed::Truncated));
    let mut p = base.clone();
    p[8] = 17;
    cases.push((p, Malformed::HopLimit(17)));
    let mut p = NOW.to_be_bytes().to_vec();
    p.extend_from_slice(&[1, 0, TYPE_DOMAIN, 3, b'a', b' ', b'b', 0, 80, 0]);
    cases.push((p, Malformed::Domain));
    for (plain, reason) in cases {
        let wire = seal_raw(&plain);
        let mut guard = ReplayGuard::default();
        let err = decode_request(&wire, &keyring(), NOW, &mut guard).unwrap_err();
        assert!(
            matches!(&err, RequestError::Malformed { reason: r, .. } if *r == reason),
            "{reason:?}: {err:?}"
        );
        assert_eq!(err.reply().map(|(_, s)| s), Some(Status::ProtocolError));
    }
    // The unmodified plaintext is accepted.
    let wire = seal_raw(&base);
    let mut guard = ReplayGuard::default();
    assert!(matches!(
        decode_request(&wire, &keyring(), NOW, &mut guard),
        Ok(Decoded::Done { .. })
    ));
}
