//! Decisions and their explanations.

use std::fmt;

use crate::Allowlist;
use crate::name::NameError;
use crate::portset::RuleIds;
use crate::rule::Rule;
use crate::special::SpecialAddr;

/// Whether a target was a host name or an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A host name: matched against name and zone rules only.
    Name,
    /// An IP address: matched against address rules only.
    Address,
}

/// Why a target was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The allowlist has no entries: it denies everything.
    EmptyAllowlist,
    /// No rule matches the host (names are matched against name rules, addresses against
    /// address rules).
    NoMatchingRule {
        /// What the target was.
        target: TargetKind,
    },
    /// Rules match the host, but none of them allows the port; [`Decision::rules`] lists them.
    PortNotAllowed,
    /// The address is in the built-in special set and no address rule inside its special range
    /// allows it; [`Decision::rules`] lists broader rules that matched but do not count.
    SpecialAddress(SpecialAddr),
    /// The target is not an IP address and not a valid host name.
    InvalidHost(NameError),
    /// Resolution returned no addresses (see [`crate::ResolvedDecision`]).
    NoAddresses,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Allow(RuleIds),
    Deny(DenyReason, RuleIds),
}

/// The answer for one target: allow or deny, with the rules involved and the reason.
///
/// `Display` writes one line, for example ``allow: rule #1 `*.zone:443` `` or
/// ``deny: port 22 is not allowed by rule #0 `localhost:80` ``.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    list: &'a Allowlist,
    port: u16,
    outcome: Outcome,
}

impl<'a> Decision<'a> {
    pub(crate) fn new(list: &'a Allowlist, port: u16, outcome: Outcome) -> Self {
        Self {
            list,
            port,
            outcome,
        }
    }

    pub(crate) fn deny(list: &'a Allowlist, port: u16, reason: DenyReason) -> Self {
        Self::new(list, port, Outcome::Deny(reason, RuleIds::default()))
    }

    /// Whether the target is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allow(_))
    }

    /// Why the target is denied; `None` when it is allowed.
    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match &self.outcome {
            Outcome::Allow(_) => None,
            Outcome::Deny(reason, _) => Some(reason),
        }
    }

    /// The port that was checked.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The rules involved, in entry order: when allowed, every rule that allows the target (all
    /// matching entries count, not only the first); when denied with
    /// [`DenyReason::PortNotAllowed`], the rules whose host matched; with
    /// [`DenyReason::SpecialAddress`], the address rules that matched but are broader than the
    /// special range; otherwise none.
    pub fn rules(&self) -> impl Iterator<Item = RuleRef<'a>> + '_ {
        let ids = match &self.outcome {
            Outcome::Allow(ids) | Outcome::Deny(_, ids) => ids.as_slice(),
        };
        let list = self.list;
        ids.iter().filter_map(move |&id| list.rule_ref(id as usize))
    }

    pub(crate) fn rule_ids(&self) -> &[u32] {
        match &self.outcome {
            Outcome::Allow(ids) | Outcome::Deny(_, ids) => ids.as_slice(),
        }
    }

    /// The explanation without the leading `allow: ` or `deny: `.
    pub fn explanation(&self) -> Explanation<'_, 'a> {
        Explanation(self)
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_allowed() { "allow" } else { "deny" };
        write!(f, "{verdict}: {}", self.explanation())
    }
}

/// The one-line explanation of a [`Decision`], from [`Decision::explanation`].
#[derive(Debug, Clone, Copy)]
pub struct Explanation<'d, 'a>(&'d Decision<'a>);

/// At most this many rules are written out in an explanation.
const MAX_LISTED: usize = 8;

impl fmt::Display for Explanation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        match &d.outcome {
            Outcome::Allow(_) => write_rules(f, d),
            Outcome::Deny(reason, _) => match reason {
                DenyReason::EmptyAllowlist => {
                    f.write_str("the allowlist is empty (it denies everything)")
                }
                DenyReason::NoMatchingRule {
                    target: TargetKind::Name,
                } => f.write_str("no name rule matches the host"),
                DenyReason::NoMatchingRule {
                    target: TargetKind::Address,
                } => f.write_str("no address rule matches the address"),
                DenyReason::PortNotAllowed => {
                    write!(f, "port {} is not allowed by ", d.port)?;
                    write_rules(f, d)
                }
                DenyReason::SpecialAddress(special) => {
                    write!(
                        f,
                        "{special}, special addresses need an address rule inside that range"
                    )?;
                    if !d.rule_ids().is_empty() {
                        f.write_str("; only broader ")?;
                        write_rules(f, d)?;
                        f.write_str(" matched")?;
                    }
                    Ok(())
                }
                DenyReason::InvalidHost(e) => write!(f, "invalid host name: {e}"),
                DenyReason::NoAddresses => f.write_str("the name resolved to no addresses"),
            },
        }
    }
}

fn write_rules(f: &mut fmt::Formatter<'_>, d: &Decision<'_>) -> fmt::Result {
    let n = d.rule_ids().len();
    f.write_str(if n == 1 { "rule " } else { "rules " })?;
    for (i, rule) in d.rules().take(MAX_LISTED).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{rule}")?;
    }
    if n > MAX_LISTED {
        write!(f, " and {} more", n - MAX_LISTED)?;
    }
    Ok(())
}

/// A rule of an [`Allowlist`] with its position and the entry text it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef<'a> {
    pub(crate) index: usize,
    pub(crate) entry: &'a str,
    pub(crate) rule: &'a Rule,
}

impl<'a> RuleRef<'a> {
    /// 0-based position of the entry in the list.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The entry as written (trimmed).
    pub fn entry(&self) -> &'a str {
        self.entry
    }

    /// The parsed rule.
    pub fn rule(&self) -> &'a Rule {
        self.rule
    }
}

impl fmt::Display for RuleRef<'_> {
    /// ``#3 `*.zone:443` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} `{}`", self.index, self.entry)
    }
}
