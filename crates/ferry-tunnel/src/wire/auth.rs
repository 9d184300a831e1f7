//! The agent's authentication message and the gateway's reply.

use std::fmt;

use super::{Parsed, Reader, VERSION, WireError, decode_reply};
use crate::agent_id::{AgentId, MAX_AGENT_ID_LEN};

/// The version of an auth message that carries a [`GroupMember`].
pub const AUTH_VERSION_GROUP: u8 = 2;

/// Most connections one agent may hold in a group: member indexes are `0..MAX_GROUP_MEMBERS`.
pub const MAX_GROUP_MEMBERS: u8 = 16;

/// Longest credential (static token or JWT), in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 8192;

/// Longest auth message: version, id length, id, credential length, credential, and in
/// version 2 the group id and the member index.
pub const MAX_AUTH_LEN: usize =
    1 + 1 + MAX_AGENT_ID_LEN + 2 + MAX_CREDENTIAL_LEN + GROUP_ID_LEN + 1;

/// Length of a [`GroupId`] on the wire.
pub const GROUP_ID_LEN: usize = 16;

/// A credential as carried on the wire: 0 to 8192 bytes of visible ASCII (`0x21..=0x7E`),
/// which covers static tokens and JWTs. Empty means "no credential" (a gateway configured
/// without authentication). `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(Box<str>);

impl Credential {
    /// Validates a credential.
    ///
    /// # Errors
    ///
    /// [`WireError::CredentialTooLong`] above [`MAX_CREDENTIAL_LEN`] bytes,
    /// [`WireError::CredentialByte`] for a byte outside visible ASCII.
    pub fn new(credential: &str) -> Result<Self, WireError> {
        check_credential(credential.as_bytes())?;
        Ok(Self(credential.into()))
    }

    /// The credential.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential(<{} bytes>)", self.0.len())
    }
}

fn check_credential(c: &[u8]) -> Result<(), WireError> {
    if c.len() > MAX_CREDENTIAL_LEN {
        return Err(WireError::CredentialTooLong);
    }
    if c.iter().all(|b| (0x21..=0x7e).contains(b)) {
        Ok(())
    } else {
        Err(WireError::CredentialByte)
    }
}

/// The random id an agent draws when it starts, shared by every connection of its connection
/// group: the gateway tells a reconnecting member of the same agent process (same group)
/// from another process with the same agent id (another group, which replaces the group).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub [u8; GROUP_ID_LEN]);

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// Which connection of an agent's connection group this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupMember {
    /// The group (one per agent process run).
    pub group: GroupId,
    /// The member's index, `0..MAX_GROUP_MEMBERS`. Index 0 is the group's first connection:
    /// only it may start a group (or replace another group of the same agent id).
    pub index: u8,
}

/// The first message on an agent connection: who the agent is and its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The id the agent connects as.
    pub agent_id: AgentId,
    /// Its static token or JWT.
    pub credential: Credential,
    /// The connection group member this connection is (version 2), or `None` for an agent
    /// with one connection (version 1).
    pub member: Option<GroupMember>,
}

/// Appends the encoded auth message to `out` (at most [`MAX_AUTH_LEN`] bytes).
pub fn encode_auth(request: &AuthRequest, out: &mut Vec<u8>) {
    let id = request.agent_id.as_str().as_bytes();
    let cred = request.credential.as_str().as_bytes();
    out.push(if request.member.is_some() {
        AUTH_VERSION_GROUP
    } else {
        VERSION
    });
    // Both lengths are bounded by the validated types (64 and 8192).
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    out.extend_from_slice(&u16::try_from(cred.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(cred);
    if let Some(member) = request.member {
        out.extend_from_slice(&member.group.0);
        out.push(member.index);
    }
}

/// Decodes an auth message from the bytes received so far.
///
/// A length field is checked as soon as it arrives, so an oversized message is refused
/// before its body is buffered.
///
/// # Errors
///
/// [`WireError::UnsupportedVersion`] (a version other than 1 and 2), [`WireError::AgentId`]
/// (length 0 or above 64, or a byte not allowed), [`WireError::CredentialTooLong`],
/// [`WireError::CredentialByte`], [`WireError::GroupMember`] (a member index of
/// [`MAX_GROUP_MEMBERS`] or more).
pub fn decode_auth(buf: &[u8]) -> Result<Parsed<AuthRequest>, WireError> {
    let mut r = Reader::new(buf);
    let grouped = match r.u8() {
        None => return Ok(Parsed::Incomplete),
        Some(VERSION) => false,
        Some(AUTH_VERSION_GROUP) => true,
        Some(v) => return Err(WireError::UnsupportedVersion(v)),
    };
    let Some(id_len) = r.u8() else {
        return Ok(Parsed::Incomplete);
    };
    let id_len = usize::from(id_len);
    if id_len == 0 || id_len > MAX_AGENT_ID_LEN {
        return Err(WireError::AgentId);
    }
    let Some(id) = r.take(id_len) else {
        return Ok(Parsed::Incomplete);
    };
    let agent_id = AgentId::from_bytes(id).map_err(|_invalid| WireError::AgentId)?;
    let Some(cred_len) = r.u16() else {
        return Ok(Parsed::Incomplete);
    };
    let cred_len = usize::from(cred_len);
    if cred_len > MAX_CREDENTIAL_LEN {
        return Err(WireError::CredentialTooLong);
    }
    let Some(cred) = r.take(cred_len) else {
        return Ok(Parsed::Incomplete);
    };
    check_credential(cred)?;
    let cred = std::str::from_utf8(cred).map_err(|_not_ascii| WireError::CredentialByte)?;
    let member = if grouped {
        let Some(group) = r.array::<GROUP_ID_LEN>() else {
            return Ok(Parsed::Incomplete);
        };
        let Some(index) = r.u8() else {
            return Ok(Parsed::Incomplete);
        };
        if index >= MAX_GROUP_MEMBERS {
            return Err(WireError::GroupMember(index));
        }
        Some(GroupMember {
            group: GroupId(group),
            index,
        })
    } else {
        None
    };
    Ok(Parsed::Complete {
        value: AuthRequest {
            agent_id,
            credential: Credential(cred.into()),
            member,
        },
        consumed: r.pos(),
    })
}

/// Why the gateway refused an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The credential is wrong, expired or not valid for this agent id (code 1).
    BadCredential,
    /// The auth message could not be decoded (code 2).
    Malformed,
    /// The auth message has a version the gateway does not speak (code 3).
    UnsupportedVersion,
    /// The gateway is draining or over capacity; try again later (code 4).
    Unavailable,
    /// A connection group member other than the first (index above 0) whose group is not
    /// connected here: the group's first connection is not (or no longer) connected to this
    /// gateway, or another group of the same agent id replaced it (code 5).
    NoGroup,
    /// A connection group member whose index is at or above the gateway's limit of
    /// connections per agent (code 6).
    GroupFull,
}

/// The gateway's answer to an auth message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthReply {
    /// Authenticated: the gateway may now open tunnel streams (code 0).
    Ok,
    /// Refused; the gateway closes the connection after this reply.
    Rejected(RejectReason),
}

impl AuthReply {
    /// Every reply, in code order.
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Rejected(RejectReason::BadCredential),
        Self::Rejected(RejectReason::Malformed),
        Self::Rejected(RejectReason::UnsupportedVersion),
        Self::Rejected(RejectReason::Unavailable),
        Self::Rejected(RejectReason::NoGroup),
        Self::Rejected(RejectReason::GroupFull),
    ];

    /// The code on the wire.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Rejected(RejectReason::BadCredential) => 1,
            Self::Rejected(RejectReason::Malformed) => 2,
            Self::Rejected(RejectReason::UnsupportedVersion) => 3,
            Self::Rejected(RejectReason::Unavailable) => 4,
            Self::Rejected(RejectReason::NoGroup) => 5,
            Self::Rejected(RejectReason::GroupFull) => 6,
        }
    }

    /// The reply for a code, if defined.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Appends the two-byte auth reply to `out`.
pub fn encode_auth_reply(reply: AuthReply, out: &mut Vec<u8>) {
    out.extend_from_slice(&[VERSION, reply.code()]);
}

/// Decodes an auth reply.
///
/// # Errors
///
/// [`WireError::UnsupportedVersion`], [`WireError::UnknownCode`].
pub fn decode_auth_reply(buf: &[u8]) -> Result<Parsed<AuthReply>, WireError> {
    decode_reply(buf, AuthReply::from_code)
}
