//! Validated memcached keys.

use std::fmt;

use crate::error::KeyError;

/// The longest key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;

/// A key memcached accepts in the text and meta protocols: 1 to [`MAX_KEY_LEN`] bytes of
/// printable ASCII without spaces (`0x21..=0x7e`).
///
/// Keys are checked when they are made, so a request can never smuggle a second command
/// through a key containing `\r\n` or a space.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// Checks `key`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Empty`], [`KeyError::TooLong`] or [`KeyError::InvalidByte`] (with the
    /// position of the first offending byte).
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len: key.len() });
        }
        if let Some(at) = key.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(KeyError::InvalidByte { at });
        }
        Ok(Self(key))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_and_rejects_the_rest() {
        assert!(Key::new("agent:a-1_b.c").is_ok());
        assert_eq!(Key::new(""), Err(KeyError::Empty));
        assert_eq!(Key::new("a b"), Err(KeyError::InvalidByte { at: 1 }));
        assert_eq!(Key::new("ab\r\nmd x"), Err(KeyError::InvalidByte { at: 2 }));
        assert_eq!(Key::new("é"), Err(KeyError::InvalidByte { at: 0 }));
        assert!(Key::new("k".repeat(MAX_KEY_LEN)).is_ok());
        assert_eq!(
            Key::new("k".repeat(MAX_KEY_LEN + 1)),
            Err(KeyError::TooLong {
                len: MAX_KEY_LEN + 1
            })
        );
    }
}
