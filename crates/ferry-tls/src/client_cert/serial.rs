//! Certificate serial numbers: parsed from text, compared by value, listed as revoked.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Longest serial number accepted, in bytes: 20, the most RFC 5280 lets a CA use.
pub const MAX_SERIAL_LEN: usize = 20;

/// A certificate serial number, compared by value: leading zero bytes (DER adds one when the
/// high bit is set) do not count, so `00:8f:01` and `8F01` are the same serial.
///
/// Parsed from hexadecimal text ([`Serial::from_str`]): upper or lower case, with or without
/// `:` between bytes (as `openssl x509 -serial` and `openssl x509 -text` print them) and an
/// optional `0x` prefix. Displayed as lowercase hex bytes separated by `:`.
///
/// ```
/// use ferry_tls::Serial;
///
/// let a: Serial = "00:8F:01".parse()?;
/// let b: Serial = "0x8f01".parse()?;
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "8f:01");
/// # Ok::<(), ferry_tls::SerialError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Box<[u8]>);

/// A serial number given as text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// Nothing but separators (or nothing at all).
    #[error("empty serial number")]
    Empty,
    /// A character other than a hex digit or `:`.
    #[error("serial number {text:?} holds {bad:?}, which is not a hexadecimal digit or `:`")]
    NotHex {
        /// The text as given.
        text: String,
        /// The first offending character.
        bad: char,
    },
    /// The `:`-separated groups are not whole bytes (two digits each), or digits are odd in
    /// number.
    #[error("serial number {0:?} is not a whole number of bytes (two hex digits each)")]
    OddDigits(String),
    /// More than [`MAX_SERIAL_LEN`] bytes once leading zeros are dropped.
    #[error("serial number {0:?} is longer than 20 bytes")]
    TooLong(String),
}

impl Serial {
    /// The serial of these DER `INTEGER` content bytes (big-endian, as in a certificate).
    ///
    /// # Errors
    ///
    /// [`SerialError::TooLong`] above [`MAX_SERIAL_LEN`] bytes (without leading zeros), or
    /// [`SerialError::Empty`] for no bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SerialError> {
        if bytes.is_empty() {
            return Err(SerialError::Empty);
        }
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let value = &bytes[start..];
        // Zero is one zero byte; a value is never empty.
        let value: &[u8] = if value.is_empty() { &[0] } else { value };
        if value.len() > MAX_SERIAL_LEN {
            return Err(SerialError::TooLong(hex(bytes)));
        }
        Ok(Self(value.into()))
    }

    /// The value's bytes, big-endian, without leading zeros (zero is one zero byte).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl FromStr for Serial {
    type Err = SerialError;

    fn from_str(text: &str) -> Result<Self, SerialError> {
        let trimmed = text.trim();
        let body = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if let Some(bad) = body.chars().find(|c| !c.is_ascii_hexdigit() && *c != ':') {
            return Err(SerialError::NotHex {
                text: text.to_owned(),
                bad,
            });
        }
        let digits: String = if body.contains(':') {
            // Every group a whole byte: `0a:1b`, not `a:1b`.
            if body.split(':').any(|g| g.len() != 2) {
                return Err(SerialError::OddDigits(text.to_owned()));
            }
            body.split(':').collect()
        } else {
            body.to_owned()
        };
        if digits.is_empty() {
            return Err(SerialError::Empty);
        }
        // An odd count is a leading zero left out (`openssl x509 -serial` never does that,
        // but a hand-typed `f01` means 0x0f01).
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes: Vec<u8> = padded
            .as_bytes()
            .chunks(2)
            .map(|pair| {
                let text = std::str::from_utf8(pair).unwrap_or("00");
                u8::from_str_radix(text, 16).unwrap_or(0)
            })
            .collect();
        Self::from_bytes(&bytes).map_err(|e| match e {
            SerialError::TooLong(_) => SerialError::TooLong(text.to_owned()),
            other => other,
        })
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

/// Serial numbers of revoked certificates, refused whatever CA issued them. Default empty.
///
/// A serial list is simpler than a CRL to keep by hand (`agent_revoked_serials` in the
/// gateway's config) and takes effect without the CA's key; a CRL
/// ([`ClientCertPolicy::crl`](crate::ClientCertPolicy::crl)) is what a CA publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevokedSerials(HashSet<Serial>);

impl RevokedSerials {
    /// No serial revoked.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every entry of `texts` ([`Serial::from_str`]).
    ///
    /// # Errors
    ///
    /// The first entry that does not parse: its index and [`SerialError`].
    pub fn parse<S: AsRef<str>>(
        texts: impl IntoIterator<Item = S>,
    ) -> Result<Self, (usize, SerialError)> {
        let mut set = HashSet::new();
        for (i, text) in texts.into_iter().enumerate() {
            set.insert(text.as_ref().parse::<Serial>().map_err(|e| (i, e))?);
        }
        Ok(Self(set))
    }

    /// Adds `serial`.
    pub fn insert(&mut self, serial: Serial) {
        self.0.insert(serial);
    }

    /// Whether `serial` is listed.
    #[must_use]
    pub fn contains(&self, serial: &Serial) -> bool {
        self.0.contains(serial)
    }

    /// The number of serials listed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Serial> for RevokedSerials {
    fn from_iter<I: IntoIterator<Item = Serial>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn forms_openssl_prints_are_the_same_serial() {
        let plain: Serial = "1A2B3C".parse().unwrap();
        for text in [
            "1a:2b:3c",
            "00:1A:2B:3C",
            "0x1a2b3c",
            " 001a2b3c ",
            "1A2B3C",
        ] {
            assert_eq!(text.parse::<Serial>().unwrap(), plain, "{text}");
        }
        assert_eq!(plain.to_string(), "1a:2b:3c");
        assert_eq!("f01".parse::<Serial>().unwrap().as_bytes(), &[0x0f, 0x01]);
        assert_eq!("00".parse::<Serial>().unwrap().as_bytes(), &[0]);
    }

    #[test]
    fn bad_text_is_refused_with_the_reason() {
        assert_eq!("".parse::<Serial>(), Err(SerialError::Empty));
        assert_eq!("0x".parse::<Serial>(), Err(SerialError::Empty));
        assert!(matches!(
            "12:zz".parse::<Serial>(),
            Err(SerialError::NotHex { bad: 'z', .. })
        ));
        assert!(matches!(
            "1:23".parse::<Serial>(),
            Err(SerialError::OddDigits(_))
        ));
        assert!(matches!(
            "12::34".parse::<Serial>(),
            Err(SerialError::OddDigits(_))
        ));
        assert!(matches!(
            "01".repeat(21).parse::<Serial>(),
            Err(SerialError::TooLong(_))
        ));
        // 21 bytes of which the first is a leading zero: 20 bytes of value.
        assert!(format!("00{}", "01".repeat(20)).parse::<Serial>().is_ok());
    }

    #[test]
    fn a_list_names_the_bad_entry() {
        let err = RevokedSerials::parse(["0a", "nope", "0b"]).unwrap_err();
        assert_eq!(err.0, 1);
        let list = RevokedSerials::parse(["0a", "00:0b"]).unwrap();
        assert!(list.contains(&"0b".parse().unwrap()));
        assert!(!list.contains(&"0c".parse().unwrap()));
        assert_eq!(list.len(), 2);
    }

    proptest! {
        /// Every way of writing a value parses to the value: colons or not, case, leading
        /// zero bytes.
        #[test]
        fn written_forms_agree(bytes in proptest::collection::vec(any::<u8>(), 1..=20), zeros in 0usize..3, upper: bool, colons: bool) {
            let mut padded = vec![0u8; zeros];
            padded.extend(&bytes);
            let digits: Vec<String> = padded.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect();
            let text = if colons { digits.join(":") } else { digits.concat() };
            let parsed: Serial = text.parse().unwrap();
            prop_assert_eq!(&parsed, &Serial::from_bytes(&bytes).unwrap());
            prop_assert_eq!(parsed.to_string().parse::<Serial>().unwrap(), parsed);
        }

        /// Any text either parses or is refused; never a panic.
        #[test]
        fn any_text_is_handled(text in "\\PC{0,64}") {
            let _ = text.parse::<Serial>();
        }
    }
}
