//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point. The parsers are
//! stateless over "the bytes received so far", so feeding an input in chunks is the same as
//! calling them on a growing prefix: checking every prefix covers every way of splitting the
//! input.

use std::fmt::Debug;

use crate::http_connect::{self, BasicCredentials, HttpLimits};
use crate::proxy_protocol::{self, ProxyLimits, V1_MAX_LEN, V2_HEADER_LEN};
use crate::socks5::{
    self, AuthMode, MAX_AUTH_LEN, MAX_GREETING_LEN, MAX_REQUEST_LEN, ReplyCode, ServerEvent,
    ServerState, Socks5Error, Socks5Server, client,
};
use crate::{Address, Parsed};

/// Longest input checked prefix by prefix (longer inputs are cut).
pub const MAX_INPUT: usize = 1024;

/// Checks that `parse` is prefix-consistent on `data`: every prefix is `Incomplete`, or gives
/// the same result as the whole input (a `Complete` prefix is at least `consumed` long); and
/// that an input of `bound` bytes or more is never `Incomplete`. Returns the result for the
/// whole input.
pub fn check_prefixes<T: PartialEq + Debug, E: PartialEq + Debug>(
    data: &[u8],
    bound: usize,
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, E>,
) -> Result<Parsed<T>, E> {
    let data = data.get(..data.len().min(MAX_INPUT)).unwrap_or(data);
    let full = parse(data);
    if let Ok(Parsed::Complete { consumed, .. }) = &full {
        assert!(*consumed <= data.len() && *consumed > 0);
    }
    if matches!(full, Ok(Parsed::Incomplete)) {
        assert!(data.len() < bound, "incomplete after {} bytes", data.len());
    }
    for k in 0..data.len() {
        let part = parse(&data[..k]);
        match &part {
            Ok(Parsed::Incomplete) => assert!(k < bound, "incomplete after {k} bytes"),
            Ok(Parsed::Complete { consumed, .. }) => {
                assert!(*consumed <= k);
                assert_eq!(part, full, "prefix of {k} bytes");
            }
            Err(_) => assert_eq!(part, full, "prefix of {k} bytes"),
        }
    }
    full
}

/// Harness `proxy_protocol_decode`: `data` is the bytes received, decoded with the default
/// limits and with a 40-byte v2 limit.
///
/// Invariants: [`check_prefixes`] with bound 107 (v1) or 16 + limit (v2); a decoded header
/// re-encodes and decodes back to itself.
pub fn proxy_protocol_decode(data: &[u8]) {
    for limits in [
        ProxyLimits::default(),
        ProxyLimits::default().with_max_v2_len(40),
    ] {
        let bound = match data.first() {
            Some(b'P') => V1_MAX_LEN,
            _ => V2_HEADER_LEN + usize::from(limits.max_v2_len),
        };
        let full = check_prefixes(data, bound, |d| proxy_protocol::decode(d, &limits));
        if let Ok(Parsed::Complete { value, .. }) = full {
            let mut wire = Vec::new();
            let n = value
                .encode(&mut wire)
                .unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(n, wire.len());
            let again =
                proxy_protocol::decode(&wire, &ProxyLimits::default().with_max_v2_len(u16::MAX));
            assert_eq!(again, Ok(Parsed::Complete { value, consumed: n }));
        }
    }
}

/// Harness `http_connect_parse`: `data` is parsed as a request head and as a response head,
/// with a 256-byte head limit (every prefix) and the default limits (whole input).
///
/// Invariants: [`check_prefixes`] with bound = the head limit; the default limits agree with
/// the small ones when the head fits; a parsed request re-written by
/// [`http_connect::write_connect_request`] parses to the same target and credentials.
pub fn http_connect_parse(data: &[u8]) {
    let small = HttpLimits::default().with_max_head(256);
    let req = check_prefixes(data, small.max_head, |d| {
        http_connect::parse_request(d, &small)
    });
    let big = http_connect::parse_request(data, &HttpLimits::default());
    // Within 256 bytes both limits see the same bytes, so they agree unless the small one
    // ran out of room.
    if !matches!(
        req,
        Ok(Parsed::Incomplete) | Err(http_connect::HttpError::HeadTooLarge { .. })
    ) {
        assert_eq!(req, big);
    }
    if let Ok(Parsed::Complete { value, .. }) = &big {
        assert!(value.target.port() != 0);
        let creds = value.proxy_authorization(&HttpLimits::default());
        let _ = creds.as_ref().map_err(|e| e.status());
        let creds = creds
            .ok()
            .flatten()
            .and_then(|c| BasicCredentials::new(&c.username, &c.password).ok());
        let mut wire = Vec::new();
        http_connect::write_connect_request(&mut wire, &value.target, creds.as_ref(), &[])
            .unwrap_or_else(|e| panic!("{:?}: {e}", value.target));
        let Ok(Parsed::Complete {
            value: again,
            consumed,
        }) = http_connect::parse_request(&wire, &HttpLimits::default())
        else {
            panic!(
                "re-written request does not parse: {}",
                String::from_utf8_lossy(&wire)
            );
        };
        assert_eq!(consumed, wire.len());
        assert_eq!(again.target, value.target);
        assert_eq!(
            again
                .proxy_authorization(&HttpLimits::default())
                .ok()
                .flatten(),
            creds
        );
    }
    if let Err(e) = &big {
        assert!(matches!(e.status(), 400 | 405 | 407));
    }
    let resp = check_prefixes(data, small.max_head, |d| {
        http_connect::parse_response(d, &small)
    });
    if let Ok(Parsed::Complete { value, .. }) = resp {
        assert!((100..=999).contains(&value.status));
    }
}

/// What one run of the SOCKS5 server did.
#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Events, in order.
    pub events: Vec<ServerEvent>,
    /// Every byte the server wrote, error replies included.
    pub out: Vec<u8>,
    /// The final state.
    pub state: ServerState,
    /// The error, if the run ended with one.
    pub error: Option<Socks5Error>,
    /// Input bytes the server did not consume (empty after an error: the connection closes).
    pub leftover: Vec<u8>,
}

/// Runs a server over `input` fed in chunks of the given sizes (cycled; 0 is read as 1).
/// Credentials are accepted when username equals password; a request gets SUCCEEDED for an
/// even port and CONNECTION_REFUSED for an odd one, with bound address `127.0.0.1:1080`.
pub fn run_server(mode: AuthMode, input: &[u8], chunks: &[usize]) -> Transcript {
    let mut server = Socks5Server::new(mode);
    let (mut buf, mut out, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut fed = 0;
    let mut sizes = chunks.iter().copied().cycle();
    let bound: Address = Address::Ip(([127, 0, 0, 1], 1080).into());
    let mut error = None;
    while fed < input.len() {
        let n = sizes.next().unwrap_or(1).max(1).min(input.len() - fed);
        fed += n;
        if error.is_some() {
            continue;
        }
        buf.extend_from_slice(&input[fed - n..fed]);
        loop {
            match server.receive(&buf, &mut out) {
                Err(e) => {
                    assert_eq!(server.state(), ServerState::Closed);
                    e.write_reply(&mut out);
                    error = Some(e);
                    buf.clear();
                    break;
                }
                Ok(p) => {
                    assert!(p.consumed <= buf.len());
                    buf.drain(..p.consumed);
                    let Some(ev) = p.event else { break };
                    match &ev {
                        ServerEvent::Authenticate(c) => {
                            assert!(!c.username.is_empty() && c.username.len() <= 255);
                            server
                                .accept_credentials(c.username == c.password, &mut out)
                                .unwrap_or_else(|e| panic!("{e}"));
                        }
                        ServerEvent::Request(r) => {
                            let code = if r.target.port() % 2 == 0 {
                                ReplyCode::SUCCEEDED
                            } else {
                                ReplyCode::CONNECTION_REFUSED
                            };
                            server
                                .reply(code, &bound, &mut out)
                                .unwrap_or_else(|e| panic!("{e}"));
                        }
                    }
                    events.push(ev);
                }
            }
        }
    }
    Transcript {
        events,
        out,
        state: server.state(),
        error,
        leftover: buf,
    }
}

/// Harness `socks5_server`: the first byte picks the auth mode (bit 0) and a chunk pattern;
/// the rest is the client's byte stream. Also decodes the rest as a UDP datagram.
///
/// Invariants: one byte at a time, the chunk pattern and all at once give the same
/// transcript; a server still waiting holds less than one message; every request target
/// re-encodes to itself; a decoded UDP header re-encodes to a header for the same target.
pub fn socks5_server(data: &[u8]) {
    let Some((&cfg, input)) = data.split_first() else {
        return;
    };
    let input = input.get(..input.len().min(MAX_INPUT)).unwrap_or(input);
    let mode = if cfg & 1 == 0 {
        AuthMode::NoAuth
    } else {
        AuthMode::UsernamePassword
    };
    let whole = run_server(mode, input, &[usize::MAX]);
    let bytes = run_server(mode, input, &[1]);
    let pattern = [usize::from(cfg >> 1 & 7) + 1, usize::from(cfg >> 4) + 1, 3];
    let chunked = run_server(mode, input, &pattern);
    assert_eq!(bytes, whole);
    assert_eq!(chunked, whole);
    let waiting = match whole.state {
        ServerState::Greeting => Some(MAX_GREETING_LEN),
        ServerState::Auth => Some(MAX_AUTH_LEN),
        ServerState::Request => Some(MAX_REQUEST_LEN),
        _ => None,
    };
    if let Some(max) = waiting {
        assert!(whole.leftover.len() < max, "{whole:?}");
    }
    for ev in &whole.events {
        if let ServerEvent::Request(r) = ev {
            let mut wire = Vec::new();
            client::request(r.command, &r.target, &mut wire).unwrap_or_else(|e| panic!("{e}"));
            let mut server = Socks5Server::new(AuthMode::NoAuth);
            let mut out = Vec::new();
            let mut greeting = vec![5, 1, 0];
            greeting.extend_from_slice(&wire);
            let p = server
                .receive(&greeting, &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.consumed, greeting.len());
            assert_eq!(p.event.as_ref(), Some(ev));
        }
    }
    if let Ok(h) = socks5::decode_udp(input) {
        assert!(h.payload_offset <= input.len());
        let mut wire = Vec::new();
        socks5::encode_udp_header(&h.target, &mut wire).unwrap_or_else(|e| panic!("{e}"));
        let again = socks5::decode_udp(&wire);
        assert_eq!(
            again.map(|a| (a.target, a.payload_offset)),
            Ok((h.target, wire.len()))
        );
    }
}

/// Harness `socks5_client`: the server's replies as a SOCKS5 client reads them (method
/// selection, auth status, reply to a request).
///
/// Invariants: each parser is prefix-consistent and never waits past its message's maximum
/// length; a parsed reply re-encodes with [`socks5::encode_reply`] to a reply that parses to
/// the same value, and to exactly the bytes it consumed (the reserved byte aside, which the
/// client ignores) unless the server wrote an IP address as a domain name (`ATYP` 3 with text
/// such as `1::`): that parses to the address itself, the one canonical form requests get too.
pub fn socks5_client(data: &[u8]) {
    let _ = check_prefixes(data, 2, client::parse_method_selection);
    let _ = check_prefixes(data, 2, client::parse_auth_reply);
    if let Ok(Parsed::Complete { value, consumed }) =
        check_prefixes(data, MAX_REQUEST_LEN, client::parse_reply)
    {
        let mut wire = Vec::new();
        socks5::encode_reply(value.code, &value.bound, &mut wire)
            .unwrap_or_else(|e| panic!("a parsed bound address must encode: {e}"));
        assert_eq!(
            client::parse_reply(&wire),
            Ok(Parsed::Complete {
                value: value.clone(),
                consumed: wire.len()
            })
        );
        let ip_written_as_name =
            data.get(3) == Some(&3) && !matches!(value.bound, Address::Domain(..));
        if !ip_written_as_name {
            let mut expected = data[..consumed].to_vec();
            expected[2] = 0;
            assert_eq!(wire, expected);
        }
    }
}
