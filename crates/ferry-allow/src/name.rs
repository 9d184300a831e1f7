//! Host name syntax: validation and ASCII lowercasing without allocation.

use std::fmt;
use std::str::FromStr;

/// Longest host name accepted, in bytes, without the optional trailing dot.
pub(crate) const MAX_NAME_LEN: usize = 253;
/// Longest label accepted, in bytes.
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// Why a host name is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty (or only a dot).
    #[error("empty name")]
    Empty,
    /// The name is longer than 253 bytes (a trailing dot not counted).
    #[error("name longer than 253 bytes")]
    TooLong,
    /// Two dots in a row, or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label is longer than 63 bytes.
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    /// A byte other than an ASCII letter, digit, `-` or `_` (IDNs must be given in punycode).
    #[error("character other than a letter, digit, `-` or `_`")]
    InvalidChar,
    /// A label starts or ends with `-`.
    #[error("label starts or ends with `-`")]
    HyphenAtLabelEdge,
    /// The last label is all digits: the name looks like an IPv4 address but is not a valid one.
    #[error("all-digit last label (not a valid IPv4 address either)")]
    NumericLastLabel,
}

/// Byte map for host names: ASCII letters (lowercased), digits, `-`, `_` and `.` map to
/// themselves, every other byte to 0.
// Evaluated at compile time: an index out of range would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
static NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' {
            table[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

/// Validates `name` (one trailing dot allowed) and writes its lowercase form, without the trailing
/// dot, into `out`. Returns the length written.
///
/// Two passes: a branch-free map of every byte (lowercasing and spotting invalid bytes), then one
/// check per label. Invalid characters are reported before label errors.
pub(crate) fn normalize_into(
    name: &[u8],
    out: &mut [u8; MAX_NAME_LEN],
) -> Result<usize, NameError> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let mut invalid = false;
    for (slot, &b) in out.iter_mut().zip(name) {
        let mapped = NAME_BYTES.get(usize::from(b)).copied().unwrap_or(0);
        invalid |= mapped == 0;
        *slot = mapped;
    }
    if invalid {
        return Err(NameError::InvalidChar);
    }
    let text = out.get(..name.len()).unwrap_or_default();
    let mut last: &[u8] = &[];
    for label in text.split(|&b| b == b'.') {
        match (label.first(), label.last()) {
            (None, _) | (_, None) => return Err(NameError::EmptyLabel),
            _ if label.len() > MAX_LABEL_LEN => return Err(NameError::LabelTooLong),
            (Some(b'-'), _) | (_, Some(b'-')) => return Err(NameError::HyphenAtLabelEdge),
            _ => last = label,
        }
    }
    if last.iter().all(u8::is_ascii_digit) {
        return Err(NameError::NumericLastLabel);
    }
    Ok(name.len())
}

/// A validated host name in canonical form: ASCII lowercase, no trailing dot.
///
/// Syntax: labels of 1 to 63 letters, digits, `-` or `_`, not starting or ending with `-`,
/// separated by dots; at most 253 bytes; the last label is not all digits. One trailing dot is
/// accepted on input and dropped. Internationalised names must be given in punycode (`xn--`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostName(Box<str>);

impl HostName {
    /// Validates `name` and returns its canonical form.
    ///
    /// # Errors
    ///
    /// [`NameError`] when `name` does not follow the syntax above.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let mut buf = [0u8; MAX_NAME_LEN];
        let len = normalize_into(name.as_bytes(), &mut buf)?;
        // The buffer holds ASCII only.
        Ok(Self(
            buf.get(..len)
                .unwrap_or_default()
                .iter()
                .copied()
                .map(char::from)
                .collect(),
        ))
    }

    /// The canonical text: lowercase, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` (canonical form) is this name or a name under it.
    pub(crate) fn is_suffix_of(&self, name: &str) -> bool {
        name == self.as_str()
            || name
                .strip_suffix(self.as_str())
                .is_some_and(|head| head.ends_with('.'))
    }
}

impl FromStr for HostName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_lowercase_without_trailing_dot() {
        assert_eq!(
            HostName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(HostName::parse("a_b-c.d").unwrap().as_str(), "a_b-c.d");
    }

    #[test]
    fn syntax_errors_are_named() {
        let long_label = "a".repeat(64);
        let long_name = ["a".repeat(63).as_str(); 4].join(".") + ".abc";
        let cases = [
            ("", NameError::Empty),
            (".", NameError::Empty),
            ("a..b", NameError::EmptyLabel),
            (".a", NameError::EmptyLabel),
            ("a..", NameError::EmptyLabel),
            (long_label.as_str(), NameError::LabelTooLong),
            (long_name.as_str(), NameError::TooLong),
            ("a b", NameError::InvalidChar),
            ("ä.de", NameError::InvalidChar),
            ("-a.b", NameError::HyphenAtLabelEdge),
            ("a-.b", NameError::HyphenAtLabelEdge),
            ("1.2.3", NameError::NumericLastLabel),
            ("999.0.0.1", NameError::NumericLastLabel),
        ];
        for (input, want) in cases {
            assert_eq!(HostName::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn length_limits_are_inclusive() {
        let label = "a".repeat(63);
        assert!(HostName::parse(&label).is_ok());
        // 63 * 3 + 61 + 3 dots = 253
        let name = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(name.len(), 253);
        assert!(HostName::parse(&name).is_ok());
        assert!(HostName::parse(&format!("{name}.")).is_ok());
        assert_eq!(
            HostName::parse(&format!("{name}b")),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn suffix_match_needs_a_label_boundary() {
        let zone = HostName::parse("zone").unwrap();
        assert!(zone.is_suffix_of("zone"));
        assert!(zone.is_suffix_of("a.zone"));
        assert!(zone.is_suffix_of("a.b.zone"));
        assert!(!zone.is_suffix_of("notzone"));
        assert!(!zone.is_suffix_of("zone.evil"));
    }
}
