//! The ports allowed for one compiled key (one name, zone or network), and small rule-id lists.

use std::collections::BTreeSet;

use crate::ports::PortRange;

/// Disjoint, sorted port intervals, each with the (sorted) ids of the rules that allow it.
#[derive(Debug, Clone)]
pub(crate) struct PortSet {
    intervals: Box<[Interval]>,
    all: Box<[u32]>,
}

#[derive(Debug, Clone)]
struct Interval {
    lo: u16,
    hi: u16,
    rules: Box<[u32]>,
}

impl PortSet {
    /// Builds the set from `(ports, rule id)` pairs with a sweep over the range boundaries:
    /// O(k log k) plus the size of the output for k rules.
    pub(crate) fn build(mut rules: Vec<(PortRange, u32)>) -> Self {
        rules.sort_unstable_by_key(|&(r, id)| (r.min(), id));
        let mut all: Vec<u32> = rules.iter().map(|&(_, id)| id).collect();
        all.sort_unstable();
        // Boundaries where the active set may change: every `min` and every `max + 1`.
        let mut points: Vec<u32> = rules
            .iter()
            .flat_map(|&(r, _)| [u32::from(r.min()), u32::from(r.max()) + 1])
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut ends: Vec<(u32, u32)> = rules
            .iter()
            .map(|&(r, id)| (u32::from(r.max()) + 1, id))
            .collect();
        ends.sort_unstable();
        let (mut next_start, mut next_end) = (0, 0);
        let mut active = BTreeSet::new();
        let mut intervals: Vec<Interval> = Vec::new();
        for pair in points.windows(2) {
            let &[lo, next] = pair else { continue };
            let hi = next - 1;
            while let Some(&(_, id)) = ends.get(next_end).filter(|&&(end, _)| end <= lo) {
                active.remove(&id);
                next_end += 1;
            }
            while let Some(&(_, id)) = rules
                .get(next_start)
                .filter(|(range, _)| u32::from(range.min()) <= lo)
            {
                active.insert(id);
                next_start += 1;
            }
            if active.is_empty() {
                continue;
            }
            let (Ok(lo), Ok(hi)) = (u16::try_from(lo), u16::try_from(hi)) else {
                continue; // unreachable: points other than the last are <= 65535
            };
            match intervals.last_mut() {
                Some(last)
                    if u32::from(last.hi) + 1 == u32::from(lo) && last.rules.iter().eq(&active) =>
                {
                    last.hi = hi;
                }
                _ => intervals.push(Interval {
                    lo,
                    hi,
                    rules: active.iter().copied().collect(),
                }),
            }
        }
        Self {
            intervals: intervals.into(),
            all: all.into(),
        }
    }

    /// The ids of the rules of this key that allow `port` (sorted), or `None`.
    #[inline]
    pub(crate) fn lookup(&self, port: u16) -> Option<&[u32]> {
        let i = self.intervals.partition_point(|iv| iv.hi < port);
        let iv = self.intervals.get(i)?;
        (iv.lo <= port).then_some(&*iv.rules)
    }

    /// The ids of every rule of this key (sorted).
    pub(crate) fn all(&self) -> &[u32] {
        &self.all
    }
}

const INLINE: usize = 6;

/// A short list of rule ids that stays on the stack up to six entries.
#[derive(Debug, Clone)]
pub(crate) enum RuleIds {
    Inline(u8, [u32; INLINE]),
    Heap(Vec<u32>),
}

impl Default for RuleIds {
    fn default() -> Self {
        Self::Inline(0, [0; INLINE])
    }
}

impl RuleIds {
    pub(crate) fn extend(&mut self, ids: &[u32]) {
        match self {
            Self::Inline(len, buf) => {
                let n = usize::from(*len);
                if let Some(dst) = buf.get_mut(n..n + ids.len()) {
                    dst.copy_from_slice(ids);
                    *len += ids.len() as u8;
                } else {
                    let mut v = Vec::with_capacity(n + ids.len());
                    v.extend_from_slice(buf.get(..n).unwrap_or_default());
                    v.extend_from_slice(ids);
                    *self = Self::Heap(v);
                }
            }
            Self::Heap(v) => v.extend_from_slice(ids),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u32] {
        match self {
            Self::Inline(len, buf) => buf.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(v) => v,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    pub(crate) fn sort(&mut self) {
        match self {
            Self::Inline(len, buf) => {
                if let Some(ids) = buf.get_mut(..usize::from(*len)) {
                    ids.sort_unstable();
                }
            }
            Self::Heap(v) => v.sort_unstable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU16;

    fn range(min: u16, max: u16) -> PortRange {
        PortRange::new(NonZeroU16::new(min).unwrap(), NonZeroU16::new(max).unwrap()).unwrap()
    }

    #[test]
    fn overlapping_ranges_keep_every_rule() {
        let set = PortSet::build(vec![
            (range(80, 80), 0),
            (range(443, 443), 1),
            (range(1, 1000), 2),
            (PortRange::ANY, 3),
        ]);
        assert_eq!(set.lookup(0), Some(&[3][..]));
        assert_eq!(set.lookup(80), Some(&[0, 2, 3][..]));
        assert_eq!(set.lookup(81), Some(&[2, 3][..]));
        assert_eq!(set.lookup(443), Some(&[1, 2, 3][..]));
        assert_eq!(set.lookup(1001), Some(&[3][..]));
        assert_eq!(set.lookup(65535), Some(&[3][..]));
        assert_eq!(set.all(), &[0, 1, 2, 3]);
    }

    #[test]
    fn gaps_are_misses_and_adjacent_equal_intervals_merge() {
        let set = PortSet::build(vec![
            (range(10, 20), 5),
            (range(21, 30), 5),
            (range(40, 40), 6),
        ]);
        assert_eq!(set.intervals.len(), 2);
        assert_eq!(set.lookup(9), None);
        assert_eq!(set.lookup(10), Some(&[5][..]));
        assert_eq!(set.lookup(30), Some(&[5][..]));
        assert_eq!(set.lookup(31), None);
        assert_eq!(set.lookup(40), Some(&[6][..]));
        assert_eq!(set.lookup(41), None);
    }

    #[test]
    fn rule_ids_spill_to_the_heap() {
        let mut ids = RuleIds::default();
        ids.extend(&[5, 4, 3]);
        ids.extend(&[2, 1, 0]);
        assert!(matches!(ids, RuleIds::Inline(6, _)));
        ids.extend(&[9]);
        ids.sort();
        assert_eq!(ids.as_slice(), &[0, 1, 2, 3, 4, 5, 9]);
    }
}
