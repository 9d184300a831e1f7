//! The hasher of the limiter's key table: a per-instance random key and two folded multiplies.
//!
//! Keys are client-controlled (addresses), so the table's hash must not be predictable: with a
//! fixed hash an attacker could pick addresses that land in one bucket. The seeds come from
//! [`RandomState`] (the OS random source, once per thread). A folded multiply (the full 128-bit
//! product, high half XOR low half) mixes all input bits into all output bits; two rounds with
//! secret multipliers make collisions impractical to aim at without the seeds. It is not a
//! cryptographic MAC, but std's SipHash (`RandomState`) made a hot-key check take ~58 ns of CPU
//! instead of ~30 ns in `benches/limit_check.rs`, so it would have used up most of the budget.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Builds [`FoldHasher`]s with per-instance random seeds.
#[derive(Debug, Clone)]
pub(crate) struct SeededState {
    seed: u64,
    mul_a: u64,
    mul_b: u64,
}

impl SeededState {
    /// Fresh random seeds.
    pub(crate) fn random() -> Self {
        let rs = RandomState::new();
        Self {
            seed: rs.hash_one(0x5eed_u64),
            // Odd multipliers keep every input bit relevant to the low half of the product.
            mul_a: rs.hash_one(1_u64) | 1,
            mul_b: rs.hash_one(2_u64) | 1,
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher {
            acc: self.seed,
            mul_a: self.mul_a,
            mul_b: self.mul_b,
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct FoldHasher {
    acc: u64,
    mul_a: u64,
    mul_b: u64,
}

#[inline]
const fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    #[allow(clippy::cast_possible_truncation)] // deliberately split into halves
    let (hi, lo) = ((p >> 64) as u64, p as u64);
    hi ^ lo
}

impl Hasher for FoldHasher {
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.acc = fold(self.acc ^ v, self.mul_a);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.acc, self.mul_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn distinct_instances_hash_differently() {
        let (a, b) = (SeededState::random(), SeededState::random());
        let same = (0..64_u64)
            .filter(|k| a.hash_one(k) == b.hash_one(k))
            .count();
        assert!(same < 2, "seeds look shared: {same} equal hashes");
    }

    #[test]
    fn sequential_keys_spread_over_low_and_high_bits() {
        let s = SeededState::random();
        let lows: HashSet<u64> = (0..4096_u64).map(|k| s.hash_one(k) & 0xfff).collect();
        let highs: HashSet<u64> = (0..4096_u64).map(|k| s.hash_one(k) >> 52).collect();
        // A uniform hash fills ~63 % of 4096 slots with 4096 keys; a bad one far fewer.
        assert!(lows.len() > 2300, "low bits: {}", lows.len());
        assert!(highs.len() > 2300, "high bits: {}", highs.len());
    }

    #[test]
    fn byte_hashing_depends_on_every_byte_and_the_length() {
        let s = SeededState::random();
        let h = |b: &[u8]| {
            let mut x = s.build_hasher();
            x.write(b);
            x.finish()
        };
        assert_ne!(h(b"abcdefghij"), h(b"abcdefghik"));
        assert_ne!(h(b"a"), h(b"a\0"));
        assert_ne!(h(b""), h(b"\0"));
    }
}
