//! The SOCKS5 server state machine.

use super::wire::{AUTH_VERSION, encode_reply, read_addr, read_hint};
use super::{
    Command, Credentials, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD, Method, ReplyCode, Request,
    SOCKS_VERSION, Socks5Error,
};
use crate::Address;

/// Which authentication the server requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// Method 0x00 (no authentication); a client that does not offer it gets `05 FF`.
    NoAuth,
    /// Method 0x02 (username/password); a client that does not offer it gets `05 FF`.
    UsernamePassword,
}

/// Where the exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerState {
    /// Waiting for the greeting (method list).
    Greeting,
    /// Waiting for the username/password message.
    Auth,
    /// [`ServerEvent::Authenticate`] was returned; waiting for
    /// [`Socks5Server::accept_credentials`].
    AuthDecision,
    /// Waiting for the request.
    Request,
    /// [`ServerEvent::Request`] was returned; waiting for [`Socks5Server::reply`].
    ReplyPending,
    /// A success reply was written: the rest of the stream is tunnel data (CONNECT), or the
    /// control connection of a UDP association.
    Established,
    /// A failure was replied or an error returned: close the connection.
    Closed,
}

/// What the caller must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// Check the credentials, then call [`Socks5Server::accept_credentials`].
    Authenticate(Credentials),
    /// Check the target and connect (or bind a UDP relay), then call [`Socks5Server::reply`].
    Request(Request),
}

/// The result of [`Socks5Server::receive`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Progress {
    /// Bytes of the input used; keep the rest for the next call (or, once established, as
    /// tunnel data).
    pub consumed: usize,
    /// A decision to make, or `None` when more bytes are needed (or nothing is expected).
    pub event: Option<ServerEvent>,
}

/// A sans-IO SOCKS5 server for one client connection.
///
/// Call [`receive`](Socks5Server::receive) with the bytes received so far (not yet consumed);
/// send whatever it appended to `out`; act on the event. On an error, append
/// [`Socks5Error::write_reply`] to `out`, send it and close.
#[derive(Clone, Debug)]
pub struct Socks5Server {
    auth: AuthMode,
    state: ServerState,
}

impl Socks5Server {
    /// A server requiring `auth`.
    pub fn new(auth: AuthMode) -> Self {
        Self {
            auth,
            state: ServerState::Greeting,
        }
    }

    /// Where the exchange is.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Whether a success reply was written.
    pub fn is_established(&self) -> bool {
        self.state == ServerState::Established
    }

    /// Reads as many messages from `input` as possible, appending replies to `out`, and stops
    /// at the first event, at the end of the input, or once the state needs a decision. In
    /// [`ServerState::Established`] and [`ServerState::Closed`] it consumes nothing.
    ///
    /// # Errors
    ///
    /// [`Socks5Error`] as soon as the input cannot be a valid message; the state becomes
    /// [`ServerState::Closed`].
    pub fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, Socks5Error> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            let step = match self.state {
                ServerState::Greeting => self.greeting(rest, out),
                ServerState::Auth => read_auth(rest).map(|r| {
                    r.map(|(creds, n)| {
                        self.state = ServerState::AuthDecision;
                        (Some(ServerEvent::Authenticate(creds)), n)
                    })
                }),
                ServerState::Request => read_request(rest).map(|r| {
                    r.map(|(req, n)| {
                        self.state = ServerState::ReplyPending;
                        (Some(ServerEvent::Request(req)), n)
                    })
                }),
                _ => Ok(None),
            };
            match step {
                Err(e) => {
                    self.state = ServerState::Closed;
                    return Err(e);
                }
                Ok(None) => {
                    return Ok(Progress {
                        consumed,
                        event: None,
                    });
                }
                Ok(Some((event, n))) => {
                    consumed += n;
                    if event.is_some() {
                        return Ok(Progress { consumed, event });
                    }
                }
            }
        }
    }

    /// Answers the credentials of [`ServerEvent::Authenticate`]: appends `01 00` and moves
    /// on to the request, or appends `01 01` and closes.
    ///
    /// # Errors
    ///
    /// [`Socks5Error::State`] outside [`ServerState::AuthDecision`].
    pub fn accept_credentials(&mut self, ok: bool, out: &mut Vec<u8>) -> Result<(), Socks5Error> {
        if self.state != ServerState::AuthDecision {
            return Err(Socks5Error::State);
        }
        out.extend_from_slice(&[AUTH_VERSION, if ok { 0x00 } else { 0x01 }]);
        self.state = if ok {
            ServerState::Request
        } else {
            ServerState::Closed
        };
        Ok(())
    }

    /// Answers the [`ServerEvent::Request`]: appends the reply with `code` and the bound
    /// address (the local address of the upstream connection, or the UDP relay address; use
    /// `0.0.0.0:0` on failure). [`ReplyCode::SUCCEEDED`] establishes, anything else closes.
    ///
    /// # Errors
    ///
    /// [`Socks5Error::State`] outside [`ServerState::ReplyPending`];
    /// [`Socks5Error::Domain`] when `bound` is an invalid domain name (nothing is written and
    /// the state is unchanged).
    pub fn reply(
        &mut self,
        code: ReplyCode,
        bound: &Address,
        out: &mut Vec<u8>,
    ) -> Result<(), Socks5Error> {
        if self.state != ServerState::ReplyPending {
            return Err(Socks5Error::State);
        }
        encode_reply(code, bound, out)?;
        self.state = if code == ReplyCode::SUCCEEDED {
            ServerState::Established
        } else {
            ServerState::Closed
        };
        Ok(())
    }

    fn greeting(
        &mut self,
        buf: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<(Option<ServerEvent>, usize)>, Socks5Error> {
        match buf.first() {
            None => return Ok(None),
            Some(&v) if v != SOCKS_VERSION => return Err(Socks5Error::Version(v)),
            Some(_) => {}
        }
        let n = match buf.get(1) {
            None => return Ok(None),
            Some(0) => return Err(Socks5Error::NoMethods),
            Some(&n) => usize::from(n),
        };
        let Some(methods) = buf.get(2..2 + n) else {
            return Ok(None);
        };
        let (want, next) = match self.auth {
            AuthMode::NoAuth => (METHOD_NO_AUTH, ServerState::Request),
            AuthMode::UsernamePassword => (METHOD_USERNAME_PASSWORD, ServerState::Auth),
        };
        if !methods.iter().any(|&m| Method(m) == want) {
            return Err(Socks5Error::NoAcceptableMethod);
        }
        out.extend_from_slice(&[SOCKS_VERSION, want.0]);
        self.state = next;
        Ok(Some((None, 2 + n)))
    }
}

/// `VER ULEN UNAME PLEN PASSWD` (RFC 1929 section 2).
fn read_auth(buf: &[u8]) -> Result<Option<(Credentials, usize)>, Socks5Error> {
    match buf.first() {
        None => return Ok(None),
        Some(&v) if v != AUTH_VERSION => return Err(Socks5Error::AuthVersion(v)),
        Some(_) => {}
    }
    let ulen = match buf.get(1) {
        None => return Ok(None),
        Some(0) => return Err(Socks5Error::AuthCredentials),
        Some(&n) => usize::from(n),
    };
    let plen = match buf.get(2 + ulen) {
        None => return Ok(None),
        Some(0) => return Err(Socks5Error::AuthCredentials),
        Some(&n) => usize::from(n),
    };
    let (Some(user), Some(pass)) = (buf.get(2..2 + ulen), buf.get(3 + ulen..3 + ulen + plen))
    else {
        return Ok(None);
    };
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .ok()
            .ok_or(Socks5Error::AuthCredentials)
    };
    let creds = Credentials {
        username: text(user)?,
        password: text(pass)?,
    };
    Ok(Some((creds, 3 + ulen + plen)))
}

/// `VER CMD RSV ATYP DST.ADDR DST.PORT` (RFC 1928 section 4). RSV is ignored.
fn read_request(buf: &[u8]) -> Result<Option<(Request, usize)>, Socks5Error> {
    match buf.first() {
        None => return Ok(None),
        Some(&v) if v != SOCKS_VERSION => return Err(Socks5Error::RequestVersion(v)),
        Some(_) => {}
    }
    let command = match buf.get(1) {
        None => return Ok(None),
        Some(0x01) => Command::Connect,
        Some(0x03) => Command::UdpAssociate,
        Some(&c) => return Err(Socks5Error::Command(c)),
    };
    // CONNECT names its destination, checked strictly; UDP ASSOCIATE only hints where the
    // client will send from, and any well-formed hint is accepted.
    let rest = buf.get(3..).unwrap_or_default();
    let addr = match command {
        Command::UdpAssociate => read_hint(rest)?,
        _ => read_addr(rest)?,
    };
    let Some((target, n)) = addr else {
        return Ok(None);
    };
    Ok(Some((Request { command, target }, 3 + n)))
}
