//! The validated agent identifier.

use std::fmt;
use std::str::FromStr;

/// Longest agent id, in bytes.
pub const MAX_AGENT_ID_LEN: usize = 64;

/// An agent id is empty, longer than [`MAX_AGENT_ID_LEN`] bytes, or holds a byte outside the
/// allowed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid agent id: 1-64 bytes of printable ASCII other than space and `:`")]
pub struct AgentIdError;

/// The name an agent connects as and clients address it by.
///
/// 1 to 64 bytes ([`MAX_AGENT_ID_LEN`]) of printable ASCII `0x21..=0x7E` except `:`. So an id
/// is usable as is in a memcached key (no spaces, no control characters, short), as the
/// username of `Proxy-Authorization: Basic` (no `:`), and in logs. Ids compare byte for byte
/// (case-sensitive).
///
/// ```
/// use ferry_tunnel::AgentId;
///
/// let id: AgentId = "site-7.berlin".parse()?;
/// assert_eq!(id.as_str(), "site-7.berlin");
/// assert!(AgentId::new("has space").is_err());
/// assert!(AgentId::new("user:pass").is_err());
/// assert!(AgentId::new(&"x".repeat(65)).is_err());
/// # Ok::<(), ferry_tunnel::AgentIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(Box<str>);

impl AgentId {
    /// Validates an id.
    ///
    /// # Errors
    ///
    /// [`AgentIdError`] when the id is empty, too long or has a byte outside `0x21..=0x7E`, or
    /// a `:`.
    pub fn new(id: &str) -> Result<Self, AgentIdError> {
        if valid(id.as_bytes()) {
            Ok(Self(id.into()))
        } else {
            Err(AgentIdError)
        }
    }

    /// Validates raw bytes (as read from the wire).
    ///
    /// # Errors
    ///
    /// As for [`AgentId::new`].
    pub fn from_bytes(id: &[u8]) -> Result<Self, AgentIdError> {
        if valid(id) {
            // Valid bytes are ASCII, hence UTF-8.
            std::str::from_utf8(id)
                .map(|s| Self(s.into()))
                .map_err(|_not_utf8| AgentIdError)
        } else {
            Err(AgentIdError)
        }
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_AGENT_ID_LEN
        && id.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b':')
}

impl FromStr for AgentId {
    type Err = AgentIdError;

    fn from_str(s: &str) -> Result<Self, AgentIdError> {
        Self::new(s)
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentId({:?})", &*self.0)
    }
}

impl AsRef<str> for AgentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
