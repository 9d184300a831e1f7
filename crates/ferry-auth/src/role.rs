//! Roles, agent ids and the identity a verified credential yields.

use std::fmt;
use std::str::FromStr;

/// Longest agent id accepted, in bytes.
pub const MAX_AGENT_ID_LEN: usize = 128;

/// Who presents a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// An agent connecting to the gateway as the agent id it names.
    Agent,
    /// A client asking the gateway for a tunnel through the agent it names.
    Client,
}

impl Role {
    /// `agent` or `client`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not `agent` or `client`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("role must be agent or client")]
pub struct RoleError;

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Self::Agent),
            "client" => Ok(Self::Client),
            _ => Err(RoleError),
        }
    }
}

/// Whether `id` is a valid agent id: 1 to [`MAX_AGENT_ID_LEN`] bytes of ASCII letters, digits,
/// `.`, `_` and `-`. (`*` is not an agent id; it is only a scope in token files.)
#[must_use]
pub fn is_valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_AGENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How a credential was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// A static token from the token file.
    StaticToken,
    /// A signed JWT.
    Jwt,
}

/// A verified presenter: the role and agent id it may act as.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The role verified.
    pub role: Role,
    /// The agent id verified (the one the presenter named).
    pub agent_id: String,
    /// How it was verified.
    pub method: Method,
    /// The JWT `sub` claim, when a JWT carried one (for logs).
    pub subject: Option<String>,
    /// The JWT `exp` claim (unix seconds), when verified by JWT.
    pub expires_at: Option<u64>,
}
