//! The compiled matcher: exact names in a hash map, zones in a reversed-label trie, networks in
//! one hash map per distinct prefix length.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use ipnet::IpNet;

use crate::portset::PortSet;
use crate::rule::{HostPattern, Rule};

/// A fast hasher for keys that come from the configuration only (lookups never insert), so
/// flooding is not a concern: a folded multiply of the written integers or bytes.
#[derive(Default, Clone, Copy)]
pub(crate) struct FoldHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl FoldHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        let full = u128::from(self.0 ^ x) * u128::from(K);
        self.0 = (full as u64) ^ ((full >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        for (dst, &src) in w.iter_mut().zip(rest) {
            *dst = src;
        }
        self.mix(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }

    /// Only used for the length prefix of byte strings, which `write` mixes in anyway.
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0 ^= i as u64;
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// A zone-trie node while building: children and the `(ports, rule id)` of its rules.
type PendingZone = (Map<Box<[u8]>, u32>, Vec<(crate::PortRange, u32)>);

/// Exact names and zones.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameTable {
    exact: Map<Box<[u8]>, PortSet>,
    zones: Vec<ZoneNode>,
}

#[derive(Debug, Clone, Default)]
struct ZoneNode {
    children: Map<Box<[u8]>, u32>,
    ports: Option<PortSet>,
}

/// Networks of one address family, one map per distinct prefix length (longest first), keyed
/// by the prefix bits.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetTable<K> {
    levels: Vec<(u8, Map<K, PortSet>)>,
}

/// Everything compiled from the rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Compiled {
    pub(crate) names: NameTable,
    pub(crate) v4: NetTable<u32>,
    pub(crate) v6: NetTable<u128>,
}

impl Compiled {
    pub(crate) fn build<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> Self {
        let mut exact: HashMap<Box<[u8]>, Vec<_>> = HashMap::new();
        let mut zone_nodes: Vec<PendingZone> = vec![Default::default()];
        let mut v4: HashMap<(u8, u32), Vec<_>> = HashMap::new();
        let mut v6: HashMap<(u8, u128), Vec<_>> = HashMap::new();
        for (id, rule) in (0u32..).zip(rules) {
            let item = (rule.ports(), id);
            match rule.host() {
                HostPattern::Name(name) => {
                    exact
                        .entry(name.as_str().as_bytes().into())
                        .or_default()
                        .push(item);
                }
                HostPattern::Zone(zone) => {
                    let mut node = 0usize;
                    for label in zone.as_str().as_bytes().rsplit(|&b| b == b'.') {
                        let next = zone_nodes.len();
                        // `node` is always an index of `zone_nodes`: 0 or a child pushed below.
                        let Some((children, _)) = zone_nodes.get_mut(node) else {
                            break;
                        };
                        let child = *children.entry(label.into()).or_insert(next as u32);
                        if child as usize == next {
                            zone_nodes.push(Default::default());
                        }
                        node = child as usize;
                    }
                    if let Some((_, items)) = zone_nodes.get_mut(node) {
                        items.push(item);
                    }
                }
                HostPattern::Net(IpNet::V4(net)) => {
                    let len = net.prefix_len();
                    let key = key_u32(u32::from(net.network()), len);
                    v4.entry((len, key)).or_default().push(item);
                }
                HostPattern::Net(IpNet::V6(net)) => {
                    let len = net.prefix_len();
                    let key = key_u128(u128::from(net.network()), len);
                    v6.entry((len, key)).or_default().push(item);
                }
            }
        }
        Self {
            names: NameTable {
                exact: exact
                    .into_iter()
                    .map(|(k, v)| (k, PortSet::build(v)))
                    .collect(),
                zones: zone_nodes
                    .into_iter()
                    .map(|(children, items)| ZoneNode {
                        children,
                        ports: (!items.is_empty()).then(|| PortSet::build(items)),
                    })
                    .collect(),
            },
            v4: NetTable::build(v4),
            v6: NetTable::build(v6),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy> NetTable<K> {
    fn build(groups: HashMap<(u8, K), Vec<(crate::PortRange, u32)>>) -> Self {
        let mut levels: Vec<(u8, Map<K, PortSet>)> = Vec::new();
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_unstable_by_key(|&((len, _), _)| std::cmp::Reverse(len));
        for ((len, key), items) in groups {
            if levels.last().is_none_or(|(l, _)| *l != len) {
                levels.push((len, Map::default()));
            }
            if let Some((_, map)) = levels.last_mut() {
                map.insert(key, PortSet::build(items));
            }
        }
        Self { levels }
    }
}

impl NetTable<u32> {
    /// Calls `found(prefix_len, ports)` for every network that contains `addr`, longest first.
    #[inline]
    pub(crate) fn visit(&self, addr: u32, mut found: impl FnMut(u8, &PortSet)) {
        for (len, map) in &self.levels {
            if let Some(set) = map.get(&key_u32(addr, *len)) {
                found(*len, set);
            }
        }
    }
}

impl NetTable<u128> {
    /// Calls `found(prefix_len, ports)` for every network that contains `addr`, longest first.
    #[inline]
    pub(crate) fn visit(&self, addr: u128, mut found: impl FnMut(u8, &PortSet)) {
        for (len, map) in &self.levels {
            if let Some(set) = map.get(&key_u128(addr, *len)) {
                found(*len, set);
            }
        }
    }
}

/// The top `len` bits of `addr`, shifted down.
#[inline]
fn key_u32(addr: u32, len: u8) -> u32 {
    addr.checked_shr(32 - u32::from(len)).unwrap_or(0)
}

#[inline]
fn key_u128(addr: u128, len: u8) -> u128 {
    addr.checked_shr(128 - u32::from(len)).unwrap_or(0)
}

impl NameTable {
    /// Calls `found(ports)` for the exact name and every zone that contains `name` (canonical
    /// form), the exact name first, then zones from the outermost.
    #[inline]
    pub(crate) fn visit<'a>(&'a self, name: &[u8], mut found: impl FnMut(&'a PortSet)) {
        if let Some(set) = self.exact.get(name) {
            found(set);
        }
        let Some(mut node) = self.zones.first() else {
            return;
        };
        for label in name.rsplit(|&b| b == b'.') {
            let Some(&child) = node.children.get(label) else {
                return;
            };
            let Some(next) = self.zones.get(child as usize) else {
                return;
            };
            node = next;
            if let Some(set) = &node.ports {
                found(set);
            }
        }
    }
}
