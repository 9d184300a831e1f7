//! Client-side messages, for tools, tests and chaining to a SOCKS5 server.

use super::wire::{AUTH_VERSION, read_addr, write_addr};
use super::{Command, Method, ReplyCode, SOCKS_VERSION, Socks5Error};
use crate::{Address, Parsed};

/// A server's reply to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerReply {
    /// The reply code.
    pub code: ReplyCode,
    /// The bound address.
    pub bound: Address,
}

/// Appends the greeting `05 N METHODS...`.
///
/// # Errors
///
/// [`Socks5Error::Encode`] for no methods or more than 255.
pub fn greeting(methods: &[Method], out: &mut Vec<u8>) -> Result<(), Socks5Error> {
    let n = u8::try_from(methods.len())
        .ok()
        .ok_or(Socks5Error::Encode)?;
    if n == 0 {
        return Err(Socks5Error::Encode);
    }
    out.extend_from_slice(&[SOCKS_VERSION, n]);
    out.extend(methods.iter().map(|m| m.0));
    Ok(())
}

/// Appends the username/password message `01 ULEN UNAME PLEN PASSWD`.
///
/// # Errors
///
/// [`Socks5Error::Encode`] when either is empty or longer than 255 bytes.
pub fn auth(username: &str, password: &str, out: &mut Vec<u8>) -> Result<(), Socks5Error> {
    let len = |s: &str| match u8::try_from(s.len()) {
        Ok(0) | Err(_) => Err(Socks5Error::Encode),
        Ok(n) => Ok(n),
    };
    let (ulen, plen) = (len(username)?, len(password)?);
    out.extend_from_slice(&[AUTH_VERSION, ulen]);
    out.extend_from_slice(username.as_bytes());
    out.push(plen);
    out.extend_from_slice(password.as_bytes());
    Ok(())
}

/// Appends the request `05 CMD 00 ATYP ADDR PORT`.
///
/// # Errors
///
/// [`Socks5Error::Domain`] when `target` is an invalid domain name; nothing is written then.
pub fn request(command: Command, target: &Address, out: &mut Vec<u8>) -> Result<(), Socks5Error> {
    let start = out.len();
    out.extend_from_slice(&[SOCKS_VERSION, command.to_u8(), 0x00]);
    write_addr(target, out).inspect_err(|_| out.truncate(start))
}

/// Parses the method selection `05 METHOD` (`0xFF`: none acceptable).
///
/// # Errors
///
/// [`Socks5Error::ServerVersion`] when the first byte is not 5.
pub fn parse_method_selection(input: &[u8]) -> Result<Parsed<Method>, Socks5Error> {
    match input {
        [] => Ok(Parsed::Incomplete),
        [v, ..] if *v != SOCKS_VERSION => Err(Socks5Error::ServerVersion(*v)),
        [_] => Ok(Parsed::Incomplete),
        [_, m, ..] => Ok(Parsed::Complete {
            value: Method(*m),
            consumed: 2,
        }),
    }
}

/// Parses the auth status `01 STATUS`; `true` when STATUS is 0 (success).
///
/// # Errors
///
/// [`Socks5Error::ServerVersion`] when the first byte is not 1.
pub fn parse_auth_reply(input: &[u8]) -> Result<Parsed<bool>, Socks5Error> {
    match input {
        [] => Ok(Parsed::Incomplete),
        [v, ..] if *v != AUTH_VERSION => Err(Socks5Error::ServerVersion(*v)),
        [_] => Ok(Parsed::Incomplete),
        [_, s, ..] => Ok(Parsed::Complete {
            value: *s == 0,
            consumed: 2,
        }),
    }
}

/// Parses a reply `05 REP RSV ATYP BND.ADDR BND.PORT`.
///
/// # Errors
///
/// [`Socks5Error::ServerVersion`] when the first byte is not 5, or an address error.
pub fn parse_reply(input: &[u8]) -> Result<Parsed<ServerReply>, Socks5Error> {
    match input.first() {
        None => return Ok(Parsed::Incomplete),
        Some(&v) if v != SOCKS_VERSION => return Err(Socks5Error::ServerVersion(v)),
        Some(_) => {}
    }
    let Some(&code) = input.get(1) else {
        return Ok(Parsed::Incomplete);
    };
    let Some((bound, n)) = read_addr(input.get(3..).unwrap_or_default())? else {
        return Ok(Parsed::Incomplete);
    };
    Ok(Parsed::Complete {
        value: ServerReply {
            code: ReplyCode(code),
            bound,
        },
        consumed: 3 + n,
    })
}
