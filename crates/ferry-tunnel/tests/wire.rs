//! The wire format: test vectors (the bytes in docs/tunnel.md, `ferry_tunnel::spec`, are what
//! this code produces;
//! `cargo test -p ferry-tunnel --test wire -- --nocapture` prints the block to paste), typed
//! errors for bad input, and property tests (round trip, arbitrary bytes, one byte at a time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use ferry_tunnel::fuzzing;
use ferry_tunnel::wire::{
    AuthReply, AuthRequest, Credential, DestHost, Destination, GroupId, GroupMember, MAX_AUTH_LEN,
    MAX_DATAGRAM, MAX_GROUP_MEMBERS, MAX_HEADER_LEN, Parsed, Protocol, RejectReason, TunnelHeader,
    TunnelStatus, WireError, decode_auth, decode_auth_reply, decode_datagram, decode_header,
    decode_status, encode_auth, encode_auth_reply, encode_datagram, encode_header, encode_status,
};
use ferry_tunnel::{AgentId, MAX_AGENT_ID_LEN};
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn block(bytes: &[u8]) -> String {
    let mut out = String::from("```text\n");
    for chunk in bytes.chunks(32) {
        out.push_str(&hex(chunk));
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

fn vectors() -> Vec<(&'static str, Vec<u8>)> {
    let mut auth = Vec::new();
    encode_auth(
        &AuthRequest {
            agent_id: AgentId::new("site-1").unwrap(),
            credential: Credential::new("s3cret").unwrap(),
            member: None,
        },
        &mut auth,
    );
    let mut ok = Vec::new();
    encode_auth_reply(AuthReply::Ok, &mut ok);
    let mut rejected = Vec::new();
    encode_auth_reply(
        AuthReply::Rejected(RejectReason::BadCredential),
        &mut rejected,
    );
    let mut h1 = Vec::new();
    encode_header(
        &TunnelHeader {
            protocol: Protocol::Tcp,
            request_id: 1,
            destination: "192.0.2.1:443"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .try_into()
                .unwrap(),
            client: "198.51.100.7:50000".parse().unwrap(),
        },
        &mut h1,
    );
    let mut h2 = Vec::new();
    encode_header(
        &TunnelHeader {
            protocol: Protocol::Tcp,
            request_id: 0x0102_0304_0506_0708,
            destination: Destination::parse("example.com", 8080).unwrap(),
            client: "[2001:db8::1]:5000".parse().unwrap(),
        },
        &mut h2,
    );
    let mut h3 = Vec::new();
    encode_header(
        &TunnelHeader {
            protocol: Protocol::Udp,
            request_id: 2,
            destination: "192.0.2.53:53"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .try_into()
                .unwrap(),
            client: "198.51.100.7:40000".parse().unwrap(),
        },
        &mut h3,
    );
    let mut frames = Vec::new();
    encode_datagram(b"ping", &mut frames).unwrap();
    encode_datagram(b"", &mut frames).unwrap();
    let mut grouped = Vec::new();
    encode_auth(
        &AuthRequest {
            agent_id: AgentId::new("site-1").unwrap(),
            credential: Credential::new("s3cret").unwrap(),
            member: Some(GroupMember {
                group: GroupId(std::array::from_fn(|i| u8::try_from(i).unwrap())),
                index: 1,
            }),
        },
        &mut grouped,
    );
    let mut no_group = Vec::new();
    encode_auth_reply(AuthReply::Rejected(RejectReason::NoGroup), &mut no_group);
    let mut s_ok = Vec::new();
    encode_status(TunnelStatus::Ok, &mut s_ok);
    let mut s_refused = Vec::new();
    encode_status(TunnelStatus::Refused, &mut s_refused);
    vec![
        ("Auth message, agent `site-1`, credential `s3cret`", auth),
        ("Auth reply `ok`", ok),
        ("Auth reply `rejected: bad credential`", rejected),
        (
            "Tunnel header, request 1, destination `192.0.2.1:443`, client `198.51.100.7:50000`",
            h1,
        ),
        (
            "Tunnel header, request `0x0102030405060708`, destination `example.com:8080`, client `[2001:db8::1]:5000`",
            h2,
        ),
        ("Status `ok`", s_ok),
        ("Status `refused`", s_refused),
        (
            "UDP tunnel header (version 2), request 2, destination `192.0.2.53:53`, client `198.51.100.7:40000`",
            h3,
        ),
        ("Datagram frames: `ping`, then an empty datagram", frames),
        (
            "Auth message version 2 (connection group), agent `site-1`, credential `s3cret`, group `000102..0f`, member 1",
            grouped,
        ),
        ("Auth reply `rejected: no group`", no_group),
    ]
}

#[test]
fn doc_holds_the_vectors() {
    let mut text = String::new();
    for (title, bytes) in vectors() {
        writeln!(text, "{title} ({} bytes):\n", bytes.len()).unwrap();
        text.push_str(&block(&bytes));
        text.push('\n');
    }
    println!("{text}");
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tunnel.md")).unwrap();
    assert!(
        doc.contains(&text),
        "crates/ferry-tunnel/docs/tunnel.md test vectors are stale"
    );
}

#[test]
fn vectors_decode() {
    let v = vectors();
    let (auth, n) = decode_auth(&v[0].1).unwrap().complete().unwrap();
    assert_eq!(
        (auth.agent_id.as_str(), auth.credential.as_str(), n),
        ("site-1", "s3cret", 16)
    );
    assert_eq!(&v[0].1[..2], &[0x01, 0x06]);
    assert_eq!(
        decode_auth_reply(&v[2].1).unwrap().complete().unwrap().0,
        AuthReply::Rejected(RejectReason::BadCredential)
    );
    let (h, n) = decode_header(&v[4].1).unwrap().complete().unwrap();
    assert_eq!(n, v[4].1.len());
    assert_eq!(h.destination.to_string(), "example.com:8080");
    assert_eq!(h.client, "[2001:db8::1]:5000".parse().unwrap());
    assert_eq!(
        decode_status(&v[6].1).unwrap().complete().unwrap().0,
        TunnelStatus::Refused
    );
    let (grouped, n) = decode_auth(&v[9].1).unwrap().complete().unwrap();
    assert_eq!(n, 16 + 17);
    assert_eq!(v[9].1[0], 0x02);
    let member = grouped.member.unwrap();
    assert_eq!((member.group.0[15], member.index), (15, 1));
    assert_eq!(
        decode_auth_reply(&v[10].1).unwrap().complete().unwrap().0,
        AuthReply::Rejected(RejectReason::NoGroup)
    );
}

#[test]
fn group_member_index_is_bounded_and_truncation_is_incomplete() {
    let mut wire = Vec::new();
    encode_auth(
        &AuthRequest {
            agent_id: AgentId::new("a").unwrap(),
            credential: Credential::new("t").unwrap(),
            member: Some(GroupMember {
                group: GroupId([7; 16]),
                index: MAX_GROUP_MEMBERS - 1,
            }),
        },
        &mut wire,
    );
    for cut in 0..wire.len() {
        assert_eq!(
            decode_auth(&wire[..cut]),
            Ok(Parsed::Incomplete),
            "cut {cut}"
        );
    }
    assert!(decode_auth(&wire).unwrap().is_complete());
    let last = wire.len() - 1;
    wire[last] = MAX_GROUP_MEMBERS;
    assert_eq!(
        decode_auth(&wire),
        Err(WireError::GroupMember(MAX_GROUP_MEMBERS))
    );
    wire[last] = 0xff;
    assert_eq!(decode_auth(&wire), Err(WireError::GroupMember(0xff)));
}

#[test]
fn limits() {
    assert_eq!(MAX_AUTH_LEN, 4 + MAX_AGENT_ID_LEN + 8192 + 17);
    assert_eq!(MAX_HEADER_LEN, 288);
    let mut longest = TunnelHeader {
        protocol: Protocol::Udp,
        request_id: u64::MAX,
        destination: Destination::new(
            DestHost::domain(&"a".repeat(255)).unwrap(),
            1.try_into().unwrap(),
        ),
        client: "[::1]:1".parse().unwrap(),
    };
    let mut out = Vec::new();
    encode_header(&longest, &mut out);
    assert_eq!(out.len(), MAX_HEADER_LEN);
    // A TCP header is the version 1 header, one byte shorter (no protocol byte).
    longest.protocol = Protocol::Tcp;
    let mut out = Vec::new();
    encode_header(&longest, &mut out);
    assert_eq!(out.len(), MAX_HEADER_LEN - 1);
    let mut frame = Vec::new();
    encode_datagram(&vec![0; MAX_DATAGRAM], &mut frame).unwrap();
    assert_eq!(frame.len(), 2 + 65_507);
    let mut auth = AuthRequest {
        agent_id: AgentId::new(&"i".repeat(64)).unwrap(),
        credential: Credential::new(&"c".repeat(8192)).unwrap(),
        member: None,
    };
    let mut out = Vec::new();
    encode_auth(&auth, &mut out);
    assert_eq!(out.len(), MAX_AUTH_LEN - 17);
    auth.member = Some(GroupMember {
        group: GroupId([0xff; 16]),
        index: MAX_GROUP_MEMBERS - 1,
    });
    out.clear();
    encode_auth(&auth, &mut out);
    assert_eq!(out.len(), MAX_AUTH_LEN);
}

#[test]
fn bad_input_is_a_typed_error() {
    // Wrong version, as soon as the first byte arrives.
    assert_eq!(decode_auth(&[3]), Err(WireError::UnsupportedVersion(3)));
    assert_eq!(decode_auth(&[0]), Err(WireError::UnsupportedVersion(0)));
    assert_eq!(decode_header(&[0]), Err(WireError::UnsupportedVersion(0)));
    // Agent id length 0 or 65: refused before the id is buffered.
    assert_eq!(decode_auth(&[1, 0]), Err(WireError::AgentId));
    assert_eq!(decode_auth(&[1, 65]), Err(WireError::AgentId));
    // Space and colon are not allowed in an id.
    assert_eq!(decode_auth(b"\x01\x03a b\x00\x00"), Err(WireError::AgentId));
    assert_eq!(decode_auth(b"\x01\x03a:b\x00\x00"), Err(WireError::AgentId));
    // A credential length above 8192 is refused as soon as the length arrives.
    assert_eq!(
        decode_auth(b"\x01\x01a\x20\x01"),
        Err(WireError::CredentialTooLong)
    );
    assert_eq!(
        decode_auth(b"\x01\x01a\xff\xff"),
        Err(WireError::CredentialTooLong)
    );
    assert_eq!(
        decode_auth(b"\x01\x01a\x00\x02x\n"),
        Err(WireError::CredentialByte)
    );
    assert_eq!(decode_auth_reply(&[1, 9]), Err(WireError::UnknownCode(9)));
    assert_eq!(decode_status(&[1, 200]), Err(WireError::UnknownCode(200)));
    // Header: unknown address type, empty or bad domain, port 0, domain client.
    let id = [0u8; 8];
    let mut h = vec![1];
    h.extend_from_slice(&id);
    assert_eq!(
        decode_header(&[&h[..], &[2]].concat()),
        Err(WireError::AddressType(2))
    );
    assert_eq!(
        decode_header(&[&h[..], &[3, 0]].concat()),
        Err(WireError::DomainName)
    );
    assert_eq!(
        decode_header(&[&h[..], &[3, 1, b'/']].concat()),
        Err(WireError::DomainName)
    );
    assert_eq!(
        decode_header(&[&h[..], &[1, 1, 2, 3, 4, 0, 0]].concat()),
        Err(WireError::Port)
    );
    assert_eq!(
        decode_header(&[&h[..], &[1, 1, 2, 3, 4, 0, 80, 3]].concat()),
        Err(WireError::AddressType(3))
    );
    // Version 2: only the UDP protocol byte (0x11) is defined; TCP keeps version 1.
    assert_eq!(
        decode_header(&[2, 0x06]),
        Err(WireError::UnknownProtocol(6))
    );
    assert_eq!(decode_header(&[2, 0]), Err(WireError::UnknownProtocol(0)));
    assert_eq!(decode_header(&[2]), Ok(Parsed::Incomplete));
    assert_eq!(decode_header(&[3]), Err(WireError::UnsupportedVersion(3)));
    // A datagram frame longer than 65,507 bytes: refused at its length, before its payload.
    assert_eq!(
        decode_datagram(&[0xff, 0xe4]),
        Err(WireError::DatagramTooLarge(65_508))
    );
    assert_eq!(
        encode_datagram(&vec![0; 65_508], &mut Vec::new()),
        Err(WireError::DatagramTooLarge(65_508))
    );
    // Empty input is incomplete, not an error.
    assert_eq!(decode_auth(&[]), Ok(Parsed::Incomplete));
    assert_eq!(decode_header(&[]), Ok(Parsed::Incomplete));
    assert_eq!(decode_status(&[1]), Ok(Parsed::Incomplete));
}

#[test]
fn agent_id_rules() {
    assert!(AgentId::new("a").is_ok());
    assert!(AgentId::new(&"z".repeat(64)).is_ok());
    assert!(AgentId::new("!~/%@.").is_ok());
    for bad in ["", "a b", "a:b", "tab\t", "é", "\x7f"] {
        assert!(AgentId::new(bad).is_err(), "{bad:?}");
    }
    assert!(AgentId::new(&"z".repeat(65)).is_err());
    assert!(
        format!("{:?}", Credential::new("secret").unwrap())
            .find("secret")
            .is_none()
    );
}

#[test]
fn codes_round_trip() {
    for s in TunnelStatus::ALL {
        assert_eq!(TunnelStatus::from_code(s.code()), Some(s));
    }
    for r in AuthReply::ALL {
        assert_eq!(AuthReply::from_code(r.code()), Some(r));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn auth_harness(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::auth(&data);
    }

    #[test]
    fn header_harness(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzzing::header(&data);
    }

    #[test]
    fn datagram_harness(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        fuzzing::datagram(&data);
    }

    #[test]
    fn datagram_harness_valid_frames(sizes in proptest::collection::vec(0usize..400, 0..8), tail in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Valid frames first, so the reader gets past the first length.
        let mut wire = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            encode_datagram(&vec![u8::try_from(i).unwrap(); *n], &mut wire).unwrap();
        }
        wire.extend_from_slice(&tail);
        fuzzing::datagram(&wire);
    }

    #[test]
    fn header_harness_valid_prefix(seed in proptest::collection::vec(any::<u8>(), 0..300), tail in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Start from a valid header so the decoders get past the first bytes.
        let header = fuzzing::header_from(&mut fuzzing::Bytes(&seed));
        let mut wire = Vec::new();
        encode_header(&header, &mut wire);
        wire.extend_from_slice(&tail);
        fuzzing::header(&wire);
    }

    #[test]
    fn auth_harness_valid_prefix(seed in proptest::collection::vec(any::<u8>(), 0..300), tail in proptest::collection::vec(any::<u8>(), 0..40)) {
        let request = fuzzing::auth_request_from(&mut fuzzing::Bytes(&seed));
        let mut wire = Vec::new();
        encode_auth(&request, &mut wire);
        wire.extend_from_slice(&tail);
        fuzzing::auth(&wire);
    }
}
