//! The meta protocol without I/O: request encoding and response decoding.
//!
//! Requests are written into a caller's buffer; responses are decoded from the bytes received so
//! far, and "need more bytes" ([`Parsed::Incomplete`]) is not an error. The decoder never reads
//! past one response and bounds what it accepts: a line is at most [`MAX_LINE`] bytes, a value
//! at most the `max_value` the caller passes.

use std::time::Duration;

use crate::error::ProtocolError;
use crate::key::Key;

/// The longest response line accepted (code and flags, without the value block), `\r\n`
/// included.
pub const MAX_LINE: usize = 1024;

/// The longest TTL memcached treats as relative: 30 days. Longer values would be read as unix
/// timestamps, so [`Ttl`] refuses them.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long an item lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl(u32);

impl Ttl {
    /// The item never expires (memcached may still evict it under memory pressure).
    pub const NEVER: Self = Self(0);

    /// An expiry `ttl` from now, rounded up to whole seconds.
    ///
    /// Returns `None` for zero (use [`Ttl::NEVER`] explicitly) and above [`MAX_TTL`].
    #[must_use]
    pub fn after(ttl: Duration) -> Option<Self> {
        if ttl.is_zero() || ttl > MAX_TTL {
            return None;
        }
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        u32::try_from(secs).ok().map(Self)
    }

    /// Seconds as sent on the wire; 0 means never.
    #[must_use]
    pub fn as_secs(self) -> u32 {
        self.0
    }
}

/// How `ms` stores a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetMode {
    /// Store unconditionally (or only if the CAS matches, when one is given).
    Set,
    /// Store only if the key does not exist.
    Add,
    /// Store only if the key exists.
    Replace,
}

impl SetMode {
    fn flag(self) -> &'static str {
        match self {
            Self::Set => "MS",
            Self::Add => "ME",
            Self::Replace => "MR",
        }
    }
}

/// Metadata returned with `mg` and `ms` responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The item's compare-and-swap token (flag `c`).
    pub cas: Option<u64>,
    /// Seconds the item has left (flag `t`); `Some(-1)` means it does not expire.
    pub ttl: Option<i64>,
}

/// One decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `VA`: a value and its metadata.
    Value {
        /// The value bytes.
        data: Vec<u8>,
        /// Returned flags.
        meta: Meta,
    },
    /// `HD`: success without a value.
    Done(Meta),
    /// `EN`: miss.
    Miss,
    /// `NS`: not stored (add on an existing key, replace on a missing one).
    NotStored,
    /// `EX`: the compare-and-swap token did not match.
    Exists,
    /// `NF`: the key does not exist (CAS store or delete).
    NotFound,
    /// `MN`: answer to a no-op.
    Noop,
}

impl Response {
    /// The response code, for error messages.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Value { .. } => "VA",
            Self::Done(_) => "HD",
            Self::Miss => "EN",
            Self::NotStored => "NS",
            Self::Exists => "EX",
            Self::NotFound => "NF",
            Self::Noop => "MN",
        }
    }
}

/// The result of decoding the bytes received so far (the parse result every Ferry parser
/// returns, defined once in `ferry-base`).
pub use ferry_base::Parsed;

/// Writes `mg <key> v c t` (with `with_value`) or `mg <key> c t`.
pub fn encode_get(out: &mut Vec<u8>, key: &Key, with_value: bool) {
    out.extend_from_slice(b"mg ");
    out.extend_from_slice(key.as_str().as_bytes());
    out.extend_from_slice(if with_value {
        b" v c t\r\n"
    } else {
        b" c t\r\n"
    });
}

/// Writes `mg <key> T<ttl>`: a touch that answers `HD` on hit and `EN` on miss.
pub fn encode_touch(out: &mut Vec<u8>, key: &Key, ttl: Ttl) {
    out.extend_from_slice(format!("mg {key} T{}\r\n", ttl.as_secs()).as_bytes());
}

/// Writes `ms <key> <len> T<ttl> M<mode> [C<cas>] c`, then the value and `\r\n`.
pub fn encode_set(
    out: &mut Vec<u8>,
    key: &Key,
    value: &[u8],
    ttl: Ttl,
    mode: SetMode,
    cas: Option<u64>,
) {
    out.extend_from_slice(
        format!(
            "ms {key} {} T{} {}",
            value.len(),
            ttl.as_secs(),
            mode.flag()
        )
        .as_bytes(),
    );
    if let Some(cas) = cas {
        out.extend_from_slice(format!(" C{cas}").as_bytes());
    }
    out.extend_from_slice(b" c\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `md <key> [C<cas>]`.
pub fn encode_delete(out: &mut Vec<u8>, key: &Key, cas: Option<u64>) {
    out.extend_from_slice(b"md ");
    out.extend_from_slice(key.as_str().as_bytes());
    if let Some(cas) = cas {
        out.extend_from_slice(format!(" C{cas}").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `mn`.
pub fn encode_noop(out: &mut Vec<u8>) {
    out.extend_from_slice(b"mn\r\n");
}

/// Decodes one response from the front of `buf`. Values larger than `max_value` are refused
/// from their announced size, before their bytes arrive.
///
/// # Errors
///
/// [`ProtocolError`] for a line over [`MAX_LINE`], an unknown code or malformed fields, an
/// oversized or unterminated value, and for the server's `ERROR`, `CLIENT_ERROR` and
/// `SERVER_ERROR` lines.
pub fn decode(buf: &[u8], max_value: usize) -> Result<Parsed<Response>, ProtocolError> {
    let window = buf.get(..MAX_LINE).unwrap_or(buf);
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_LINE {
            Err(ProtocolError::LineTooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let Some(line) = window.get(..nl).and_then(|l| l.strip_suffix(b"\r")) else {
        return Err(ProtocolError::Malformed);
    };
    let line_len = nl + 1;
    if let Some(err) = server_error(line) {
        return Err(err);
    }
    let mut fields = line.split(|&b| b == b' ');
    let code = fields.next().unwrap_or_default();
    let simple = |value: Response| -> Result<Parsed<Response>, ProtocolError> {
        Ok(Parsed::Complete {
            value,
            consumed: line_len,
        })
    };
    match code {
        b"VA" => {
            let size = fields
                .next()
                .and_then(parse_u64)
                .ok_or(ProtocolError::Malformed)?;
            let meta = parse_meta(fields)?;
            let size_usize = match usize::try_from(size) {
                Ok(s) if s <= max_value => s,
                _ => {
                    return Err(ProtocolError::ValueTooLarge {
                        size,
                        limit: max_value,
                    });
                }
            };
            let end = line_len + size_usize;
            let Some((data, rest)) = buf
                .get(line_len..)
                .and_then(|b| b.split_at_checked(size_usize))
            else {
                return Ok(Parsed::Incomplete);
            };
            match rest {
                [b'\r', b'\n', ..] => {}
                [] | [b'\r'] => return Ok(Parsed::Incomplete),
                _ => return Err(ProtocolError::Unterminated),
            }
            Ok(Parsed::Complete {
                value: Response::Value {
                    data: data.to_vec(),
                    meta,
                },
                consumed: end + 2,
            })
        }
        b"HD" => simple(Response::Done(parse_meta(fields)?)),
        b"EN" => no_fields(fields).and_then(|()| simple(Response::Miss)),
        b"NS" => flags_ignored(fields).and_then(|()| simple(Response::NotStored)),
        b"EX" => flags_ignored(fields).and_then(|()| simple(Response::Exists)),
        b"NF" => flags_ignored(fields).and_then(|()| simple(Response::NotFound)),
        b"MN" => no_fields(fields).and_then(|()| simple(Response::Noop)),
        _ => Err(ProtocolError::Malformed),
    }
}

fn server_error(line: &[u8]) -> Option<ProtocolError> {
    let (kind, rest): (&'static str, &[u8]) = if line == b"ERROR" {
        ("ERROR", b"")
    } else if let Some(rest) = line.strip_prefix(b"CLIENT_ERROR") {
        ("CLIENT_ERROR", rest)
    } else if let Some(rest) = line.strip_prefix(b"SERVER_ERROR") {
        ("SERVER_ERROR", rest)
    } else {
        return None;
    };
    Some(ProtocolError::Server {
        kind,
        message: String::from_utf8_lossy(rest.trim_ascii()).into_owned(),
    })
}

fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    match field.strip_prefix(b"-") {
        Some(digits) => parse_u64(digits)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        None => parse_u64(field).and_then(|v| i64::try_from(v).ok()),
    }
}

/// Return flags: `c<cas>` and `t<ttl>` are read, other well-formed flags are skipped.
fn parse_meta<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Result<Meta, ProtocolError> {
    let mut meta = Meta::default();
    for field in fields {
        let Some((&flag, token)) = field.split_first() else {
            return Err(ProtocolError::Malformed);
        };
        if !flag.is_ascii_alphabetic() || !token.iter().all(u8::is_ascii_graphic) {
            return Err(ProtocolError::Malformed);
        }
        match flag {
            b'c' => meta.cas = Some(parse_u64(token).ok_or(ProtocolError::Malformed)?),
            b't' => meta.ttl = Some(parse_i64(token).ok_or(ProtocolError::Malformed)?),
            _ => {}
        }
    }
    Ok(meta)
}

fn flags_ignored<'a>(fields: impl Iterator<Item = &'a [u8]>) -> Result<(), ProtocolError> {
    parse_meta(fields).map(|_| ())
}

fn no_fields<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> Result<(), ProtocolError> {
    match fields.next() {
        None => Ok(()),
        Some(_) => Err(ProtocolError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Response, usize) {
        match decode(buf, 1024).unwrap() {
            Parsed::Complete { value, consumed } => (value, consumed),
            Parsed::Incomplete => panic!("incomplete: {buf:?}"),
        }
    }

    #[test]
    fn encodes_requests() {
        let key = Key::new("agent:a1").unwrap();
        let mut out = Vec::new();
        encode_get(&mut out, &key, true);
        encode_set(
            &mut out,
            &key,
            b"gw",
            Ttl::after(Duration::from_millis(1500)).unwrap(),
            SetMode::Add,
            None,
        );
        encode_set(&mut out, &key, b"", Ttl::NEVER, SetMode::Set, Some(42));
        encode_delete(&mut out, &key, Some(7));
        encode_touch(&mut out, &key, Ttl::after(Duration::from_secs(5)).unwrap());
        encode_noop(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "mg agent:a1 v c t\r\nms agent:a1 2 T2 ME c\r\ngw\r\nms agent:a1 0 T0 MS C42 c\r\n\r\n\
             md agent:a1 C7\r\nmg agent:a1 T5\r\nmn\r\n"
        );
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(Ttl::after(Duration::ZERO), None);
        assert_eq!(Ttl::after(MAX_TTL).map(Ttl::as_secs), Some(2_592_000));
        assert_eq!(Ttl::after(MAX_TTL + Duration::from_millis(1)), None);
        assert_eq!(
            Ttl::after(Duration::from_millis(1)).map(Ttl::as_secs),
            Some(1)
        );
    }

    #[test]
    fn decodes_each_code() {
        assert_eq!(
            done(b"VA 2 c9 t-1\r\ngw\r\nHD"),
            (
                Response::Value {
                    data: b"gw".to_vec(),
                    meta: Meta {
                        cas: Some(9),
                        ttl: Some(-1)
                    }
                },
                17
            )
        );
        assert_eq!(
            done(b"HD c5\r\n"),
            (
                Response::Done(Meta {
                    cas: Some(5),
                    ttl: None
                }),
                7
            )
        );
        assert_eq!(done(b"EN\r\n").0, Response::Miss);
        assert_eq!(done(b"NS\r\n").0, Response::NotStored);
        assert_eq!(done(b"EX c1\r\n").0, Response::Exists);
        assert_eq!(done(b"NF\r\n").0, Response::NotFound);
        assert_eq!(done(b"MN\r\n").0, Response::Noop);
    }

    #[test]
    fn incomplete_then_errors() {
        for prefix in [
            "",
            "V",
            "VA 2 c9",
            "VA 2 c9\r",
            "VA 2 c9\r\n",
            "VA 2 c9\r\ngw",
            "VA 2 c9\r\ngw\r",
        ] {
            assert_eq!(
                decode(prefix.as_bytes(), 1024),
                Ok(Parsed::Incomplete),
                "{prefix:?}"
            );
        }
        assert_eq!(
            decode(b"VA 2\r\ngwXX", 1024),
            Err(ProtocolError::Unterminated)
        );
        assert_eq!(
            decode(b"VA 99999999999\r\n", 1024),
            Err(ProtocolError::ValueTooLarge {
                size: 99_999_999_999,
                limit: 1024
            })
        );
        assert_eq!(decode(b"HD\n", 1024), Err(ProtocolError::Malformed));
        assert_eq!(decode(b"ZZ\r\n", 1024), Err(ProtocolError::Malformed));
        assert_eq!(decode(b"HD c\r\n", 1024), Err(ProtocolError::Malformed));
        assert_eq!(decode(b"EN x\r\n", 1024), Err(ProtocolError::Malformed));
        assert_eq!(
            decode(&[b'H'; MAX_LINE], 1024),
            Err(ProtocolError::LineTooLong)
        );
        assert!(matches!(
            decode(b"SERVER_ERROR out of memory\r\n", 1024),
            Err(ProtocolError::Server {
                kind: "SERVER_ERROR",
                ..
            })
        ));
        assert!(matches!(
            decode(b"ERROR\r\n", 1024),
            Err(ProtocolError::Server { kind: "ERROR", .. })
        ));
    }
}
