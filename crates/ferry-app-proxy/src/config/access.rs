//! Validated access rules of a listener (`[listener.access]`): source CIDR lists and
//! time-of-day windows in UTC.

use std::net::IpAddr;

use ipnet::IpNet;

use super::limits::LimitAction;

const SECS_PER_DAY: u32 = 86_400;

/// A time-of-day window in UTC, `start` inclusive, `end` exclusive, in seconds since
/// midnight. A window whose end is before its start wraps past midnight (`22:00-02:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    start: u32,
    end: u32,
}

impl TimeWindow {
    /// Parses `HH:MM-HH:MM` (24-hour clock, UTC; `24:00` is allowed as an end).
    ///
    /// # Errors
    ///
    /// A reason when the text is not two times, a time is out of range, or both are equal.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not HH:MM-HH:MM"))?;
        let start = parse_hhmm(a.trim(), false)?;
        let end = parse_hhmm(b.trim(), true)?;
        if start == end {
            return Err(format!(
                "{text:?} is empty (start equals end; leave `windows` out for all day)"
            ));
        }
        Ok(Self { start, end })
    }

    /// Whether `secs_of_day` (seconds since UTC midnight) is inside the window.
    #[must_use]
    pub fn contains(&self, secs_of_day: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&secs_of_day)
        } else {
            secs_of_day >= self.start || secs_of_day < self.end
        }
    }

    /// Seconds from `secs_of_day` until the window next opens (0 inside it).
    #[must_use]
    pub fn secs_until_open(&self, secs_of_day: u32) -> u32 {
        if self.contains(secs_of_day) {
            return 0;
        }
        (self.start + SECS_PER_DAY - secs_of_day % SECS_PER_DAY) % SECS_PER_DAY
    }
}

impl std::fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |s: u32| (s / 3600, s % 3600 / 60);
        let (sh, sm) = hm(self.start);
        let (eh, em) = hm(self.end);
        write!(f, "{sh:02}:{sm:02}-{eh:02}:{em:02}")
    }
}

fn parse_hhmm(text: &str, is_end: bool) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a time HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_not_number| bad())?;
    let m: u32 = m.parse().map_err(|_not_number| bad())?;
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !is_end)) {
        return Err(format!(
            "{text:?} is out of range (00:00 to 23:59, or 24:00 as an end)"
        ));
    }
    Ok(h * 3600 + m * 60)
}

/// Why [`AccessRules::check`] refused a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessDenied {
    /// The address is in `deny`, or `allow` is not empty and does not contain it.
    Cidr,
    /// The time is outside every window; the next one opens in `retry_after_secs`.
    Window {
        /// Seconds until the next window opens.
        retry_after_secs: u64,
    },
}

/// Source address and time-of-day rules of a listener. Everything allowed by default.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AccessRules {
    /// Only these networks may connect; empty (the default) allows every address not denied.
    pub allow: Vec<IpNet>,
    /// These networks may never connect; deny wins over allow. Default: empty.
    pub deny: Vec<IpNet>,
    /// New connections are accepted only inside one of these UTC windows; empty (the
    /// default) means all day. Live connections are not cut when a window closes (use
    /// `max_lifetime`).
    pub windows: Vec<TimeWindow>,
    /// What happens to a refused connection. Default [`LimitAction::Close`].
    pub action: LimitAction,
}

impl AccessRules {
    /// Whether the rules allow everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty() && self.windows.is_empty()
    }

    /// Checks a client address (IPv4-mapped IPv6 addresses count as IPv4) at `unix_secs`
    /// (seconds since the Unix epoch, UTC).
    ///
    /// # Errors
    ///
    /// [`AccessDenied`] saying which rule refused.
    pub fn check(&self, client: IpAddr, unix_secs: u64) -> Result<(), AccessDenied> {
        use ferry_app_core::net::contains;
        if contains(&self.deny, client)
            || (!self.allow.is_empty() && !contains(&self.allow, client))
        {
            return Err(AccessDenied::Cidr);
        }
        if self.windows.is_empty() {
            return Ok(());
        }
        let secs = u32::try_from(unix_secs % u64::from(SECS_PER_DAY)).unwrap_or(0);
        match self.windows.iter().map(|w| w.secs_until_open(secs)).min() {
            Some(0) | None => Ok(()),
            Some(wait) => Err(AccessDenied::Window {
                retry_after_secs: u64::from(wait),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(t: &str) -> TimeWindow {
        TimeWindow::parse(t).unwrap()
    }

    #[test]
    fn windows_parse_and_wrap() {
        let day = w("08:00-18:00");
        assert!(day.contains(8 * 3600));
        assert!(!day.contains(18 * 3600));
        assert_eq!(day.secs_until_open(7 * 3600 + 59 * 60), 60);
        assert_eq!(day.secs_until_open(18 * 3600), 14 * 3600);
        let night = w("22:00-02:00");
        assert!(night.contains(23 * 3600));
        assert!(night.contains(3600));
        assert!(!night.contains(2 * 3600));
        assert_eq!(night.to_string(), "22:00-02:00");
        assert!(w("00:00-24:00").contains(86_399));
        for bad in [
            "",
            "8-18",
            "08:00",
            "08:00-08:00",
            "25:00-01:00",
            "24:00-01:00",
            "08:60-09:00",
            "a:bc-01:00",
        ] {
            assert!(TimeWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deny_wins_and_empty_allow_is_all() {
        let rules = AccessRules {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny: vec!["10.1.0.0/16".parse().unwrap()],
            ..AccessRules::default()
        };
        assert_eq!(rules.check("10.2.3.4".parse().unwrap(), 0), Ok(()));
        assert_eq!(
            rules.check("10.1.3.4".parse().unwrap(), 0),
            Err(AccessDenied::Cidr)
        );
        assert_eq!(
            rules.check("11.0.0.1".parse().unwrap(), 0),
            Err(AccessDenied::Cidr)
        );
        assert_eq!(
            rules.check("::ffff:10.2.3.4".parse().unwrap(), 0),
            Ok(()),
            "mapped v4 counts as v4"
        );
        assert_eq!(
            AccessRules::default().check("::1".parse().unwrap(), 0),
            Ok(())
        );
    }

    #[test]
    fn outside_every_window_reports_the_nearest_opening() {
        let rules = AccessRules {
            windows: vec![w("08:00-18:00"), w("22:00-02:00")],
            ..AccessRules::default()
        };
        let day = 86_400 * 20_000;
        let ip = "127.0.0.1".parse().unwrap();
        assert_eq!(rules.check(ip, day + 9 * 3600), Ok(()));
        assert_eq!(rules.check(ip, day + 23 * 3600), Ok(()));
        assert_eq!(
            rules.check(ip, day + 19 * 3600),
            Err(AccessDenied::Window {
                retry_after_secs: 3 * 3600
            })
        );
        assert_eq!(
            rules.check(ip, day + 3 * 3600),
            Err(AccessDenied::Window {
                retry_after_secs: 5 * 3600
            })
        );
    }
}
