//! Parse errors: which entry is invalid and why.

use std::fmt;

use crate::name::NameError;
use crate::ports::PortError;

/// Longest entry text kept in a [`ParseError`], in bytes; longer entries are cut at a character
/// boundary and shown with `...`.
const MAX_ENTRY_IN_ERROR: usize = 120;

/// An allowlist entry could not be parsed. Names the entry (its 0-based index in the list and
/// its text) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    index: Option<usize>,
    entry: Box<str>,
    truncated: bool,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(index: Option<usize>, entry: &str, kind: ParseErrorKind) -> Self {
        let mut end = entry.len().min(MAX_ENTRY_IN_ERROR);
        while !entry.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            index,
            entry: entry[..end].into(),
            truncated: end < entry.len(),
            kind,
        }
    }

    /// 0-based position of the entry in the list; `None` when a single entry was parsed with
    /// `str::parse::<Rule>()`.
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// The entry as written, trimmed (the first 120 bytes of a longer entry).
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// Why the entry is invalid.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    /// For example ``invalid allowlist entry #2 `a:0`: invalid port: port 0 is not allowed``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid allowlist entry ")?;
        if let Some(index) = self.index {
            write!(f, "#{index} ")?;
        }
        let dots = if self.truncated { "..." } else { "" };
        write!(f, "`{}{dots}`: {}", self.entry.escape_debug(), self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Why an entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// An empty entry: an empty item, or nothing between two commas.
    #[error("empty entry")]
    Empty,
    /// `[` without a closing `]`.
    #[error("missing `]`")]
    UnclosedBracket,
    /// Brackets that do not hold an IPv6 address (IPv4 addresses and zone ids are not allowed).
    #[error("brackets must hold an IPv6 address without a zone id")]
    InvalidBracketedAddress,
    /// Text after an address or `[address]` that is neither `/prefix` nor `:port`.
    #[error("expected `/prefix` or `:port` after the address")]
    UnexpectedAfterAddress,
    /// The part before `/` is not an IP address.
    #[error("the part before `/` is not an IP address")]
    InvalidNetworkAddress,
    /// The prefix length is not a number from 0 to 32 (IPv4) or 128 (IPv6).
    #[error("prefix length must be a number from 0 to {max}")]
    InvalidPrefixLen {
        /// 32 or 128.
        max: u8,
    },
    /// Several `:` but not a valid IPv6 address (zone ids such as `%eth0` are not allowed).
    #[error("not a valid IPv6 address (write `[address]:port` to give a port)")]
    InvalidIpv6,
    /// More than one `:` in an entry that is not an IPv6 address.
    #[error("more than one `:`")]
    TooManyColons,
    /// A `*` anywhere but in a leading `*.`.
    #[error("a wildcard must be a leading `*.` followed by a zone name")]
    InvalidWildcard,
    /// The zone of a `*.zone` entry is not a valid host name.
    #[error("invalid zone name: {0}")]
    InvalidZone(NameError),
    /// The host part is not a valid host name.
    #[error("invalid host name: {0}")]
    InvalidName(NameError),
    /// The port part is invalid.
    #[error("invalid port: {0}")]
    InvalidPort(PortError),
    /// More than `u32::MAX` entries.
    #[error("too many entries")]
    TooManyEntries,
}
