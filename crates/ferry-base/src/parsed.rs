//! The result of feeding bytes to a parser: "need more bytes" is not an error.

/// The outcome of a parser that was given the bytes received so far.
///
/// A parser never buffers: it reads the slice it is given and says either that the slice is a
/// strict prefix of a valid message ([`Parsed::Incomplete`]) or how many bytes the message took
/// ([`Parsed::Complete`]). Bytes after `consumed` belong to whatever follows (tunnel data, the
/// next message) and must be kept by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Parsed<T> {
    /// The input is a strict prefix of a valid message: read more bytes and call again with
    /// the whole input so far.
    Incomplete,
    /// A complete message.
    Complete {
        /// The decoded message.
        value: T,
        /// How many bytes of the input the message took; the rest is not part of it.
        consumed: usize,
    },
}

impl<T> Parsed<T> {
    /// Whether the message is complete.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete { .. })
    }

    /// The message and its length, if complete.
    pub fn complete(self) -> Option<(T, usize)> {
        match self {
            Self::Incomplete => None,
            Self::Complete { value, consumed } => Some((value, consumed)),
        }
    }

    /// Applies `f` to the message, keeping `consumed`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Self::Incomplete => Parsed::Incomplete,
            Self::Complete { value, consumed } => Parsed::Complete {
                value: f(value),
                consumed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let p = Parsed::Complete {
            value: 2,
            consumed: 3,
        };
        assert!(p.is_complete());
        assert_eq!(p.clone().map(|v| v * 10).complete(), Some((20, 3)));
        assert_eq!(p.complete(), Some((2, 3)));
        let none: Parsed<u8> = Parsed::Incomplete;
        assert!(!none.is_complete());
        assert_eq!(none.map(|v| v + 1), Parsed::Incomplete);
    }
}
