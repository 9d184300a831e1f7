//! Per-hop sealed requests: plaintext layout, sealing, and the hop-side decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;

use bytes::BufMut;

use crate::Decoded;
use crate::address::{Address, DomainName, Host, valid_domain};
use crate::error::{FrameError, Malformed, RecordInfo, RequestError, SealError};
use crate::key::{HopKey, Keyring};
use crate::record::{open_record, seal_record};
use crate::replay::{GuardReject, ReplayGuard};
use crate::wire::{
    HEADER_LEN, Header, KIND_REQUEST, MAX_HOPS, MAX_REQUEST_PLAINTEXT, MIN_REQUEST_PLAINTEXT,
    Nonce, PREFIX_LEN, TAG_LEN, prefix_of,
};

const TYPE_V4: u8 = 0x01;
const TYPE_DOMAIN: u8 = 0x03;
const TYPE_V6: u8 = 0x04;
const CLIENT_NONE: u8 = 0x00;

/// Request flags (one byte on the wire; undefined bits must be 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// The next address is the destination, not another hop.
    pub const FINAL: Self = Self(0b01);
    /// The chain carries datagrams (UDP framing).
    pub const UDP: Self = Self(0b10);
    const DEFINED: u8 = 0b11;

    /// Flags from their wire byte; `None` when undefined bits are set.
    #[must_use]
    pub fn from_bits(bits: u8) -> Option<Self> {
        (bits & !Self::DEFINED == 0).then_some(Self(bits))
    }

    /// The wire byte.
    #[must_use]
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// What one hop learns from its record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// Unix time in milliseconds when the client sealed the record.
    pub timestamp_ms: u64,
    /// Hops left including this one (the client sets `N - i + 1` for hop `i`).
    pub hop_limit: u8,
    /// Flags.
    pub flags: Flags,
    /// Where this hop connects next.
    pub next: Address,
    /// The original client's address, when the client chose to reveal it.
    pub client: Option<SocketAddr>,
}

impl Request {
    /// Bytes of the plaintext.
    fn plaintext_len(&self) -> usize {
        8 + 1 + 1 + self.next.wire_len() + 1 + client_len(self.client)
    }

    fn write_plaintext(&self, out: &mut [u8; MAX_REQUEST_PLAINTEXT]) -> usize {
        let mut w = Writer { buf: out, at: 0 };
        w.put(&self.timestamp_ms.to_be_bytes());
        w.put(&[self.hop_limit, self.flags.bits()]);
        match self.next.host() {
            Host::V4(ip) => {
                w.put(&[TYPE_V4]);
                w.put(&ip.octets());
            }
            Host::V6(ip) => {
                w.put(&[TYPE_V6]);
                w.put(&ip.octets());
            }
            Host::Domain(d) => {
                let name = d.as_str().as_bytes();
                w.put(&[TYPE_DOMAIN, u8::try_from(name.len()).unwrap_or(u8::MAX)]);
                w.put(name);
            }
        }
        w.put(&self.next.port().to_be_bytes());
        match self.client {
            None => w.put(&[CLIENT_NONE]),
            Some(SocketAddr::V4(a)) => {
                w.put(&[TYPE_V4]);
                w.put(&a.ip().octets());
                w.put(&a.port().to_be_bytes());
            }
            Some(SocketAddr::V6(a)) => {
                w.put(&[TYPE_V6]);
                w.put(&a.ip().octets());
                w.put(&a.port().to_be_bytes());
            }
        }
        w.at
    }
}

fn client_len(client: Option<SocketAddr>) -> usize {
    match client {
        None => 0,
        Some(SocketAddr::V4(_)) => 6,
        Some(SocketAddr::V6(_)) => 18,
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // The plaintext is at most MAX_REQUEST_PLAINTEXT by construction (255-byte domain,
        // IPv6 client); `get_mut` keeps this total anyway.
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.take(N)?
            .try_into()
            .map_err(|_short| Malformed::Truncated)
    }
    fn byte(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }
}

fn parse_plaintext(hop_index: u8, plain: &[u8]) -> Result<Request, Malformed> {
    let mut r = Reader { buf: plain };
    let timestamp_ms = u64::from_be_bytes(r.array()?);
    let hop_limit = r.byte()?;
    if u16::from(hop_index) + u16::from(hop_limit) > u16::from(MAX_HOPS) + 1 {
        return Err(Malformed::HopLimit(hop_limit));
    }
    let bits = r.byte()?;
    let flags = Flags::from_bits(bits).ok_or(Malformed::Flags(bits))?;
    let host = match r.byte()? {
        TYPE_V4 => Host::V4(Ipv4Addr::from(r.array::<4>()?)),
        TYPE_V6 => Host::V6(Ipv6Addr::from(r.array::<16>()?)),
        TYPE_DOMAIN => {
            let n = usize::from(r.byte()?);
            let name = r.take(n)?;
            if !valid_domain(name) {
                return Err(Malformed::Domain);
            }
            let name = std::str::from_utf8(name).map_err(|_invalid| Malformed::Domain)?;
            Host::Domain(DomainName::new(name).map_err(|_invalid| Malformed::Domain)?)
        }
        other => return Err(Malformed::AddressType(other)),
    };
    let port = NonZeroU16::new(u16::from_be_bytes(r.array()?)).ok_or(Malformed::ZeroPort)?;
    let client = match r.byte()? {
        CLIENT_NONE => None,
        TYPE_V4 => {
            let ip = Ipv4Addr::from(r.array::<4>()?);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes(r.array()?),
            ))
        }
        TYPE_V6 => {
            let ip = Ipv6Addr::from(r.array::<16>()?);
            Some(SocketAddr::new(
                IpAddr::V6(ip),
                u16::from_be_bytes(r.array()?),
            ))
        }
        other => return Err(Malformed::ClientType(other)),
    };
    if !r.buf.is_empty() {
        return Err(Malformed::TrailingBytes);
    }
    Ok(Request {
        timestamp_ms,
        hop_limit,
        flags,
        next: Address::new(host, port),
        client,
    })
}

/// Seals `request` for hop `hop_index` with `key` and `nonce`, appending the record
/// (header and ciphertext, at most [`MAX_REQUEST_RECORD`](crate::MAX_REQUEST_RECORD) bytes)
/// to `out`.
///
/// The nonce must never repeat for a key: take it from a `ring::rand::SecureRandom`
/// ([`random_nonce`](crate::random_nonce)).
///
/// # Errors
///
/// [`SealError::HopRange`] when `hop_index` is not in `1..=16` or
/// `hop_index + hop_limit - 1 > 16`; [`SealError::Flags`] is not possible with [`Flags`]
/// values; [`SealError::Key`] is not expected.
pub fn seal_request(
    key: &HopKey,
    hop_index: u8,
    request: &Request,
    nonce: Nonce,
    out: &mut impl BufMut,
) -> Result<(), SealError> {
    if hop_index == 0
        || hop_index > MAX_HOPS
        || u16::from(hop_index) + u16::from(request.hop_limit) > u16::from(MAX_HOPS) + 1
    {
        return Err(SealError::HopRange {
            hop_index,
            hop_limit: request.hop_limit,
        });
    }
    let mut plain = [0u8; MAX_REQUEST_PLAINTEXT];
    let len = request.write_plaintext(&mut plain);
    debug_assert_eq!(len, request.plaintext_len());
    let header = Header {
        kind: KIND_REQUEST,
        hop_index,
        key_id: key.id(),
        length: len + TAG_LEN,
    };
    seal_record(
        key,
        &header,
        nonce,
        &[],
        plain.get_mut(..len).unwrap_or_default(),
        out,
    )
}

/// An opened request and the record it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRequest {
    /// Hop index, key id and nonce: what [`seal_response`](crate::seal_response) needs.
    pub info: RecordInfo,
    /// The plaintext.
    pub request: Request,
}

/// Decodes the request record at the start of `buf` (hop side).
///
/// Order of checks (docs/wire/chain-header.md): header prefix (version, kind, hop index, key
/// id in `keyring`, length in range) as soon as 7 bytes are there, so an oversized or foreign
/// record is rejected before buffering; then the tag; then the plaintext, the timestamp window
/// and the replay `guard` (updated only for records that authenticated and are in the window);
/// then the hop limit. Fewer bytes than a record needs is [`Decoded::NeedMore`], not an error.
/// On success, `consumed` bytes were this hop's record; the rest of `buf` (later hops' records
/// and payload) is to be forwarded unchanged.
///
/// # Errors
///
/// A [`RequestError`]; [`RequestError::reply`] says whether and how to answer.
pub fn decode_request(
    buf: &[u8],
    keyring: &Keyring,
    now_unix_ms: u64,
    guard: &mut ReplayGuard,
) -> Result<Decoded<OpenedRequest>, RequestError> {
    let Some(prefix) = prefix_of(buf) else {
        return Ok(Decoded::NeedMore {
            at_least: PREFIX_LEN,
        });
    };
    let header = Header::check(
        prefix,
        KIND_REQUEST,
        MIN_REQUEST_PLAINTEXT + TAG_LEN,
        MAX_REQUEST_PLAINTEXT + TAG_LEN,
    )
    .map_err(RequestError::Frame)?;
    let key = keyring
        .get(header.key_id)
        .ok_or(RequestError::Frame(FrameError::UnknownKeyId(
            header.key_id.0,
        )))?;
    let total = HEADER_LEN + header.length;
    let Some(record) = buf.get(..total) else {
        return Ok(Decoded::NeedMore { at_least: total });
    };
    let mut plain = [0u8; MAX_REQUEST_PLAINTEXT + TAG_LEN];
    let (nonce, plain) =
        open_record(key, &header, record, &[], &mut plain).ok_or(RequestError::Auth)?;
    let info = RecordInfo {
        hop_index: header.hop_index,
        key_id: header.key_id,
        nonce,
    };
    let request = parse_plaintext(header.hop_index, plain)
        .map_err(|reason| RequestError::Malformed { info, reason })?;
    match guard.check_and_insert(&nonce, request.timestamp_ms, now_unix_ms) {
        Ok(()) => {}
        Err(GuardReject::Window { skew_ms }) => return Err(RequestError::Stale { info, skew_ms }),
        Err(GuardReject::Replayed) => return Err(RequestError::Replayed { info }),
        Err(GuardReject::Full) => return Err(RequestError::GuardFull { info }),
    }
    if request.hop_limit == 0 {
        return Err(RequestError::HopLimitExceeded { info });
    }
    Ok(Decoded::Done {
        value: OpenedRequest { info, request },
        consumed: total,
    })
}

#[cfg(test)]
mod tests;
