//! Pure, clock-free endpoint selection for every [`Policy`].
//!
//! A [`Selector`] keeps the per-policy state (round-robin cursor, smooth weighted round-robin
//! weights, consistent-hash ring) and picks one index out of a slice of [`Candidate`]s. It does
//! no I/O, reads no clock and never picks a candidate whose `available` flag is false. The pool
//! marks down, ejected and already-tried endpoints unavailable before calling it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;

/// Virtual nodes per unit of weight on the consistent-hash ring (before scaling down for very
/// large pools, see [`RING_MAX`]).
pub const VNODES_PER_WEIGHT: u32 = 100;

/// Soft cap on consistent-hash ring entries: above it, virtual nodes per unit of weight are
/// scaled down (never below one per unit of weight).
pub const RING_MAX: u64 = 1 << 17;

/// How a pool spreads new connections over its endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Each available endpoint in turn; weights are ignored. The default.
    #[default]
    RoundRobin,
    /// Smooth weighted round robin (nginx): over any cycle of `sum(weights)` picks with a fixed
    /// set of available endpoints, each is picked exactly `weight` times, interleaved.
    Weighted,
    /// The endpoint with the fewest active connections per unit of weight
    /// (`active / weight`); ties are broken round robin.
    LeastConnections,
    /// A ring of virtual nodes hashed from each endpoint's address; a client's IP address
    /// picks the first available endpoint clockwise. Removing an endpoint moves only the
    /// clients it served. IPv4 clients are keyed by their address; IPv6 clients by their /64
    /// prefix (one host usually owns a whole /64 and rotates privacy addresses inside it);
    /// IPv4-mapped IPv6 addresses count as IPv4. The client port is ignored.
    ConsistentHash,
}

/// Why a policy name was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown load-balancing policy {0:?} (expected round-robin, weighted, least-connections or consistent-hash)"
)]
pub struct PolicyParseError(pub String);

impl FromStr for Policy {
    type Err = PolicyParseError;

    /// Parses `round-robin`, `weighted`, `least-connections` or `consistent-hash`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "round-robin" => Ok(Self::RoundRobin),
            "weighted" => Ok(Self::Weighted),
            "least-connections" => Ok(Self::LeastConnections),
            "consistent-hash" => Ok(Self::ConsistentHash),
            other => Err(PolicyParseError(other.chars().take(64).collect())),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RoundRobin => "round-robin",
            Self::Weighted => "weighted",
            Self::LeastConnections => "least-connections",
            Self::ConsistentHash => "consistent-hash",
        })
    }
}

/// What the selector needs to know about one endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Stable identity hashed onto the consistent-hash ring; use [`endpoint_key`].
    pub key: u64,
    /// Relative weight.
    pub weight: NonZeroU32,
    /// Connections currently counted against the endpoint (least connections).
    pub active: u64,
    /// Whether the endpoint may be picked (up, not ejected, not yet tried).
    pub available: bool,
}

impl Candidate {
    /// An available endpoint with weight 1 and no active connections.
    #[must_use]
    pub fn new(key: u64) -> Self {
        Self {
            key,
            weight: NonZeroU32::MIN,
            active: 0,
            available: true,
        }
    }
}

/// The stable ring identity of an endpoint address.
#[must_use]
pub fn endpoint_key(addr: SocketAddr) -> u64 {
    let mut bytes = [0u8; 19];
    match addr.ip() {
        IpAddr::V4(v4) => {
            bytes[0] = 4;
            bytes[1..5].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            bytes[0] = 6;
            bytes[1..17].copy_from_slice(&v6.octets());
        }
    }
    bytes[17..19].copy_from_slice(&addr.port().to_be_bytes());
    mix64(fnv1a(&bytes))
}

/// The ring key of a client address: IPv4 by address, IPv6 by /64 prefix, IPv4-mapped IPv6 as
/// IPv4.
#[must_use]
pub fn client_key(client: IpAddr) -> u64 {
    let client = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(client, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    match client {
        IpAddr::V4(v4) => mix64(fnv1a(&v4.octets()) ^ 4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut prefix = [0u8; 8];
            prefix.copy_from_slice(&o[..8]);
            mix64(fnv1a(&prefix) ^ 6)
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64 finaliser: spreads nearby inputs over the whole `u64` range.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per-policy selection state. Call [`Selector::reset`] when the endpoint set changes (the
/// selector also notices a changed length or changed identities by itself).
#[derive(Clone, Debug)]
pub struct Selector {
    policy: Policy,
    cursor: usize,
    /// Smooth weighted round robin: current weight per candidate index.
    current: Vec<i64>,
    /// Consistent hash: `(position, candidate index)` sorted by position.
    ring: Vec<(u64, u32)>,
    /// `(key, weight)` of the candidates the ring was built from.
    ring_of: Vec<(u64, u32)>,
}

impl Selector {
    /// A selector for `policy` with empty state.
    #[must_use]
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            cursor: 0,
            current: Vec::new(),
            ring: Vec::new(),
            ring_of: Vec::new(),
        }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Forgets weighted round-robin progress and rebuilds the ring for `candidates`.
    pub fn reset(&mut self, candidates: &[Candidate]) {
        self.current.clear();
        self.current.resize(candidates.len(), 0);
        if self.policy == Policy::ConsistentHash {
            self.build_ring(candidates);
        }
    }

    /// Picks the index of one available candidate, or `None` when none is available. `client`
    /// matters only for [`Policy::ConsistentHash`].
    pub fn pick(&mut self, candidates: &[Candidate], client: IpAddr) -> Option<usize> {
        if !candidates.iter().any(|c| c.available) {
            return None;
        }
        match self.policy {
            Policy::RoundRobin => self.pick_round_robin(candidates),
            Policy::Weighted => self.pick_weighted(candidates),
            Policy::LeastConnections => self.pick_least(candidates),
            Policy::ConsistentHash => self.pick_hash(candidates, client),
        }
    }

    fn pick_round_robin(&mut self, candidates: &[Candidate]) -> Option<usize> {
        let n = candidates.len();
        let start = self.cursor % n;
        let found = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| candidates.get(i).is_some_and(|c| c.available))?;
        self.cursor = found.wrapping_add(1);
        Some(found)
    }

    fn pick_weighted(&mut self, candidates: &[Candidate]) -> Option<usize> {
        if self.current.len() != candidates.len() {
            self.current.clear();
            self.current.resize(candidates.len(), 0);
        }
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, (c, cur)) in candidates.iter().zip(self.current.iter_mut()).enumerate() {
            if !c.available {
                continue;
            }
            let w = i64::from(c.weight.get());
            *cur = cur.saturating_add(w);
            total = total.saturating_add(w);
            if best.is_none_or(|(_, b)| b < *cur) {
                best = Some((i, *cur));
            }
        }
        let (b, _) = best?;
        if let Some(cur) = self.current.get_mut(b) {
            *cur = cur.saturating_sub(total);
        }
        Some(b)
    }

    fn pick_least(&mut self, candidates: &[Candidate]) -> Option<usize> {
        let start = self.cursor % candidates.len();
        let (tail, head) = candidates.split_at(start);
        // Scan from the cursor, wrapping around once: the first of equal loads wins, so ties
        // rotate with the cursor.
        let order = head.iter().zip(start..).chain(tail.iter().zip(0..));
        let mut best: Option<(usize, &Candidate)> = None;
        for (c, i) in order {
            if !c.available {
                continue;
            }
            // c.active / c.weight < b.active / b.weight, without division.
            let fewer = |b: &Candidate| {
                u128::from(c.active) * u128::from(b.weight.get())
                    < u128::from(b.active) * u128::from(c.weight.get())
            };
            if best.is_none_or(|(_, b)| fewer(b)) {
                best = Some((i, c));
            }
        }
        let (i, _) = best?;
        self.cursor = i.wrapping_add(1);
        Some(i)
    }

    fn pick_hash(&mut self, candidates: &[Candidate], client: IpAddr) -> Option<usize> {
        let same = self.ring_of.len() == candidates.len()
            && self
                .ring_of
                .iter()
                .zip(candidates)
                .all(|(&(k, w), c)| k == c.key && w == c.weight.get());
        if !same {
            self.build_ring(candidates);
        }
        let h = client_key(client);
        let start = self.ring.partition_point(|&(pos, _)| pos < h);
        let len = self.ring.len();
        (0..len)
            .filter_map(|i| self.ring.get((start + i) % len))
            .map(|&(_, idx)| idx as usize)
            .find(|&idx| candidates.get(idx).is_some_and(|c| c.available))
    }

    fn build_ring(&mut self, candidates: &[Candidate]) {
        let total_weight: u64 = candidates.iter().map(|c| u64::from(c.weight.get())).sum();
        let per_unit = (RING_MAX / total_weight.max(1)).clamp(1, u64::from(VNODES_PER_WEIGHT));
        self.ring.clear();
        self.ring_of.clear();
        for (idx, c) in candidates.iter().enumerate() {
            self.ring_of.push((c.key, c.weight.get()));
            let Ok(idx) = u32::try_from(idx) else { break };
            let vnodes = u64::from(c.weight.get()) * per_unit;
            for v in 0..vnodes {
                let pos = mix64(c.key ^ mix64(v.wrapping_add(1)));
                self.ring.push((pos, idx));
            }
        }
        // Equal positions (astronomically rare) are ordered by index.
        self.ring.sort_unstable();
    }
}
