//! Test vectors: the bytes in docs/chain-header.md (`ferry_chain::spec`) are what this code
//! produces.
//! `cargo test -p ferry-chain --test vectors -- --nocapture` prints the block to paste.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::fmt::Write as _;

use ferry_chain::fuzzing::{NOW, key7, keyring};
use ferry_chain::{
    Decoded, Flags, RecordInfo, ReplayGuard, Request, Status, decode_request, decode_response,
    seal_request, seal_response,
};

const REQ_NONCE: [u8; 12] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
];
const REQ_NONCE2: [u8; 12] = [
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb,
];
const RESP_NONCE: [u8; 12] = [
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex split into lines of 32 bytes for the doc.
fn block(bytes: &[u8]) -> String {
    let mut out = String::from("```text\n");
    for chunk in bytes.chunks(32) {
        out.push_str(&hex(chunk));
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

struct Vector {
    title: &'static str,
    bytes: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let key = key7();
    let r1 = Request {
        timestamp_ms: NOW,
        hop_limit: 3,
        flags: Flags::NONE,
        next: "192.0.2.1:443".parse().unwrap(),
        client: None,
    };
    let r2 = Request {
        timestamp_ms: NOW,
        hop_limit: 1,
        flags: Flags::FINAL,
        next: "example.com:443".parse().unwrap(),
        client: Some("[2001:db8::1]:5000".parse().unwrap()),
    };
    let mut v1 = Vec::new();
    seal_request(&key, 1, &r1, REQ_NONCE, &mut v1).unwrap();
    let mut v2 = Vec::new();
    seal_request(&key, 2, &r2, REQ_NONCE2, &mut v2).unwrap();
    let mut v3 = Vec::new();
    let info1 = RecordInfo {
        hop_index: 1,
        key_id: key.id(),
        nonce: REQ_NONCE,
    };
    seal_response(&key, &info1, Status::Ok, RESP_NONCE, &mut v3).unwrap();
    let mut v4 = Vec::new();
    let info2 = RecordInfo {
        hop_index: 2,
        key_id: key.id(),
        nonce: REQ_NONCE2,
    };
    seal_response(&key, &info2, Status::Refused, RESP_NONCE, &mut v4).unwrap();
    vec![
        Vector {
            title: "Request, hop 1, hop limit 3, no flags, next `192.0.2.1:443`, no client address",
            bytes: v1,
        },
        Vector {
            title: "Request, hop 2, nonce `c0c1..cb`, hop limit 1, `FINAL`, next `example.com:443`, client `[2001:db8::1]:5000`",
            bytes: v2,
        },
        Vector {
            title: "Response, hop 1, `Ok`, answering the first request (response nonce `b0b1..bb`)",
            bytes: v3,
        },
        Vector {
            title: "Response, hop 2, `Refused`, answering the second request (response nonce `b0b1..bb`)",
            bytes: v4,
        },
    ]
}

fn doc_block() -> String {
    let mut out = String::new();
    for v in vectors() {
        writeln!(out, "{} ({} bytes):\n", v.title, v.bytes.len()).unwrap();
        out.push_str(&block(&v.bytes));
        out.push('\n');
    }
    out
}

#[test]
fn doc_holds_the_vectors() {
    let block = doc_block();
    println!("{block}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/chain-header.md"))
        .unwrap();
    assert!(
        doc.contains(&block),
        "crates/ferry-chain/docs/chain-header.md test vectors are stale"
    );
}

#[test]
fn vectors_decode() {
    let v = vectors();
    let ring = keyring();
    let mut guard = ReplayGuard::default();
    let Decoded::Done { value, consumed } =
        decode_request(&v[0].bytes, &ring, NOW, &mut guard).unwrap()
    else {
        panic!()
    };
    assert_eq!(consumed, v[0].bytes.len());
    assert_eq!(value.request.next.to_string(), "192.0.2.1:443");
    // The same record again: a replay for this guard.
    assert!(decode_request(&v[0].bytes, &ring, NOW, &mut guard).is_err());
    let Decoded::Done { value, .. } =
        decode_request(&v[1].bytes, &ring, NOW, &mut ReplayGuard::default()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        value.request.client,
        Some("[2001:db8::1]:5000".parse().unwrap())
    );
    let key = key7();
    let Decoded::Done { value, .. } = decode_response(&v[2].bytes, &key, 1, &REQ_NONCE).unwrap()
    else {
        panic!()
    };
    assert_eq!(value.status, Status::Ok);
    let Decoded::Done { value, .. } = decode_response(&v[3].bytes, &key, 2, &REQ_NONCE2).unwrap()
    else {
        panic!()
    };
    assert_eq!(value.status, Status::Refused);
}

#[test]
fn header_layout_matches_the_table() {
    let v = &vectors()[0].bytes;
    assert_eq!(&v[..7], &[0x01, 0x01, 0x01, 0x00, 0x07, 0x00, 18 + 16]);
    assert_eq!(&v[7..19], &REQ_NONCE);
    assert_eq!(v.len(), 19 + 18 + 16);
}
