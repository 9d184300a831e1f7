//! Port ranges of rules.

use std::fmt;
use std::num::NonZeroU16;

/// Why the port part of an entry is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// Nothing after the `:` (or around the `-`).
    #[error("empty port")]
    Empty,
    /// Not a decimal number.
    #[error("not a decimal number")]
    NotANumber,
    /// Port 0.
    #[error("port 0 is not allowed (ports are 1-65535)")]
    Zero,
    /// Greater than 65535.
    #[error("port greater than 65535")]
    TooLarge,
    /// A range whose start is greater than its end.
    #[error("range start {min} is greater than its end {max}")]
    Reversed {
        /// Start of the range as written.
        min: u16,
        /// End of the range as written.
        max: u16,
    },
}

/// The ports a rule allows: every port, or an inclusive range within 1-65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    min: u16,
    max: u16,
}

impl PortRange {
    /// Every port, 0 to 65535: what an entry without a `:port` part means.
    pub const ANY: Self = Self {
        min: 0,
        max: u16::MAX,
    };

    /// The single port `port`.
    pub const fn single(port: NonZeroU16) -> Self {
        Self {
            min: port.get(),
            max: port.get(),
        }
    }

    /// The inclusive range `min..=max`, or `None` when `min > max`.
    pub const fn new(min: NonZeroU16, max: NonZeroU16) -> Option<Self> {
        if min.get() > max.get() {
            None
        } else {
            Some(Self {
                min: min.get(),
                max: max.get(),
            })
        }
    }

    /// Lowest allowed port (0 for [`PortRange::ANY`]).
    pub const fn min(self) -> u16 {
        self.min
    }

    /// Highest allowed port.
    pub const fn max(self) -> u16 {
        self.max
    }

    /// Whether this is [`PortRange::ANY`].
    pub const fn is_any(self) -> bool {
        self.min == 0
    }

    /// Whether `port` is in the range.
    pub const fn contains(self, port: u16) -> bool {
        self.min <= port && port <= self.max
    }

    /// Parses `80` or `1000-2000`.
    pub(crate) fn parse(text: &str) -> Result<Self, PortError> {
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (parse_port(min)?, parse_port(max)?),
            None => {
                let port = parse_port(text)?;
                (port, port)
            }
        };
        Self::new(min, max).ok_or(PortError::Reversed {
            min: min.get(),
            max: max.get(),
        })
    }
}

fn parse_port(text: &str) -> Result<NonZeroU16, PortError> {
    if text.is_empty() {
        return Err(PortError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortError::NotANumber);
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(PortError::TooLarge);
    }
    let value: u32 = digits.parse().unwrap_or(0);
    let value = u16::try_from(value).ok().ok_or(PortError::TooLarge)?;
    NonZeroU16::new(value).ok_or(PortError::Zero)
}

impl fmt::Display for PortRange {
    /// `any`, `80` or `1000-2000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("any")
        } else if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ports_and_ranges() {
        assert_eq!(PortRange::parse("80").unwrap().to_string(), "80");
        assert_eq!(PortRange::parse("080").unwrap().to_string(), "80");
        assert_eq!(PortRange::parse("80-80").unwrap().to_string(), "80");
        assert_eq!(PortRange::parse("1-65535").unwrap().to_string(), "1-65535");
        let r = PortRange::parse("1000-2000").unwrap();
        assert!(r.contains(1000) && r.contains(2000) && !r.contains(999) && !r.contains(2001));
    }

    #[test]
    fn rejects_invalid_ports() {
        let cases = [
            ("", PortError::Empty),
            ("-80", PortError::Empty),
            ("80-", PortError::Empty),
            ("0", PortError::Zero),
            ("0-80", PortError::Zero),
            ("65536", PortError::TooLarge),
            ("99999999999999999999", PortError::TooLarge),
            ("+80", PortError::NotANumber),
            ("8 0", PortError::NotANumber),
            ("http", PortError::NotANumber),
            ("1-2-3", PortError::NotANumber),
            (
                "2000-1000",
                PortError::Reversed {
                    min: 2000,
                    max: 1000,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(PortRange::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn any_contains_every_port() {
        assert!(PortRange::ANY.contains(0) && PortRange::ANY.contains(65535));
        assert_eq!(PortRange::ANY.to_string(), "any");
    }
}
