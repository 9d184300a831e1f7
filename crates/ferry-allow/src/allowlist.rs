//! The compiled allowlist and its checks.

use std::fmt;
use std::net::IpAddr;

use crate::compiled::Compiled;
use crate::decision::{Decision, DenyReason, Outcome, RuleRef, TargetKind};
use crate::error::{ParseError, ParseErrorKind};
use crate::name::MAX_NAME_LEN;
use crate::portset::RuleIds;
use crate::resolved::{CheckedAddr, ResolvedDecision};
use crate::rule::{Rule, TargetHost, parse_entry};
use crate::special::{SpecialAddr, canonical, special_address};

/// Most entries one allowlist may hold (16,777,216).
pub const MAX_ENTRIES: usize = 1 << 24;

/// Whether the built-in special-address set applies in [`Allowlist::check_ip`] and
/// [`Allowlist::check_resolved`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialAddresses {
    /// Deny special addresses (see [`crate::SpecialClass`]) unless an address rule inside their
    /// special range allows them. The default.
    #[default]
    Deny,
    /// Do not treat special addresses differently: only the rules decide.
    Allow,
}

/// A compiled allowlist: parse it once, then check targets without scanning the rules.
///
/// See the [crate docs](crate) for the grammar and the semantics.
#[derive(Clone, Default)]
pub struct Allowlist {
    entries: Vec<(Box<str>, Rule)>,
    compiled: Compiled,
    special: SpecialAddresses,
}

impl fmt::Debug for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allowlist")
            .field("entries", &self.entries.len())
            .field("special", &self.special)
            .finish_non_exhaustive()
    }
}

impl Allowlist {
    /// Parses a comma-separated list; whitespace around entries is ignored. An empty or
    /// all-whitespace string is the empty list, which denies everything.
    ///
    /// # Errors
    ///
    /// [`ParseError`] naming the first invalid entry; an empty entry (`a,,b` or a trailing
    /// comma) is invalid.
    pub fn parse(list: &str) -> Result<Self, ParseError> {
        if list.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::from_entries(list.split(','))
    }

    /// Parses one entry per item (each trimmed; an item must not contain a comma).
    ///
    /// # Errors
    ///
    /// [`ParseError`] naming the first invalid entry, including an empty item, or more than
    /// [`MAX_ENTRIES`] entries.
    pub fn from_entries<I, S>(entries: I) -> Result<Self, ParseError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut parsed = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let text = entry.as_ref().trim();
            let rule = if index >= MAX_ENTRIES {
                Err(ParseErrorKind::TooManyEntries)
            } else {
                parse_entry(text)
            };
            let rule = rule.map_err(|kind| ParseError::new(Some(index), text, kind))?;
            parsed.push((text.into(), rule));
        }
        Ok(Self::compile(parsed))
    }

    /// Builds a list from rules; each entry's text is the rule's canonical form.
    ///
    /// # Errors
    ///
    /// [`ParseErrorKind::TooManyEntries`] for more than [`MAX_ENTRIES`] rules.
    pub fn from_rules<I: IntoIterator<Item = Rule>>(rules: I) -> Result<Self, ParseError> {
        let mut parsed = Vec::new();
        for (index, rule) in rules.into_iter().enumerate() {
            let text = rule.to_string();
            if index >= MAX_ENTRIES {
                return Err(ParseError::new(
                    Some(index),
                    &text,
                    ParseErrorKind::TooManyEntries,
                ));
            }
            parsed.push((text.into(), rule));
        }
        Ok(Self::compile(parsed))
    }

    fn compile(entries: Vec<(Box<str>, Rule)>) -> Self {
        let compiled = Compiled::build(entries.iter().map(|(_, r)| r));
        Self {
            entries,
            compiled,
            special: SpecialAddresses::default(),
        }
    }

    /// Sets whether special addresses are denied by [`Allowlist::check_ip`] and
    /// [`Allowlist::check_resolved`]. Default: [`SpecialAddresses::Deny`].
    #[must_use]
    pub fn with_special_addresses(mut self, special: SpecialAddresses) -> Self {
        self.special = special;
        self
    }

    /// The special-address policy (default [`SpecialAddresses::Deny`]).
    pub fn special_addresses(&self) -> SpecialAddresses {
        self.special
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entries (and so denies everything).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order.
    pub fn rules(&self) -> impl ExactSizeIterator<Item = RuleRef<'_>> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, (entry, rule))| RuleRef { index, entry, rule })
    }

    pub(crate) fn rule_ref(&self, index: usize) -> Option<RuleRef<'_>> {
        let (entry, rule) = self.entries.get(index)?;
        Some(RuleRef { index, entry, rule })
    }

    /// Matches `(host, port)` against the rules only (no special-address set, no resolution).
    ///
    /// `host` is a name (case-insensitive, one trailing dot ignored) or an IP literal (IPv6
    /// with or without brackets). A name is matched against name and zone rules only; an IP
    /// literal against address rules only. An invalid name is denied.
    pub fn matches(&self, host: &str, port: u16) -> Decision<'_> {
        let mut buf = [0u8; MAX_NAME_LEN];
        match TargetHost::parse(host, &mut buf) {
            TargetHost::Ip(ip) => self.matches_ip(ip, port),
            TargetHost::Name(len) => self.match_name(buf.get(..len).unwrap_or_default(), port),
            TargetHost::Invalid(e) => Decision::deny(self, port, DenyReason::InvalidHost(e)),
        }
    }

    /// Matches `(ip, port)` against the address rules only (no special-address set).
    /// IPv4-mapped IPv6 addresses are matched as the IPv4 address they carry.
    pub fn matches_ip(&self, ip: IpAddr, port: u16) -> Decision<'_> {
        let walk = self.walk_ip(canonical(ip), port, None);
        self.finish(port, walk.allowed, walk.hosts, TargetKind::Address)
    }

    /// Checks an IP target: the address rules, then the special-address set (unless disabled
    /// with [`SpecialAddresses::Allow`]). A special address is allowed only by a rule whose
    /// network lies inside the address's special range ([`SpecialAddr::range`]): `127.0.0.0/8`
    /// allows `127.0.0.1`, `0.0.0.0/0` does not; only `169.254.169.254` itself allows the
    /// metadata address.
    pub fn check_ip(&self, ip: IpAddr, port: u16) -> Decision<'_> {
        let ip = canonical(ip);
        let special = self.special_of(ip);
        let walk = self.walk_ip(ip, port, special.as_ref());
        match special {
            None => self.finish(port, walk.allowed, walk.hosts, TargetKind::Address),
            Some(s) => {
                if !walk.explicit.is_empty() || !walk.allowed.is_empty() {
                    self.special_outcome(port, s, walk)
                } else {
                    self.finish(port, walk.allowed, walk.hosts, TargetKind::Address)
                }
            }
        }
    }

    /// Checks a destination given as `host` after the caller resolved it to `resolved`.
    ///
    /// This crate does no I/O: resolve the name yourself (once), pass every address, then
    /// connect only to an address from [`ResolvedDecision::allowed_addrs`] — never resolve the
    /// name again, or a DNS rebinding could swap in an address that was not checked. Call
    /// [`Allowlist::matches`] first to skip resolving names that are denied anyway.
    ///
    /// When `host` is an IP literal, `resolved` is ignored and the result is that of
    /// [`Allowlist::check_ip`], with the literal (IPv4-mapped given as IPv4) as the only address. Otherwise the name must match a name or zone rule that allows
    /// `port`; then each resolved address is allowed unless it is special (and the policy is
    /// [`SpecialAddresses::Deny`]), in which case an address rule inside its special range
    /// must allow it for `port`.
    pub fn check_resolved(
        &self,
        host: &str,
        port: u16,
        resolved: &[IpAddr],
    ) -> ResolvedDecision<'_> {
        let mut buf = [0u8; MAX_NAME_LEN];
        let len = match TargetHost::parse(host, &mut buf) {
            TargetHost::Ip(ip) => return ResolvedDecision::literal(ip, self.check_ip(ip, port)),
            TargetHost::Invalid(e) => {
                let d = Decision::deny(self, port, DenyReason::InvalidHost(e));
                return ResolvedDecision::new(d, Vec::new());
            }
            TargetHost::Name(len) => len,
        };
        let name = self.match_name(buf.get(..len).unwrap_or_default(), port);
        if !name.is_allowed() {
            return ResolvedDecision::new(name, Vec::new());
        }
        let addrs = resolved
            .iter()
            .map(|&addr| {
                let ip = canonical(addr);
                let decision = match self.special_of(ip) {
                    None => Decision::new(self, port, Outcome::Allow(ids_of(name.rule_ids()))),
                    Some(s) => {
                        let walk = self.walk_ip(ip, port, Some(&s));
                        self.special_outcome(port, s, walk)
                    }
                };
                CheckedAddr::new(addr, decision)
            })
            .collect();
        ResolvedDecision::new(name, addrs)
    }

    fn special_of(&self, ip: IpAddr) -> Option<SpecialAddr> {
        match self.special {
            SpecialAddresses::Deny => special_address(ip),
            SpecialAddresses::Allow => None,
        }
    }

    fn special_outcome(&self, port: u16, special: SpecialAddr, mut walk: IpWalk) -> Decision<'_> {
        if walk.explicit.is_empty() {
            walk.allowed.sort();
            Decision::new(
                self,
                port,
                Outcome::Deny(DenyReason::SpecialAddress(special), walk.allowed),
            )
        } else {
            walk.explicit.sort();
            Decision::new(self, port, Outcome::Allow(walk.explicit))
        }
    }

    fn match_name(&self, name: &[u8], port: u16) -> Decision<'_> {
        let mut allowed = RuleIds::default();
        let mut hosts = RuleIds::default();
        self.compiled
            .names
            .visit(name, |set| match set.lookup(port) {
                Some(ids) => allowed.extend(ids),
                None => hosts.extend(set.all()),
            });
        self.finish(port, allowed, hosts, TargetKind::Name)
    }

    /// Collects the rules matching a canonical `ip`: those allowing `port`, those inside the
    /// special range of `special` allowing `port`, and those whose network matched but whose
    /// ports do not include `port`.
    fn walk_ip(&self, ip: IpAddr, port: u16, special: Option<&SpecialAddr>) -> IpWalk {
        let mut walk = IpWalk::default();
        // Without a special range no rule is "explicit": every allowing rule is just allowed.
        let min_explicit = special.map_or(u8::MAX, |s| s.range().prefix_len());
        let mut found = |len: u8, set: &crate::portset::PortSet| match set.lookup(port) {
            Some(ids) if len >= min_explicit => walk.explicit.extend(ids),
            Some(ids) => walk.allowed.extend(ids),
            None => walk.hosts.extend(set.all()),
        };
        match ip {
            IpAddr::V4(v4) => self.compiled.v4.visit(u32::from(v4), &mut found),
            IpAddr::V6(v6) => self.compiled.v6.visit(u128::from(v6), &mut found),
        }
        walk
    }

    fn finish(
        &self,
        port: u16,
        mut allowed: RuleIds,
        mut hosts: RuleIds,
        target: TargetKind,
    ) -> Decision<'_> {
        let outcome = if !allowed.is_empty() {
            allowed.sort();
            Outcome::Allow(allowed)
        } else if !hosts.is_empty() {
            hosts.sort();
            Outcome::Deny(DenyReason::PortNotAllowed, hosts)
        } else if self.entries.is_empty() {
            Outcome::Deny(DenyReason::EmptyAllowlist, hosts)
        } else {
            Outcome::Deny(DenyReason::NoMatchingRule { target }, hosts)
        };
        Decision::new(self, port, outcome)
    }
}

#[derive(Default)]
struct IpWalk {
    allowed: RuleIds,
    explicit: RuleIds,
    hosts: RuleIds,
}

fn ids_of(ids: &[u32]) -> RuleIds {
    let mut out = RuleIds::default();
    out.extend(ids);
    out
}
