//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;

use crate::agent_id::AgentId;
use crate::wire::{
    AuthReply, AuthRequest, Credential, DatagramReader, DestHost, Destination, MAX_AUTH_LEN,
    MAX_DATAGRAM, MAX_FRAME_LEN, MAX_HEADER_LEN, Parsed, Protocol, REPLY_LEN, TunnelHeader,
    TunnelStatus, WireError, decode_auth, decode_auth_reply, decode_datagram, decode_header,
    decode_status, encode_auth, encode_auth_reply, encode_datagram, encode_header, encode_status,
};

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
    pub fn string(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let n = min + usize::from(u16::from_be_bytes(self.array())) % (max - min + 1);
        (0..n)
            .map(|_| char::from(alphabet[usize::from(self.byte()) % alphabet.len()]))
            .collect()
    }
}

const ID_CHARS: &[u8] = b"abcXYZ019-_.@~!/%";
const CRED_CHARS: &[u8] = b"abcXYZ019-_.=+/";
const NAME_CHARS: &[u8] = b"abcxyzABC019-_.";

/// A valid auth request derived from fuzz bytes.
pub fn auth_request_from(b: &mut Bytes<'_>) -> AuthRequest {
    let id = b.string(ID_CHARS, 1, crate::MAX_AGENT_ID_LEN);
    let cred = b.string(CRED_CHARS, 0, crate::wire::MAX_CREDENTIAL_LEN);
    let member = b
        .byte()
        .is_multiple_of(2)
        .then(|| crate::wire::GroupMember {
            group: crate::wire::GroupId(b.array()),
            index: b.byte() % crate::wire::MAX_GROUP_MEMBERS,
        });
    AuthRequest {
        agent_id: AgentId::new(&id).unwrap(),
        credential: Credential::new(&cred).unwrap(),
        member,
    }
}

fn ip_from(b: &mut Bytes<'_>) -> IpAddr {
    if b.byte().is_multiple_of(2) {
        IpAddr::V4(Ipv4Addr::from(b.array::<4>()))
    } else {
        IpAddr::V6(Ipv6Addr::from(b.array::<16>()))
    }
}

/// A valid tunnel header derived from fuzz bytes.
pub fn header_from(b: &mut Bytes<'_>) -> TunnelHeader {
    let request_id = u64::from_be_bytes(b.array());
    let host = if b.byte().is_multiple_of(3) {
        DestHost::domain(&b.string(NAME_CHARS, 1, crate::wire::MAX_DOMAIN_LEN)).unwrap()
    } else {
        DestHost::Ip(ip_from(b))
    };
    let port = NonZeroU16::new(u16::from_be_bytes(b.array())).unwrap_or(NonZeroU16::MIN);
    let client = SocketAddr::new(ip_from(b), u16::from_be_bytes(b.array()));
    let protocol = if b.byte().is_multiple_of(2) {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    TunnelHeader {
        protocol,
        request_id,
        destination: Destination::new(host, port),
        client,
    }
}

/// Checks a decoder on `data`: whole, every prefix, one byte at a time. A prefix of anything is
/// `Incomplete` or the same error as the whole; a complete decode re-encodes to the same bytes.
fn check_decoder<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    max: usize,
    decode: impl Fn(&[u8]) -> Result<Parsed<T>, WireError>,
    encode: impl Fn(&T, &mut Vec<u8>),
) {
    let whole = decode(data);
    let end = match &whole {
        Ok(Parsed::Complete { value, consumed }) => {
            assert!(*consumed <= data.len() && *consumed <= max);
            let mut again = Vec::new();
            encode(value, &mut again);
            assert_eq!(again.as_slice(), &data[..*consumed], "re-encoding differs");
            *consumed
        }
        Ok(Parsed::Incomplete) => {
            assert!(data.len() < max, "incomplete after {} bytes", data.len());
            data.len()
        }
        Err(_) => data.len(),
    };
    for cut in 0..end.min(max + 1) {
        match (decode(&data[..cut]), &whole) {
            (Ok(Parsed::Incomplete), _) => {}
            (Err(p), Err(w)) => assert_eq!(&p, w, "prefix {cut}"),
            (part, _) => panic!("prefix {cut}: {part:?} but whole: {whole:?}"),
        }
    }
}

/// Harness `tunnel_auth`: arbitrary bytes into the auth and reply decoders (whole and every
/// prefix); then an auth message built from the bytes round-trips, byte by byte.
pub fn auth(data: &[u8]) {
    check_decoder(data, MAX_AUTH_LEN, decode_auth, encode_auth);
    check_decoder(data, REPLY_LEN, decode_auth_reply, |r, out| {
        encode_auth_reply(*r, out);
    });
    let mut b = Bytes(data);
    let request = auth_request_from(&mut b);
    let mut wire = Vec::new();
    encode_auth(&request, &mut wire);
    assert!(wire.len() <= MAX_AUTH_LEN);
    wire.extend_from_slice(b.0);
    let Ok(Parsed::Complete { value, consumed }) = decode_auth(&wire) else {
        panic!("encoded auth does not decode");
    };
    assert_eq!(value, request);
    for cut in 0..consumed {
        assert_eq!(decode_auth(&wire[..cut]), Ok(Parsed::Incomplete));
    }
    let reply = AuthReply::ALL[usize::from(b.byte()) % AuthReply::ALL.len()];
    let mut out = Vec::new();
    encode_auth_reply(reply, &mut out);
    assert_eq!(
        decode_auth_reply(&out),
        Ok(Parsed::Complete {
            value: reply,
            consumed: REPLY_LEN
        })
    );
}

/// Harness `tunnel_header`: arbitrary bytes into the header and status decoders (whole and
/// every prefix); then a header built from the bytes round-trips, byte by byte, with the rest
/// of the input left as payload.
pub fn header(data: &[u8]) {
    check_decoder(data, MAX_HEADER_LEN, decode_header, encode_header);
    check_decoder(data, REPLY_LEN, decode_status, |s, out| {
        encode_status(*s, out);
    });
    let mut b = Bytes(data);
    let header = header_from(&mut b);
    let mut wire = Vec::new();
    encode_header(&header, &mut wire);
    assert!(wire.len() <= MAX_HEADER_LEN);
    let len = wire.len();
    wire.extend_from_slice(b.0);
    let Ok(Parsed::Complete { value, consumed }) = decode_header(&wire) else {
        panic!("encoded header does not decode");
    };
    assert_eq!((value, consumed), (header, len));
    for cut in 0..len {
        assert_eq!(decode_header(&wire[..cut]), Ok(Parsed::Incomplete));
    }
    let status = TunnelStatus::ALL[usize::from(b.byte()) % TunnelStatus::ALL.len()];
    let mut out = Vec::new();
    encode_status(status, &mut out);
    assert_eq!(
        decode_status(&out),
        Ok(Parsed::Complete {
            value: status,
            consumed: REPLY_LEN
        })
    );
}

/// Harness `tunnel_datagram`: arbitrary bytes as a UDP tunnel's stream. The frame decoder
/// (whole, every prefix) and a [`DatagramReader`] fed in pieces whose sizes come from the input
/// agree: the same datagrams in the same order, then the same error or a clean end or a partial
/// frame; the reader never holds more than [`MAX_FRAME_LEN`] bytes. Then datagrams built from
/// the bytes round-trip through the encoder and the reader.
pub fn datagram(data: &[u8]) {
    // Reference: decode frame after frame from the whole input.
    let mut expected: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    let end = loop {
        match decode_datagram(rest) {
            Ok(Parsed::Complete { value, consumed }) => {
                assert!(consumed <= MAX_FRAME_LEN && value.end == consumed);
                assert!(value.len() <= MAX_DATAGRAM);
                expected.push(&rest[value]);
                rest = &rest[consumed..];
            }
            Ok(Parsed::Incomplete) => break Ok(rest.len()),
            Err(e) => {
                assert!(matches!(e, WireError::DatagramTooLarge(n) if n > MAX_DATAGRAM));
                break Err(e);
            }
        }
    };
    for cut in 0..rest.len().min(2) {
        assert_eq!(decode_datagram(&rest[..cut]), Ok(Parsed::Incomplete));
    }
    // The reader, fed in pieces of 1..=256 bytes (sizes taken from the input itself).
    let mut reader = DatagramReader::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut input = data;
    let mut sizes = data.iter().cycle();
    let mut error = None;
    'feed: while !input.is_empty() {
        let want = usize::from(*sizes.next().unwrap_or(&1)) + 1;
        let room = reader.unfilled();
        assert!(!room.is_empty(), "reader has no room");
        let n = want.min(room.len()).min(input.len());
        room[..n].copy_from_slice(&input[..n]);
        reader.filled(n);
        input = &input[n..];
        loop {
            match reader.next_datagram() {
                Ok(Some(d)) => got.push(d.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(got, expected);
    match end {
        Ok(partial) => {
            assert_eq!(error, None);
            assert_eq!(reader.is_mid_frame(), partial > 0);
        }
        Err(e) => assert_eq!(error, Some(e)),
    }
    // Datagrams built from the input round-trip.
    let mut b = Bytes(data);
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..usize::from(b.byte() % 8) {
        let len = usize::from(u16::from_be_bytes(b.array())) % 300;
        let payload: Vec<u8> = (0..len).map(|_| b.byte()).collect();
        encode_datagram(&payload, &mut wire).unwrap();
        sent.push(payload);
    }
    let mut reader = DatagramReader::new();
    let mut back = Vec::new();
    for piece in wire.chunks(usize::from(b.byte()) + 1) {
        let mut piece = piece;
        while !piece.is_empty() {
            let room = reader.unfilled();
            let n = room.len().min(piece.len());
            room[..n].copy_from_slice(&piece[..n]);
            reader.filled(n);
            piece = &piece[n..];
            while let Some(d) = reader.next_datagram().unwrap() {
                back.push(d.to_vec());
            }
        }
    }
    assert_eq!(back, sent);
    assert!(!reader.is_mid_frame());
}

/// Harness `tunnel_tcp`: arbitrary bytes as the plaintext an agent sends the gateway on the
/// TCP transport (after TLS): the auth message, then HTTP/2 frames as the agent's server
/// side. The input is `n1` (2 bytes, big-endian), `n2` (2 bytes), then the stream: its first
/// `n1` bytes are sent at once (the auth message), the next `n2` once the gateway answered
/// (2 bytes: an agent waits for the reply before HTTP/2 starts), the rest once the gateway
/// sent its first HEADERS frame (when the bytes authenticate, the gateway opens one tunnel
/// and reads what comes back), so inputs can answer a stream the gateway opened. In memory (a tokio duplex), on a
/// current-thread runtime, bounded by a 5 s timeout; whatever the bytes, nothing may panic
/// or hang.
pub fn tcp_gateway(data: &[u8]) {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{AgentEvents, Gateway, GatewayConfig};

    struct Connected(tokio::sync::mpsc::UnboundedSender<AgentId>);
    impl AgentEvents for Connected {
        fn connected(&self, agent: &AgentId) {
            let _ = self.0.send(agent.clone());
        }
        fn disconnected(&self, _agent: &AgentId) {}
    }

    let mut b = Bytes(data);
    let n1 = usize::from(u16::from_be_bytes(b.array()));
    let n2 = usize::from(u16::from_be_bytes(b.array()));
    let (now, rest) = b.0.split_at(n1.min(b.0.len()));
    let (after_reply, later) = rest.split_at(n2.min(rest.len()));
    let (now, after_reply, later) = (now.to_vec(), after_reply.to_vec(), later.to_vec());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let config = GatewayConfig {
            auth_timeout: Duration::from_millis(500),
            open_timeout: Duration::from_millis(500),
            drain_timeout: Duration::from_millis(10),
            ..GatewayConfig::default()
        };
        let gateway = Gateway::builder(config, |_: &AgentId, _: &str, _: u64| Ok(()))
            .events(Connected(tx))
            .build();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (mut from_gateway, mut to_gateway) = tokio::io::split(theirs);
        let (headers_tx, headers_rx) = tokio::sync::oneshot::channel::<()>();
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio_util::sync::CancellationToken::new();
        let open_ended = tokio_util::sync::CancellationToken::new();
        let open_end = open_ended.clone();
        let feed = async move {
            let _ = to_gateway.write_all(&now).await;
            if !after_reply.is_empty() && reply_rx.await.is_ok() {
                let _ = to_gateway.write_all(&after_reply).await;
            }
            // The rest once the gateway sent a HEADERS frame, or as soon as the open attempt
            // ended without one: either way the input then ends (EOF), which ends the run.
            let headers = tokio::select! {
                r = headers_rx => r.is_ok(),
                () = open_ended.cancelled() => false,
            };
            if headers && !later.is_empty() {
                let _ = to_gateway.write_all(&later).await;
            }
            let _ = to_gateway.shutdown().await;
            // Keeps the write half (and so the duplex) open until the gateway is done.
            std::future::pending::<()>().await;
        };
        // Reads what the gateway sends (auth reply, HTTP/2 preface, frames) and tells the
        // feed when the first HEADERS frame went by.
        let ended = done.clone();
        let drain = async move {
            let mut seen = Vec::new();
            let mut headers_tx = Some(headers_tx);
            let mut reply_tx = Some(reply_tx);
            let mut chunk = vec![0u8; 16 * 1024];
            while let Ok(n) = from_gateway.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                if headers_tx.is_none() {
                    continue;
                }
                seen.extend_from_slice(&chunk[..n]);
                if seen.len() >= 2
                    && let Some(tx) = reply_tx.take()
                {
                    let _ = tx.send(());
                }
                // 2-byte auth reply, 24-byte client preface, then 9-byte frame headers.
                let mut at = 2 + 24;
                while let Some(head) = seen.get(at..at + 9) {
                    let len = usize::from(head[0]) << 16
                        | usize::from(head[1]) << 8
                        | usize::from(head[2]);
                    if head[3] == 1 {
                        if let Some(tx) = headers_tx.take() {
                            let _ = tx.send(());
                        }
                        break;
                    }
                    at += 9 + len;
                }
            }
            ended.cancel();
        };
        let g = gateway.clone();
        let open = async move {
            let id = tokio::select! {
                id = rx.recv() => id,
                () = done.cancelled() => None,
            };
            if let Some(id) = id {
                let dest =
                    Destination::new(DestHost::Ip(Ipv4Addr::LOCALHOST.into()), NonZeroU16::MIN);
                let client = SocketAddr::from(([192, 0, 2, 7], 50000));
                if let Ok(mut tunnel) = g.open(&id, dest, client).await {
                    let _ = tunnel.write_all(b"payload").await;
                    let _ = tunnel.shutdown().await;
                    let mut back = Vec::new();
                    let _ = (&mut tunnel).take(1 << 20).read_to_end(&mut back).await;
                }
            }
            open_end.cancel();
        };
        let serve = gateway.serve_plain_tcp(ours);
        let run = async {
            tokio::join!(serve, async {
                tokio::select! {
                    () = feed => {}
                    _ = async { tokio::join!(drain, open) } => {}
                }
            });
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
    });
}
