//! SOCKS5: RFC 1928/1929 byte vectors, early refusal, pipelining, UDP, chunking.

use ferry_front::fuzzing::{self, Transcript, run_server};
use ferry_front::socks5::{
    self, AuthMode, Command, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD, ReplyCode, ServerEvent,
    ServerState, Socks5Error, Socks5Server, client,
};
use ferry_front::{Address, AddressError, Parsed};
use proptest::prelude::*;

use crate::strategies::{address, near};

fn server(
    mode: AuthMode,
    input: &[u8],
) -> (Socks5Server, Vec<u8>, Result<socks5::Progress, Socks5Error>) {
    let mut s = Socks5Server::new(mode);
    let mut out = Vec::new();
    let r = s.receive(input, &mut out);
    (s, out, r)
}

#[test]
fn no_auth_connect_ipv4_rfc1928_bytes() {
    let mut wire = vec![0x05, 0x01, 0x00]; // VER NMETHODS METHODS
    wire.extend_from_slice(&[0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50]); // CONNECT 127.0.0.1:80
    wire.extend_from_slice(b"GET /"); // tunnel data sent ahead
    let (mut s, mut out, r) = server(AuthMode::NoAuth, &wire);
    let p = r.unwrap();
    assert_eq!(out, [0x05, 0x00]);
    assert_eq!(p.consumed, 13);
    assert_eq!(&wire[p.consumed..], b"GET /");
    let Some(ServerEvent::Request(req)) = p.event else {
        panic!("{p:?}")
    };
    assert_eq!(req.command, Command::Connect);
    assert_eq!(req.target, Address::Ip("127.0.0.1:80".parse().unwrap()));
    s.reply(
        ReplyCode::SUCCEEDED,
        &Address::Ip("10.0.0.1:4000".parse().unwrap()),
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[2..], [0x05, 0x00, 0x00, 0x01, 10, 0, 0, 1, 0x0F, 0xA0]);
    assert!(s.is_established());
    // Established: nothing more is consumed.
    let p = s.receive(b"GET /", &mut out).unwrap();
    assert_eq!((p.consumed, p.event), (0, None));
}

#[test]
fn username_password_rfc1929_bytes() {
    let mut wire = vec![0x05, 0x02, 0x00, 0x02];
    wire.extend_from_slice(&[0x01, 5]);
    wire.extend_from_slice(b"alice");
    wire.push(6);
    wire.extend_from_slice(b"secret");
    let (mut s, mut out, r) = server(AuthMode::UsernamePassword, &wire);
    let p = r.unwrap();
    assert_eq!(out, [0x05, 0x02]);
    assert_eq!(p.consumed, wire.len());
    let Some(ServerEvent::Authenticate(c)) = p.event else {
        panic!()
    };
    assert_eq!(
        (c.username.as_str(), c.password.as_str()),
        ("alice", "secret")
    );
    assert!(!format!("{c:?}").contains("secret"));
    assert_eq!(s.state(), ServerState::AuthDecision);
    // No input is consumed while the decision is pending.
    assert_eq!(s.receive(&[5, 1, 0], &mut out).unwrap().consumed, 0);
    s.accept_credentials(true, &mut out).unwrap();
    assert_eq!(&out[2..], [0x01, 0x00]);
    assert_eq!(s.state(), ServerState::Request);
    // Domain request, UDP ASSOCIATE.
    let mut req = vec![0x05, 0x03, 0x00, 0x03, 11];
    req.extend_from_slice(b"example.com");
    req.extend_from_slice(&[0x01, 0xBB]);
    let p = s.receive(&req, &mut out).unwrap();
    let Some(ServerEvent::Request(r)) = p.event else {
        panic!()
    };
    assert_eq!(r.command, Command::UdpAssociate);
    assert_eq!(r.target, Address::Domain("example.com".into(), 443));
}

/// The request after a no-auth greeting, as a request event (or the error).
fn request_after_greeting(req: &[u8]) -> Result<socks5::Request, Socks5Error> {
    let mut wire = vec![0x05, 0x01, 0x00];
    wire.extend_from_slice(req);
    let (_, _, r) = server(AuthMode::NoAuth, &wire);
    match r?.event {
        Some(ServerEvent::Request(req)) => Ok(req),
        other => panic!("{other:?}"),
    }
}

#[test]
fn udp_associate_accepts_any_well_formed_hint_and_connect_stays_strict() {
    let unspecified = |port| Address::Ip(std::net::SocketAddr::new([0, 0, 0, 0].into(), port));
    // PySocks 1.7 sends the domain "0" with its own port (bytes captured from it).
    let r = request_after_greeting(&[0x05, 0x03, 0x00, 0x03, 0x01, 0x30, 0xcb, 0xce]).unwrap();
    assert_eq!(r.target.port(), 0xcbce);
    // Others send the domain "0" with port 0: no hint.
    let r = request_after_greeting(&[0x05, 0x03, 0x00, 0x03, 1, b'0', 0, 0]).unwrap();
    assert_eq!(
        (r.command, r.target),
        (Command::UdpAssociate, unspecified(0))
    );
    // All zeros (IPv4 and IPv6), and the client's own address and port.
    let r = request_after_greeting(&[0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(r.target, unspecified(0));
    let mut v6 = vec![0x05, 0x03, 0x00, 0x04];
    v6.extend_from_slice(&[0; 18]);
    assert!(request_after_greeting(&v6).is_ok());
    let r = request_after_greeting(&[0x05, 0x03, 0x00, 0x01, 127, 0, 0, 1, 0x30, 0x39]).unwrap();
    assert_eq!(r.target, Address::Ip("127.0.0.1:12345".parse().unwrap()));
    // A domain that is no address keeps its port as the hint; an empty one too.
    let r =
        request_after_greeting(&[0x05, 0x03, 0x00, 0x03, 3, b'%', b'$', b'!', 0x30, 0x39]).unwrap();
    assert_eq!(r.target, unspecified(12345));
    let r = request_after_greeting(&[0x05, 0x03, 0x00, 0x03, 0, 0, 7]).unwrap();
    assert_eq!(r.target, unspecified(7));
    // Still malformed: an unknown address type.
    assert!(request_after_greeting(&[0x05, 0x03, 0x00, 0x09, 0, 0]).is_err());
    // CONNECT to the domain "0" is refused as before: a destination is checked strictly.
    assert!(request_after_greeting(&[0x05, 0x01, 0x00, 0x03, 1, b'0', 0, 80]).is_err());
    // A truncated hint asks for more bytes.
    let mut wire = vec![0x05, 0x01, 0x00, 0x05, 0x03, 0x00, 0x03, 5, b'a'];
    let (_, _, r) = server(AuthMode::NoAuth, &wire);
    assert!(r.unwrap().event.is_none());
    wire.extend_from_slice(b"bcde\x00\x01");
    let (_, _, r) = server(AuthMode::NoAuth, &wire);
    assert!(r.unwrap().event.is_some());
}

/// Fuzz finding (socks5_client, crash-40c82f97): a server reply naming its bound address as
/// the domain `1::` parses to the IPv6 address itself, like a request target would, so it
/// re-encodes as ATYP 4; the harness now allows that one rewrite.
#[test]
fn a_reply_naming_an_ip_literal_as_a_domain_parses_to_the_address() {
    let reply = [5, 1, 0, 3, 3, b'1', b':', b':', 0, 80];
    let Ok(Parsed::Complete { value, consumed }) = client::parse_reply(&reply) else {
        panic!("not parsed");
    };
    assert_eq!(consumed, reply.len());
    assert_eq!(value.bound, Address::Ip("[1::]:80".parse().unwrap()));
    fuzzing::socks5_client(&reply);
}

#[test]
fn refused_credentials_close() {
    let (mut s, mut out, _) = server(AuthMode::UsernamePassword, &[5, 1, 2, 1, 1, b'a', 1, b'b']);
    s.accept_credentials(false, &mut out).unwrap();
    assert_eq!(out, [0x05, 0x02, 0x01, 0x01]);
    assert_eq!(s.state(), ServerState::Closed);
    assert_eq!(
        s.accept_credentials(true, &mut out),
        Err(Socks5Error::State)
    );
}

#[test]
fn no_acceptable_method() {
    let (s, out, r) = server(AuthMode::UsernamePassword, &[5, 1, 0]);
    let e = r.unwrap_err();
    assert_eq!(e, Socks5Error::NoAcceptableMethod);
    assert!(out.is_empty());
    let mut reply = Vec::new();
    e.write_reply(&mut reply);
    assert_eq!(reply, [0x05, 0xFF]);
    assert_eq!(s.state(), ServerState::Closed);
    let (_, _, r) = server(AuthMode::NoAuth, &[5, 2, 1, 2]);
    assert_eq!(r.unwrap_err(), Socks5Error::NoAcceptableMethod);
    let (_, _, r) = server(AuthMode::NoAuth, &[5, 0]);
    assert_eq!(r.unwrap_err(), Socks5Error::NoMethods);
}

/// Feeds `request` after a no-auth greeting and returns the error and its reply bytes.
fn request_error(request: &[u8]) -> (Socks5Error, Vec<u8>) {
    let mut wire = vec![5, 1, 0];
    wire.extend_from_slice(request);
    let (_, _, r) = server(AuthMode::NoAuth, &wire);
    let e = r.unwrap_err();
    let mut reply = Vec::new();
    e.write_reply(&mut reply);
    (e, reply)
}

#[test]
fn request_errors_are_refused_early_with_the_rfc_codes() {
    // BIND: 0x07, known from the second byte.
    let (e, reply) = request_error(&[5, 2]);
    assert_eq!(e, Socks5Error::Command(2));
    assert_eq!(e.reply_code(), Some(ReplyCode::COMMAND_NOT_SUPPORTED));
    assert_eq!(reply, [5, 0x07, 0, 1, 0, 0, 0, 0, 0, 0]);
    // Unknown address type: 0x08, known from the fourth byte.
    let (e, reply) = request_error(&[5, 1, 0, 5]);
    assert_eq!(e, Socks5Error::AddressType(5));
    assert_eq!(reply[1], 0x08);
    // Invalid domain characters, at the first bad byte.
    let (e, _) = request_error(&[5, 1, 0, 3, 10, b'a', b' ']);
    assert_eq!(e, Socks5Error::Domain(AddressError::DomainCharacter));
    let (e, reply) = request_error(&[5, 1, 0, 3, 0]);
    assert_eq!(
        e,
        Socks5Error::Domain(AddressError::DomainLength { len: 0 })
    );
    assert_eq!(reply[1], 0x04);
    let (e, _) = request_error(&[5, 1, 0, 3, 5, b'1', b'2', b'7', b'.', b'1', 0, 80]);
    assert_eq!(e, Socks5Error::Domain(AddressError::NumericDomain));
    // Wrong version in the request.
    let (e, reply) = request_error(&[4]);
    assert_eq!(e, Socks5Error::RequestVersion(4));
    assert_eq!(reply[1], 0x01);
}

#[test]
fn not_socks5_gets_no_reply() {
    let (_, out, r) = server(AuthMode::NoAuth, &[4]);
    let e = r.unwrap_err();
    assert_eq!(e, Socks5Error::Version(4));
    let mut reply = out;
    e.write_reply(&mut reply);
    assert!(reply.is_empty());
    let (_, _, r) = server(AuthMode::NoAuth, b"GET / HTTP/1.1\r\n");
    assert_eq!(r.unwrap_err(), Socks5Error::Version(b'G'));
}

#[test]
fn auth_errors() {
    let (_, out, r) = server(AuthMode::UsernamePassword, &[5, 1, 2, 2]);
    let e = r.unwrap_err();
    assert_eq!(e, Socks5Error::AuthVersion(2));
    let mut reply = out;
    e.write_reply(&mut reply);
    assert_eq!(reply, [5, 2, 1, 1]);
    let (_, _, r) = server(AuthMode::UsernamePassword, &[5, 1, 2, 1, 0]);
    assert_eq!(r.unwrap_err(), Socks5Error::AuthCredentials);
    let (_, _, r) = server(AuthMode::UsernamePassword, &[5, 1, 2, 1, 1, b'a', 0]);
    assert_eq!(r.unwrap_err(), Socks5Error::AuthCredentials);
    let (_, _, r) = server(AuthMode::UsernamePassword, &[5, 1, 2, 1, 1, 0xFF, 1, b'a']);
    assert_eq!(r.unwrap_err(), Socks5Error::AuthCredentials);
}

#[test]
fn ip_literal_domains_become_ips() {
    let mut req = vec![5, 1, 0, 3, 3];
    req.extend_from_slice(b"::1");
    req.extend_from_slice(&[0, 22]);
    let mut wire = vec![5, 1, 0];
    wire.extend_from_slice(&req);
    let (_, _, r) = server(AuthMode::NoAuth, &wire);
    let Some(ServerEvent::Request(r)) = r.unwrap().event else {
        panic!()
    };
    assert_eq!(r.target, Address::Ip("[::1]:22".parse().unwrap()));
}

#[test]
fn state_errors() {
    let mut s = Socks5Server::new(AuthMode::NoAuth);
    let mut out = Vec::new();
    let any: Address = "1.2.3.4:5".parse().unwrap();
    assert_eq!(
        s.reply(ReplyCode::SUCCEEDED, &any, &mut out),
        Err(Socks5Error::State)
    );
    assert_eq!(
        s.accept_credentials(true, &mut out),
        Err(Socks5Error::State)
    );
    assert!(out.is_empty());
    // A failure reply closes.
    let _ = s
        .receive(&[5, 1, 0, 5, 1, 0, 1, 1, 1, 1, 1, 0, 1], &mut out)
        .unwrap();
    let bad = Address::Domain("no such".into(), 1);
    assert!(matches!(
        s.reply(ReplyCode::SUCCEEDED, &bad, &mut out),
        Err(Socks5Error::Domain(_))
    ));
    assert_eq!(s.state(), ServerState::ReplyPending);
    s.reply(ReplyCode::NOT_ALLOWED, &any, &mut out).unwrap();
    assert_eq!(s.state(), ServerState::Closed);
}

#[test]
fn client_side_messages() {
    let mut out = Vec::new();
    client::greeting(&[METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD], &mut out).unwrap();
    assert_eq!(out, [5, 2, 0, 2]);
    assert_eq!(client::greeting(&[], &mut out), Err(Socks5Error::Encode));
    assert_eq!(client::auth("", "x", &mut out), Err(Socks5Error::Encode));
    assert_eq!(
        client::auth(&"u".repeat(256), "x", &mut out),
        Err(Socks5Error::Encode)
    );
    out.clear();
    client::request(Command::Bind, &"[::1]:1".parse().unwrap(), &mut out).unwrap();
    assert_eq!(out.len(), 4 + 16 + 2);
    assert_eq!(&out[..4], [5, 2, 0, 4]);
    assert_eq!(
        client::parse_method_selection(&[5, 0xFF]),
        Ok(Parsed::Complete {
            value: socks5::METHOD_NO_ACCEPTABLE,
            consumed: 2
        })
    );
    assert_eq!(client::parse_method_selection(&[5]), Ok(Parsed::Incomplete));
    assert_eq!(
        client::parse_auth_reply(&[1, 0, 9]),
        Ok(Parsed::Complete {
            value: true,
            consumed: 2
        })
    );
    assert_eq!(
        client::parse_auth_reply(&[5, 0]),
        Err(Socks5Error::ServerVersion(5))
    );
    let bound: Address = "example.com:8080".parse().unwrap();
    let mut reply = Vec::new();
    socks5::encode_reply(ReplyCode::HOST_UNREACHABLE, &bound, &mut reply).unwrap();
    for k in 0..reply.len() {
        assert_eq!(client::parse_reply(&reply[..k]), Ok(Parsed::Incomplete));
    }
    let (r, n) = client::parse_reply(&reply).unwrap().complete().unwrap();
    assert_eq!(
        (r.code, r.bound, n),
        (ReplyCode::HOST_UNREACHABLE, bound, reply.len())
    );
    assert_eq!(format!("{:?}", ReplyCode(0x42)), "ReplyCode(0x42)");
}

#[test]
fn udp_header() {
    let target: Address = "example.com:53".parse().unwrap();
    let mut dgram = Vec::new();
    socks5::encode_udp_header(&target, &mut dgram).unwrap();
    assert_eq!(&dgram[..5], [0, 0, 0, 3, 11]);
    dgram.extend_from_slice(b"payload");
    let h = socks5::decode_udp(&dgram).unwrap();
    assert_eq!(h.target, target);
    assert_eq!(&dgram[h.payload_offset..], b"payload");
    let v4 = [0, 0, 0, 1, 8, 8, 8, 8, 0, 53, b'q'];
    let h = socks5::decode_udp(&v4).unwrap();
    assert_eq!(
        (h.target.to_string(), h.payload_offset),
        ("8.8.8.8:53".to_string(), 10)
    );
    assert_eq!(
        socks5::decode_udp(&[0, 0, 1, 1, 8, 8, 8, 8, 0, 53]),
        Err(Socks5Error::UdpFragment(1))
    );
    assert_eq!(
        socks5::decode_udp(&[0, 1, 0, 1, 8, 8, 8, 8, 0, 53]),
        Err(Socks5Error::UdpReserved)
    );
    assert_eq!(
        socks5::decode_udp(&[0, 0, 0, 1, 8, 8]),
        Err(Socks5Error::UdpTruncated)
    );
    assert_eq!(socks5::decode_udp(&[0, 0]), Err(Socks5Error::UdpTruncated));
    assert_eq!(
        socks5::decode_udp(&[0, 0, 0, 9]),
        Err(Socks5Error::AddressType(9))
    );
    assert_eq!(Socks5Error::UdpFragment(1).reply_code(), None);
}

/// A client session: mode, the client's bytes, credentials sent, command, target, and the
/// bytes that follow the request.
type Session = (
    AuthMode,
    Vec<u8>,
    Option<(String, String)>,
    Command,
    Address,
    Vec<u8>,
);

fn session() -> impl Strategy<Value = Session> {
    (
        any::<bool>(),
        prop::option::of(("[a-z]{1,8}", "[a-z]{1,8}")),
        prop_oneof![Just(Command::Connect), Just(Command::UdpAssociate)],
        address(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(userpass, creds, command, target, tail)| {
            let mode = if userpass {
                AuthMode::UsernamePassword
            } else {
                AuthMode::NoAuth
            };
            let mut wire = Vec::new();
            let creds = if userpass {
                Some(creds.unwrap_or(("u".into(), "u".into())))
            } else {
                None
            };
            match &creds {
                Some((u, p)) => {
                    client::greeting(&[METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD], &mut wire)
                        .unwrap();
                    client::auth(u, p, &mut wire).unwrap();
                }
                None => client::greeting(&[METHOD_NO_AUTH], &mut wire).unwrap(),
            }
            client::request(command, &target, &mut wire).unwrap();
            (mode, wire, creds, command, target, tail)
        })
}

proptest! {
    #[test]
    fn sessions_are_the_same_in_any_chunks(
        (mode, mut wire, creds, command, target, tail) in session(),
        chunks in prop::collection::vec(1usize..9, 1..6),
    ) {
        wire.extend_from_slice(&tail);
        let whole = run_server(mode, &wire, &[usize::MAX]);
        let accepted = creds.as_ref().is_none_or(|(u, p)| u == p);
        let mut events = Vec::new();
        if let Some((u, _)) = &creds {
            let ServerEvent::Authenticate(c) = &whole.events[0] else { panic!() };
            prop_assert_eq!(&c.username, u);
            events.push(());
        }
        if accepted {
            let ServerEvent::Request(r) = whole.events.last().unwrap() else { panic!() };
            prop_assert_eq!(r.command, command);
            prop_assert_eq!(&r.target, &target);
            events.push(());
            let want = if target.port() % 2 == 0 { ServerState::Established } else { ServerState::Closed };
            prop_assert_eq!(whole.state, want);
            prop_assert_eq!(&whole.leftover, &tail, "leftover is exactly the bytes after the request");
        } else {
            prop_assert_eq!(whole.state, ServerState::Closed);
        }
        prop_assert_eq!(whole.events.len(), events.len());
        prop_assert_eq!(whole.error, None);
        let chunked: Transcript = run_server(mode, &wire, &chunks);
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(&run_server(mode, &wire, &[1]), &whole);
        let mut data = vec![chunks[0] as u8];
        data.extend_from_slice(&wire);
        fuzzing::socks5_server(&data);
    }

    #[test]
    fn harness_on_near_valid_input(cfg in any::<u8>(), data in near(vec![
        vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80, b'x'],
        vec![5, 1, 2, 1, 1, b'a', 1, b'a', 5, 3, 0, 3, 3, b'a', b'.', b'b', 0, 0],
        vec![5, 2, 0, 2, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0],
        vec![0, 0, 0, 3, 4, b'a', b'.', b'c', b'o', 0, 53, 1, 2, 3],
    ])) {
        let mut input = vec![cfg];
        input.extend_from_slice(&data);
        fuzzing::socks5_server(&input);
    }

    /// Fuzz harness `socks5_client` on replies near valid ones.
    #[test]
    fn client_harness_on_near_valid_replies(data in near(vec![
        vec![5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90],
        vec![5, 1, 0, 3, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', 0, 80],
        vec![5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187],
        vec![1, 0],
    ])) {
        fuzzing::socks5_client(&data);
    }
}
