//! Human-readable byte sizes for config files: `"256MiB"`, `"1GiB"`, `"64KiB"`, `"4096B"`
//! (binary units: `B`, `KiB`, `MiB`, `GiB`, `TiB`; a space between number and unit is allowed).

use serde::{Deserialize, Deserializer, de};

const UNITS: [(&str, u64); 5] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Parses a size such as `"256MiB"`, `"1 GiB"` or `"4096B"` into bytes.
///
/// # Errors
///
/// Returns a message naming what is wrong: empty, a missing number, a missing or unknown unit,
/// or a value too large to represent.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty size".into());
    }
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(format!("expected a number in size {text:?}"));
    }
    let value: u64 = s[..digits]
        .parse()
        .map_err(|_overflow| format!("number too large in size {text:?}"))?;
    let unit = s[digits..].trim_start();
    if unit.is_empty() {
        return Err(format!(
            "missing unit (B, KiB, MiB, GiB, TiB) in size {text:?}"
        ));
    }
    let (_, scale) = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(|| format!("unknown unit {unit:?} in size {text:?} (B, KiB, MiB, GiB, TiB)"))?;
    value
        .checked_mul(*scale)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Formats a size the way [`parse_size`] reads it, in the largest unit that divides it
/// exactly: `1073741824` is `"1GiB"`, `3072` is `"3KiB"`, `1536` is `"1536B"`.
#[must_use]
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".into();
    }
    for (name, scale) in UNITS {
        if bytes.is_multiple_of(scale) {
            return format!("{}{name}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Serde helper: a required size string.
///
/// # Errors
///
/// The deserializer's error with [`parse_size`]'s message.
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    parse_size(&s).map_err(de::Error::custom)
}

/// Serde helper for an optional key (`#[serde(default, deserialize_with = "de_some_size")]`).
///
/// # Errors
///
/// As [`de_size`].
pub fn de_some_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_size(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("0B"), Ok(0));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "5",
            "MiB",
            "5mb",
            "5MB",
            "1.5GiB",
            "-1KiB",
            "99999999999999999999B",
            "16777216TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn format_roundtrips_in_the_largest_exact_unit() {
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(256 << 20), "256MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(3 << 10), "3KiB");
        assert_eq!(format_size(0), "0B");
        for b in [1u64, 1023, 1024, 98_304, 1 << 40, u64::MAX] {
            assert_eq!(parse_size(&format_size(b)), Ok(b));
        }
    }
}
