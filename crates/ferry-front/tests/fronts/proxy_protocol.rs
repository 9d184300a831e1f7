//! PROXY protocol: spec vectors, every prefix, leftovers, limits, round trips, garbage.

use std::net::{IpAddr, SocketAddr};

use ferry_front::Parsed;
use ferry_front::fuzzing;
use ferry_front::proxy_protocol::{
    self, Command, ProxyEncodeError, ProxyHeader, ProxyLimits, ProxyProtocolError as E, Transport,
    V2_SIGNATURE, Version, tlv,
};
use proptest::prelude::*;

use crate::strategies::{ip, near};

fn decode(input: &[u8]) -> Result<Parsed<ProxyHeader>, E> {
    proxy_protocol::decode(input, &ProxyLimits::default())
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Asserts every strict prefix is Incomplete and the whole message (plus trailing data) is
/// complete with exactly its length; returns the header.
fn complete_exactly(wire: &[u8]) -> ProxyHeader {
    for k in 0..wire.len() {
        assert_eq!(decode(&wire[..k]), Ok(Parsed::Incomplete), "prefix {k}");
    }
    let mut with_data = wire.to_vec();
    with_data.extend_from_slice(b"\x16\x03\x01 data");
    let Ok(Parsed::Complete { value, consumed }) = decode(&with_data) else {
        panic!("not complete: {:?}", decode(&with_data));
    };
    assert_eq!(consumed, wire.len());
    assert_eq!(&with_data[consumed..], b"\x16\x03\x01 data");
    value
}

#[test]
fn v2_signature_is_the_spec_bytes() {
    assert_eq!(
        V2_SIGNATURE,
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
        ]
    );
    assert_eq!(&V2_SIGNATURE, b"\r\n\r\n\0\r\nQUIT\n");
}

#[test]
fn v1_spec_examples() {
    // The spec's examples and worst cases (section 2.1).
    let h = complete_exactly(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    assert_eq!(
        h,
        ProxyHeader::proxy(Version::V1, sa("192.168.0.1:56324"), sa("192.168.0.11:443"))
    );
    let tcp4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(tcp4.len(), 56);
    complete_exactly(tcp4);
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let tcp6 = format!("PROXY TCP6 {f} {f} 65535 65535\r\n");
    assert_eq!(tcp6.len(), 104);
    let h = complete_exactly(tcp6.as_bytes());
    assert_eq!(h.addresses.unwrap().source.port(), 65535);
    let unknown = complete_exactly(b"PROXY UNKNOWN\r\n");
    assert_eq!(unknown, ProxyHeader::local(Version::V1));
    let worst = format!("PROXY UNKNOWN {f} {f} 65535 65535\r\n");
    assert_eq!(worst.len(), 107);
    assert_eq!(complete_exactly(worst.as_bytes()).command, Command::Local);
}

#[test]
fn v1_longer_than_107_bytes_is_refused_at_107() {
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let line = format!("PROXY UNKNOWN {f} {f} 65535 655351\r\n");
    assert_eq!(decode(&line.as_bytes()[..106]), Ok(Parsed::Incomplete));
    assert_eq!(decode(&line.as_bytes()[..107]), Err(E::V1TooLong));
    assert_eq!(decode(line.as_bytes()), Err(E::V1TooLong));
}

#[test]
fn v1_malformed_lines() {
    for (line, err) in [
        (&b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"[..], E::V1Protocol),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", E::V1Syntax),
        (b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", E::V1Syntax),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", E::V1Syntax),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", E::V1Syntax),
        (b"PROXY TCP4 ::1 ::1 1 2\r\n", E::V1Address),
        (b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n", E::V1Address),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", E::V1Port),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", E::V1Port),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 \r\n", E::V1Port),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n", E::V1Syntax),
        (b"PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", E::V1Protocol),
        (b"PROXY\r\n", E::NoSignature),
    ] {
        assert_eq!(decode(line), Err(err), "{}", String::from_utf8_lossy(line));
    }
}

#[test]
fn garbage_is_refused_at_the_first_impossible_byte() {
    assert_eq!(decode(b""), Ok(Parsed::Incomplete));
    assert_eq!(decode(b"G"), Err(E::NoSignature));
    assert_eq!(decode(b"\x16"), Err(E::NoSignature));
    assert_eq!(decode(b"PROXX"), Err(E::NoSignature));
    assert_eq!(decode(b"PROXY TCP"), Ok(Parsed::Incomplete));
    assert_eq!(decode(b"PROXY TCPX"), Err(E::V1Protocol));
    assert_eq!(decode(b"PROXY TCP4 1.2.3.4 z"), Err(E::V1Syntax));
    assert_eq!(decode(b"PROXY TCP4 1\r2"), Err(E::V1Syntax));
    assert_eq!(decode(b"\r\n\r\n\0\r\nQUI"), Ok(Parsed::Incomplete));
    assert_eq!(decode(b"\r\n\r\n\0\r\nQUI!"), Err(E::NoSignature));
    assert_eq!(decode(b"\r\n\r\n"), Ok(Parsed::Incomplete));
    assert_eq!(decode(b"\r\nGET"), Err(E::NoSignature));
    let mut v2 = V2_SIGNATURE.to_vec();
    v2.push(0x31);
    assert_eq!(decode(&v2), Err(E::V2Version(3)));
    v2[12] = 0x22;
    assert_eq!(decode(&v2), Err(E::V2Command(2)));
    v2[12] = 0x21;
    v2.push(0x41);
    assert_eq!(decode(&v2), Err(E::V2Family(4)));
    v2[13] = 0x13;
    assert_eq!(decode(&v2), Err(E::V2Transport(3)));
}

#[test]
fn v2_length_over_the_limit_is_refused_at_16_bytes() {
    let mut wire = V2_SIGNATURE.to_vec();
    wire.extend_from_slice(&[0x21, 0x11, 0x02, 0x01]); // 513 bytes to follow
    assert_eq!(decode(&wire), Err(E::V2TooLong { len: 513, max: 512 }));
    wire[15] = 0x00; // 512: allowed, waits for the bytes
    assert_eq!(decode(&wire), Ok(Parsed::Incomplete));
    let small = ProxyLimits::default().with_max_v2_len(12);
    assert_eq!(
        proxy_protocol::decode(&wire, &small),
        Err(E::V2TooLong { len: 512, max: 12 })
    );
}

#[test]
fn v2_exact_bytes() {
    let h = ProxyHeader::proxy(Version::V2, sa("192.0.2.1:56324"), sa("198.51.100.7:443"));
    let mut wire = Vec::new();
    assert_eq!(h.encode(&mut wire), Ok(28));
    let mut want = V2_SIGNATURE.to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
    want.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB]);
    assert_eq!(wire, want);
    assert_eq!(complete_exactly(&wire), h);

    let h6 = ProxyHeader::proxy(Version::V2, sa("[2001:db8::1]:1"), sa("[2001:db8::2]:2"))
        .with_transport(Transport::Datagram)
        .with_tlv(tlv::ALPN, b"h2".to_vec())
        .with_tlv(tlv::NOOP, Vec::new());
    let mut wire = Vec::new();
    assert_eq!(h6.encode(&mut wire), Ok(16 + 36 + 5 + 3));
    assert_eq!(&wire[12..16], &[0x21, 0x22, 0x00, 36 + 8]);
    assert_eq!(
        &wire[52..],
        &[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x00]
    );
    let back = complete_exactly(&wire);
    assert_eq!(back, h6);
    assert_eq!(back.tlv(tlv::ALPN), Some(&b"h2"[..]));

    let mut wire = Vec::new();
    ProxyHeader::local(Version::V2).encode(&mut wire).unwrap();
    let mut want = V2_SIGNATURE.to_vec();
    want.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    assert_eq!(wire, want);
    assert_eq!(complete_exactly(&wire), ProxyHeader::local(Version::V2));
}

#[test]
fn v2_unix_and_short_blocks() {
    let mut wire = V2_SIGNATURE.to_vec();
    wire.extend_from_slice(&[0x21, 0x31, 0x00, 216]);
    wire.extend_from_slice(&[b'/'; 216]);
    let h = complete_exactly(&wire);
    assert_eq!(
        (h.command, h.addresses, h.transport),
        (Command::Proxy, None, Transport::Stream)
    );
    // PROXY with too few address bytes for its family.
    let mut short = V2_SIGNATURE.to_vec();
    short.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
    assert_eq!(decode(&short), Err(E::V2AddressTruncated));
    // LOCAL: the block is discarded, whatever it holds.
    short[12] = 0x20;
    assert_eq!(
        decode(&short).unwrap().complete().unwrap().0.command,
        Command::Local
    );
    // A TLV running past the end.
    let mut bad = V2_SIGNATURE.to_vec();
    bad.extend_from_slice(&[0x21, 0x00, 0x00, 0x04, 0x01, 0x00, 0x05, b'x']);
    assert_eq!(decode(&bad), Err(E::V2TlvTruncated));
    bad[15] = 0x02;
    bad.truncate(18);
    assert_eq!(decode(&bad), Err(E::V2TlvTruncated));
}

#[test]
fn encode_errors() {
    let mixed = ProxyHeader::proxy(Version::V2, sa("1.2.3.4:1"), sa("[::1]:2"));
    assert_eq!(
        mixed.encode(&mut Vec::new()),
        Err(ProxyEncodeError::MixedFamilies)
    );
    let mut v1 = mixed.clone();
    v1.version = Version::V1;
    assert_eq!(
        v1.encode(&mut Vec::new()),
        Err(ProxyEncodeError::MixedFamilies)
    );
    let udp = ProxyHeader::proxy(Version::V1, sa("1.2.3.4:1"), sa("1.2.3.4:2"))
        .with_transport(Transport::Datagram);
    assert_eq!(
        udp.encode(&mut Vec::new()),
        Err(ProxyEncodeError::V1Datagram)
    );
    let tlvs = ProxyHeader::local(Version::V1).with_tlv(1, vec![]);
    assert_eq!(tlvs.encode(&mut Vec::new()), Err(ProxyEncodeError::V1Tlvs));
    let big = ProxyHeader::local(Version::V2).with_tlv(1, vec![0; 65533]);
    assert_eq!(
        big.encode(&mut Vec::new()),
        Err(ProxyEncodeError::V2TooLong { len: 65536 })
    );
    let mut out = b"keep".to_vec();
    assert!(mixed.encode(&mut out).is_err());
    assert_eq!(out, b"keep", "nothing written on error");
}

/// The header a decoder returns for `h` encoded in its version.
fn normalized(mut h: ProxyHeader) -> ProxyHeader {
    if h.command == Command::Local {
        h.addresses = None;
    }
    if h.version == Version::V1 {
        return match h.addresses {
            Some(_) if h.command == Command::Proxy => h.with_transport(Transport::Stream),
            _ => ProxyHeader::local(Version::V1),
        };
    }
    h
}

/// Two addresses of the same family.
fn ip_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    (ip(), any::<[u8; 16]>()).prop_map(|(a, b)| match a {
        IpAddr::V4(_) => (a, IpAddr::from([b[0], b[1], b[2], b[3]])),
        IpAddr::V6(_) => (a, IpAddr::from(b)),
    })
}

fn header() -> impl Strategy<Value = ProxyHeader> {
    let transport = prop_oneof![
        Just(Transport::Unspec),
        Just(Transport::Stream),
        Just(Transport::Datagram)
    ];
    let tlvs = prop::collection::vec(
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)),
        0..5,
    );
    (
        any::<bool>(),
        any::<bool>(),
        transport,
        prop::option::of((ip_pair(), any::<u16>(), any::<u16>())),
        tlvs,
    )
        .prop_map(|(v2, proxy, transport, addrs, tlvs)| {
            let version = if v2 { Version::V2 } else { Version::V1 };
            let mut h = match addrs {
                Some(((src, dst), sp, dp)) if proxy => {
                    ProxyHeader::proxy(version, SocketAddr::new(src, sp), SocketAddr::new(dst, dp))
                }
                _ => ProxyHeader::local(version),
            };
            if proxy && h.addresses.is_none() {
                h.command = Command::Proxy;
            }
            if v2 {
                h.transport = transport;
                h.tlvs = tlvs
                    .into_iter()
                    .map(|(kind, value)| proxy_protocol::Tlv { kind, value })
                    .collect();
            } else if transport == Transport::Datagram {
                h.transport = Transport::Stream;
            }
            h
        })
}

proptest! {
    #[test]
    fn roundtrip_with_leftover(h in header(), tail in prop::collection::vec(any::<u8>(), 0..32)) {
        let mut wire = Vec::new();
        let n = h.encode(&mut wire).unwrap();
        prop_assert_eq!(n, wire.len());
        let want = normalized(h);
        wire.extend_from_slice(&tail);
        let got = decode(&wire).unwrap();
        prop_assert_eq!(got, Parsed::Complete { value: want, consumed: n });
        for k in 0..n {
            prop_assert_eq!(decode(&wire[..k]), Ok(Parsed::Incomplete));
        }
        fuzzing::proxy_protocol_decode(&wire);
    }

    #[test]
    fn harness_on_near_valid_input(data in near(vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        {
            let mut w = Vec::new();
            ProxyHeader::proxy(Version::V2, sa("[2001:db8::1]:1"), sa("[::2]:2"))
                .with_tlv(tlv::AUTHORITY, b"example.com".to_vec())
                .encode(&mut w)
                .unwrap();
            w
        },
    ])) {
        fuzzing::proxy_protocol_decode(&data);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..700)) {
        fuzzing::proxy_protocol_decode(&data);
    }
}
