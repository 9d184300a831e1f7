//! SNI routing: choose a listener's pool from the server name a TLS client asked for.
//!
//! Pure: no I/O, no clock. Patterns are exact DNS names (`api.example.com`) or suffix wildcards
//! (`*.example.com`, any name that ends in `.example.com`, at any depth, but not
//! `example.com` itself). Matching ignores ASCII case and a trailing dot. An exact name wins over
//! every wildcard, and among wildcards the longest suffix wins; then the default, if any.

use std::collections::HashMap;

/// Longest DNS name accepted in a pattern (RFC 1035: 253 characters in text form).
const MAX_NAME_LEN: usize = 253;

/// A server-name pattern of a route.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NamePattern {
    /// Exactly this name (lowercase, no trailing dot).
    Exact(String),
    /// `*.suffix`: every name ending in `.suffix` (stored without `*.`, lowercase).
    Suffix(String),
}

impl NamePattern {
    /// Parses `api.example.com` or `*.example.com`.
    ///
    /// # Errors
    ///
    /// A reason when the text is not a DNS name (letters, digits, `-` and `_` in labels of 1 to
    /// 63 characters separated by dots, 253 characters at most), optionally after a leading
    /// `*.`, or is an IP address (SNI never carries one).
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = normalise(text);
        let (wildcard, base) = match lower.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, lower.as_str()),
        };
        if base.parse::<std::net::IpAddr>().is_ok() {
            return Err(format!(
                "{text:?} is an IP address; clients send host names only in SNI"
            ));
        }
        if !is_dns_name(base) {
            return Err(format!(
                "{text:?} is not a DNS name or `*.` followed by one"
            ));
        }
        Ok(if wildcard {
            Self::Suffix(base.to_owned())
        } else {
            Self::Exact(base.to_owned())
        })
    }

    /// Whether `server_name` matches (ignoring ASCII case and a trailing dot).
    #[must_use]
    pub fn matches(&self, server_name: &str) -> bool {
        let name = normalise(server_name);
        match self {
            Self::Exact(exact) => name == *exact,
            Self::Suffix(suffix) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Suffix(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

fn normalise(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A compiled route table: patterns to targets (pool handles or names), plus a default.
#[derive(Clone, Debug)]
pub(crate) struct Router<T> {
    exact: HashMap<String, T>,
    suffix: HashMap<String, T>,
    /// Dot counts of the configured suffixes, longest first, so a lookup tries at most this
    /// many candidate suffixes of the name.
    suffix_depths: Vec<usize>,
    default: Option<T>,
}

impl<T> Router<T> {
    /// A table with only a default.
    pub(crate) fn new(default: Option<T>) -> Self {
        Self {
            exact: HashMap::new(),
            suffix: HashMap::new(),
            suffix_depths: Vec::new(),
            default,
        }
    }

    /// Adds a route; returns the pattern back if it was already present.
    pub(crate) fn add(&mut self, pattern: NamePattern, target: T) -> Result<(), NamePattern> {
        let (map, key) = match &pattern {
            NamePattern::Exact(name) => (&mut self.exact, name),
            NamePattern::Suffix(suffix) => (&mut self.suffix, suffix),
        };
        if map.contains_key(key) {
            return Err(pattern);
        }
        map.insert(key.clone(), target);
        if let NamePattern::Suffix(suffix) = &pattern {
            let depth = suffix.matches('.').count();
            if !self.suffix_depths.contains(&depth) {
                self.suffix_depths.push(depth);
                self.suffix_depths.sort_unstable_by(|a, b| b.cmp(a));
            }
        }
        Ok(())
    }

    /// The target for `server_name` (`None`: the client sent no SNI).
    pub(crate) fn select(&self, server_name: Option<&str>) -> Option<&T> {
        server_name
            .and_then(|raw| self.by_name(&normalise(raw)))
            .or(self.default.as_ref())
    }

    fn by_name(&self, name: &str) -> Option<&T> {
        if let Some(target) = self.exact.get(name) {
            return Some(target);
        }
        // The suffix with `d` dots is what follows the (d+1)-th dot from the right.
        let dots: Vec<usize> = name.match_indices('.').map(|(i, _)| i).collect();
        self.suffix_depths.iter().find_map(|&depth| {
            let at = *dots
                .len()
                .checked_sub(depth + 1)
                .and_then(|i| dots.get(i))?;
            let suffix = name.get(at + 1..)?;
            // The part before the suffix must be a non-empty label sequence.
            (at > 0).then(|| self.suffix.get(suffix)).flatten()
        })
    }
}

/// The naive reference: scan every pattern, exact first, then the longest matching suffix.
#[cfg(test)]
fn reference<'a>(
    routes: &'a [(NamePattern, u32)],
    default: Option<&'a u32>,
    name: Option<&str>,
) -> Option<&'a u32> {
    let Some(name) = name.map(normalise) else {
        return default;
    };
    if let Some((_, t)) = routes
        .iter()
        .find(|(p, _)| matches!(p, NamePattern::Exact(_)) && p.matches(&name))
    {
        return Some(t);
    }
    routes
        .iter()
        .filter(|(p, _)| matches!(p, NamePattern::Suffix(_)) && p.matches(&name))
        .max_by_key(|(p, _)| p.to_string().len())
        .map(|(_, t)| t)
        .or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn router(routes: &[(&str, u32)], default: Option<u32>) -> Router<u32> {
        let mut r = Router::new(default);
        for (p, t) in routes {
            r.add(NamePattern::parse(p).unwrap(), *t).unwrap();
        }
        r
    }

    #[test]
    fn exact_beats_suffix_and_longest_suffix_wins() {
        let r = router(
            &[
                ("api.example.com", 1),
                ("*.example.com", 2),
                ("*.eu.example.com", 3),
            ],
            Some(9),
        );
        assert_eq!(r.select(Some("api.example.com")), Some(&1));
        assert_eq!(r.select(Some("API.Example.COM.")), Some(&1));
        assert_eq!(r.select(Some("www.example.com")), Some(&2));
        assert_eq!(r.select(Some("a.b.example.com")), Some(&2));
        assert_eq!(r.select(Some("x.eu.example.com")), Some(&3));
        assert_eq!(r.select(Some("eu.example.com")), Some(&2));
        assert_eq!(r.select(Some("example.com")), Some(&9));
        assert_eq!(r.select(Some("other.org")), Some(&9));
        assert_eq!(r.select(None), Some(&9));
        let no_default = router(&[("*.example.com", 2)], None);
        assert_eq!(no_default.select(Some("example.com")), None);
        assert_eq!(no_default.select(Some("badexample.com")), None);
        assert_eq!(no_default.select(None), None);
    }

    #[test]
    fn patterns_parse_and_reject() {
        assert_eq!(
            NamePattern::parse("*.Example.com."),
            Ok(NamePattern::Suffix("example.com".into()))
        );
        assert_eq!(
            NamePattern::parse("a-b_c.example"),
            Ok(NamePattern::Exact("a-b_c.example".into()))
        );
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            ".a",
            "a.*.b",
            "**.a",
            "a b",
            "127.0.0.1",
            "::1",
            "-a.b",
            &"a".repeat(64),
            &format!("{}.com", "a.".repeat(130)),
        ] {
            assert!(NamePattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn duplicates_are_reported() {
        let mut r = Router::new(None);
        r.add(NamePattern::parse("a.b").unwrap(), 1).unwrap();
        assert!(r.add(NamePattern::parse("A.B.").unwrap(), 2).is_err());
        r.add(NamePattern::parse("*.a.b").unwrap(), 3).unwrap();
        assert!(r.add(NamePattern::parse("*.A.b").unwrap(), 4).is_err());
    }

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "example", "com", "x-y", "c"]).prop_map(str::to_owned)
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..5).prop_map(|l| l.join("."))
    }

    proptest! {
        #[test]
        fn matches_the_naive_reference(
            patterns in prop::collection::vec((any::<bool>(), name()), 0..8),
            queries in prop::collection::vec(prop::option::of(name()), 1..16),
            default in prop::option::of(any::<u32>()),
        ) {
            let mut r = Router::new(default);
            let mut kept = Vec::new();
            for (i, (wild, base)) in patterns.iter().enumerate() {
                let text = if *wild { format!("*.{base}") } else { base.clone() };
                let p = NamePattern::parse(&text).unwrap();
                let t = u32::try_from(i).unwrap();
                if r.add(p.clone(), t).is_ok() {
                    kept.push((p, t));
                }
            }
            for q in &queries {
                let want = reference(&kept, default.as_ref(), q.as_deref());
                prop_assert_eq!(r.select(q.as_deref()), want, "query {:?}", q);
            }
        }

        #[test]
        fn parse_never_panics(text in ".{0,300}") {
            let _ = NamePattern::parse(&text);
        }
    }
}
