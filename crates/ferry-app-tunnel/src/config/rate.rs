//! Rate strings: `N/s`, `N/min`, `N/h`, optionally followed by ` burst B`; or `off`.

use std::num::NonZeroU32;

use ferry_limit::Quota;

/// Parses a rate: `N/s`, `N/min` or `N/h` (N from 1), optionally ` burst B` (default: N), or
/// `off` (no limit: `None`). `"50/s burst 100"` is a burst of 100 refilled at 50 per second.
///
/// # Errors
///
/// A reason when the text is not of that form or the rate cannot be represented.
pub fn parse_rate(text: &str) -> Result<Option<Quota>, String> {
    let text = text.trim();
    if text == "off" {
        return Ok(None);
    }
    let bad =
        || format!("{text:?} is not a rate (N/s, N/min or N/h, optionally `burst B`, or off)");
    let mut words = text.split_whitespace();
    let rate = words.next().ok_or_else(bad)?;
    let burst = match (words.next(), words.next(), words.next()) {
        (None, _, _) => None,
        (Some("burst"), Some(b), None) => {
            Some(b.parse::<NonZeroU32>().map_err(|_not_number| bad())?)
        }
        _ => return Err(bad()),
    };
    let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
    let n: NonZeroU32 = n.parse().map_err(|_not_number| bad())?;
    let quota = match unit {
        "s" => Quota::per_second(n),
        "min" | "m" => Quota::per_minute(n),
        "h" => Quota::per_hour(n),
        _ => return Err(bad()),
    }
    .map_err(|e| e.to_string())?;
    match burst {
        Some(b) => quota.with_burst(b).map(Some).map_err(|e| e.to_string()),
        None => Ok(Some(quota)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates() {
        let q = parse_rate("50/s").unwrap().unwrap();
        assert_eq!(
            (q.burst().get(), q.emission_interval()),
            (50, Duration::from_millis(20))
        );
        let q = parse_rate("10/min burst 3").unwrap().unwrap();
        assert_eq!(
            (q.burst().get(), q.emission_interval()),
            (3, Duration::from_secs(6))
        );
        assert_eq!(parse_rate("off").unwrap(), None);
        for bad in [
            "",
            "0/s",
            "5",
            "5/day",
            "5/s burst",
            "5/s burst 0",
            "5/s x 3",
            "-1/s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
