//! Human-readable durations for config files: `"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"1d"`, combined as
//! `"1m30s"`. The words `"off"`/`"none"` mean no limit where a setting allows it.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// Parses a duration such as `"1h"`, `"1m30s"` or `"250ms"`.
///
/// # Errors
///
/// Returns a message naming what is wrong: empty, a missing or unknown unit, a missing number, or
/// a value too large to represent.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number in duration {text:?}"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_overflow| format!("number too large in duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(value)),
            "s" => Some(Duration::from_secs(value)),
            "m" => value.checked_mul(60).map(Duration::from_secs),
            "h" => value.checked_mul(3600).map(Duration::from_secs),
            "d" => value.checked_mul(86_400).map(Duration::from_secs),
            "" => {
                return Err(format!(
                    "missing unit (ms, s, m, h, d) in duration {text:?}"
                ));
            }
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        }
        .ok_or_else(|| format!("duration {text:?} is too large"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it (largest exact units).
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if rest > 0 {
        out.push_str(&format!("{rest}ms"));
    }
    out
}

/// Serde helper: a required duration string.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(de::Error::custom)
}

/// Serde helper: a duration string where `"off"`/`"none"` mean no limit.
pub fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Duration>>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "off" | "none" => Ok(Some(None)),
        other => parse_duration(other)
            .map(|v| Some(Some(v)))
            .map_err(de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 1s500ms "), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "1h 2m",
            "-1s",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn format_roundtrips() {
        for ms in [1u64, 999, 1000, 61_000, 3_600_000, 90_061_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }
}
