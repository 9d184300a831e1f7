//! The decision for a name and the addresses it resolved to.

use std::fmt;
use std::net::IpAddr;

use crate::decision::{Decision, DenyReason};

/// One resolved address and its decision.
#[derive(Debug, Clone)]
pub struct CheckedAddr<'a> {
    addr: IpAddr,
    decision: Decision<'a>,
}

impl<'a> CheckedAddr<'a> {
    pub(crate) fn new(addr: IpAddr, decision: Decision<'a>) -> Self {
        Self { addr, decision }
    }

    /// The address, exactly as passed in.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Its decision: allowed by the name's rules, allowed by an address rule inside its special
    /// range, or denied as a special address.
    pub fn decision(&self) -> &Decision<'a> {
        &self.decision
    }
}

/// The result of [`crate::Allowlist::check_resolved`]: the decision for the name and one per
/// resolved address.
///
/// Connect only to addresses from [`ResolvedDecision::allowed_addrs`].
#[derive(Debug, Clone)]
pub struct ResolvedDecision<'a> {
    target: Decision<'a>,
    addrs: Vec<CheckedAddr<'a>>,
    literal: bool,
}

impl<'a> ResolvedDecision<'a> {
    pub(crate) fn new(target: Decision<'a>, addrs: Vec<CheckedAddr<'a>>) -> Self {
        Self {
            target,
            addrs,
            literal: false,
        }
    }

    pub(crate) fn literal(ip: IpAddr, decision: Decision<'a>) -> Self {
        Self {
            addrs: vec![CheckedAddr::new(ip, decision.clone())],
            target: decision,
            literal: true,
        }
    }

    /// Whether the name is allowed and at least one address passed.
    pub fn is_allowed(&self) -> bool {
        self.target.is_allowed() && self.addrs.iter().any(|a| a.decision.is_allowed())
    }

    /// Whether the name is allowed and every address (at least one) passed.
    pub fn all_allowed(&self) -> bool {
        self.target.is_allowed()
            && !self.addrs.is_empty()
            && self.addrs.iter().all(|a| a.decision.is_allowed())
    }

    /// Why the destination is denied: the name's reason, [`DenyReason::NoAddresses`] when
    /// nothing was resolved, or the first address's reason when every address was denied.
    /// `None` when [`ResolvedDecision::is_allowed`].
    pub fn deny_reason(&self) -> Option<DenyReason> {
        if let Some(reason) = self.target.deny_reason() {
            return Some(*reason);
        }
        if self.is_allowed() {
            return None;
        }
        match self.addrs.first() {
            None => Some(DenyReason::NoAddresses),
            Some(a) => a.decision.deny_reason().copied(),
        }
    }

    /// The decision for the name itself (or for the IP literal).
    pub fn target_decision(&self) -> &Decision<'a> {
        &self.target
    }

    /// Every address with its decision, in the order given; empty when the name was denied
    /// (addresses are not checked then). For an IP literal, that address alone.
    pub fn addresses(&self) -> &[CheckedAddr<'a>] {
        &self.addrs
    }

    /// The addresses that passed, in the order given: connect to one of these and nothing
    /// else. Empty when the destination is denied.
    pub fn allowed_addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let name_ok = self.target.is_allowed();
        self.addrs
            .iter()
            .filter(move |a| name_ok && a.decision.is_allowed())
            .map(|a| a.addr)
    }
}

impl<'a> ResolvedDecision<'a> {
    /// The explanation without the leading `allow: ` or `deny: `.
    pub fn explanation(&self) -> ResolvedExplanation<'_, 'a> {
        ResolvedExplanation(self)
    }
}

impl fmt::Display for ResolvedDecision<'_> {
    /// One line, for example ``allow: rule #0 `*.zone:443`; 192.0.2.7 denied (192.0.2.7 is
    /// documentation (192.0.2.0/24), ...), 93.184.216.34 allowed``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_allowed() { "allow" } else { "deny" };
        write!(f, "{verdict}: {}", self.explanation())
    }
}

/// The one-line explanation of a [`ResolvedDecision`], from [`ResolvedDecision::explanation`].
#[derive(Debug, Clone, Copy)]
pub struct ResolvedExplanation<'d, 'a>(&'d ResolvedDecision<'a>);

impl fmt::Display for ResolvedExplanation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{}", r.target.explanation())?;
        if r.literal || !r.target.is_allowed() {
            return Ok(());
        }
        if r.addrs.is_empty() {
            return f.write_str("; the name resolved to no addresses");
        }
        for (i, a) in r.addrs.iter().enumerate() {
            f.write_str(if i == 0 { "; " } else { ", " })?;
            let same_rules = a
                .decision
                .rules()
                .map(|r| r.index())
                .eq(r.target.rules().map(|r| r.index()));
            if a.decision.is_allowed() && same_rules {
                write!(f, "{} allowed", a.addr)?;
            } else if a.decision.is_allowed() {
                write!(f, "{} allowed by {}", a.addr, a.decision.explanation())?;
            } else {
                write!(f, "{} denied ({})", a.addr, a.decision.explanation())?;
            }
        }
        Ok(())
    }
}
