//! Limiter keys: [`ClientKey`] (a `u64`), IPv6 prefix keying ([`V6Prefix`]) and [`ClientKeyer`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr};

/// Upper 32 bits of every IPv4 key. As an IPv6 prefix, `ffff:ffff::/32` lies in multicast space
/// (`ff00::/8`), which is never a valid source address, so no real IPv6 client owns it.
const V4_TAG: u64 = 0xffff_ffff_0000_0000;
/// IPv6-derived keys that would land in the IPv4 range are moved here (`ffff:fffe::/32`, also
/// multicast).
const V4_TAG_FOLDED: u64 = 0xffff_fffe_0000_0000;
const HIGH_32: u64 = 0xffff_ffff_0000_0000;

/// The key of one client in a [`RateLimiter`](crate::RateLimiter) or
/// [`ConcurrencyLimiter`](crate::ConcurrencyLimiter): a plain `u64`, which keeps a table entry at
/// 16 bytes (see the crate docs, "Memory").
///
/// Build one from an address with [`ClientKeyer::key_for_ip`], from any hashable identity with
/// [`ClientKeyer::key_for`], or from a number you already have with [`ClientKey::from_raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(u64);

impl ClientKey {
    /// A key from a raw value; the caller is responsible for keeping unrelated clients apart.
    #[must_use]
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for ClientKey {
    fn from(raw: u64) -> Self {
        Self(raw)
    }
}

/// [`V6Prefix::new`] was given a length outside `1..=128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The length is 0 or above 128.
    #[error("ipv6 prefix length {0} is outside 1..=128")]
    OutOfRange(u8),
}

/// How many leading bits of an IPv6 address identify one client. Default: **/64**, the usual
/// allocation to one site or host (a single host can otherwise rotate through 2^64 addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V6Prefix(u8);

impl V6Prefix {
    /// `/64`, the default.
    pub const DEFAULT: Self = Self(64);

    /// A prefix length in `1..=128`.
    ///
    /// # Errors
    ///
    /// [`PrefixError::OutOfRange`] for 0 or anything above 128.
    pub const fn new(len: u8) -> Result<Self, PrefixError> {
        if len == 0 || len > 128 {
            Err(PrefixError::OutOfRange(len))
        } else {
            Ok(Self(len))
        }
    }

    /// The length in bits.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl Default for V6Prefix {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Maps client identities to [`ClientKey`]s.
///
/// - **IPv4** (including IPv4-mapped IPv6 such as `::ffff:192.0.2.1`, which a dual-stack socket
///   reports): the address itself, tagged into `ffff:ffff::/32`-shaped key space; exact, no
///   collisions.
/// - **IPv6, prefix ≤ 64** (default /64): the masked upper 64 bits; exact, no collisions. A
///   prefix whose key would fall into the IPv4 tag range (only `ffff:ffff::/32`, multicast and
///   never a source) is moved to `ffff:fffe::/32`.
/// - **IPv6, prefix > 64**: the masked 128-bit value hashed to 64 bits with `S` (by default a
///   per-process random SipHash key, [`RandomState`]). Two distinct prefixes collide with
///   probability 2^-64 per pair, and an attacker cannot aim a collision at a chosen victim without
///   the key. The result is moved out of the IPv4 range as above, so IPv4 and IPv6 keys
///   **never** collide for any prefix length.
/// - **Anything hashable** ([`ClientKeyer::key_for`], e.g. an agent id or user name): hashed
///   with `S`; same 2^-64 story. Use one limiter per kind of identity rather than mixing kinds
///   in one table.
///
/// Keys are only meaningful within one keyer (and its hash seed): build it once and share it.
#[derive(Debug, Clone)]
pub struct ClientKeyer<S = RandomState> {
    prefix: V6Prefix,
    hasher: S,
}

impl ClientKeyer<RandomState> {
    /// A keyer with the given IPv6 prefix and a random hash key.
    #[must_use]
    pub fn new(v6_prefix: V6Prefix) -> Self {
        Self::with_hasher(v6_prefix, RandomState::new())
    }
}

impl Default for ClientKeyer<RandomState> {
    /// IPv6 keyed by /64, random hash key.
    fn default() -> Self {
        Self::new(V6Prefix::DEFAULT)
    }
}

impl<S: BuildHasher> ClientKeyer<S> {
    /// A keyer with an explicit hash builder (e.g. a fixed-key one, to get the same keys in every
    /// process; collisions then become constructible for anyone who knows the key).
    #[must_use]
    pub const fn with_hasher(v6_prefix: V6Prefix, hasher: S) -> Self {
        Self {
            prefix: v6_prefix,
            hasher,
        }
    }

    /// The IPv6 prefix length in use.
    #[must_use]
    pub const fn v6_prefix(&self) -> V6Prefix {
        self.prefix
    }

    /// The key of a client address (see the type docs for the mapping).
    #[must_use]
    pub fn key_for_ip(&self, ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(V4_TAG | u64::from(u32::from(v4))),
            IpAddr::V6(v6) => ClientKey(fold_out_of_v4(self.v6_raw(v6))),
        }
    }

    /// The key of any hashable identity (see the type docs for collisions).
    #[must_use]
    pub fn key_for<T: Hash + ?Sized>(&self, value: &T) -> ClientKey {
        ClientKey(fold_out_of_v4(self.hasher.hash_one(value)))
    }

    /// The key of a byte string; the same as [`key_for`](Self::key_for) on the slice.
    #[must_use]
    pub fn key_for_bytes(&self, bytes: &[u8]) -> ClientKey {
        self.key_for(bytes)
    }

    fn v6_raw(&self, v6: Ipv6Addr) -> u64 {
        let bits = u128::from(v6);
        let len = u32::from(self.prefix.0);
        if len <= 64 {
            // len in 1..=64: the shift is in 0..=63.
            let mask = u64::MAX << (64 - len);
            #[allow(clippy::cast_possible_truncation)] // the upper half of a u128 fits a u64
            let upper = (bits >> 64) as u64;
            upper & mask
        } else {
            // len in 65..=128: the shift is in 0..=63.
            let masked = bits & (u128::MAX << (128 - len));
            // Hash the length too, so that /96 and /112 of the same address differ.
            self.hasher.hash_one((masked, len))
        }
    }
}

const fn fold_out_of_v4(raw: u64) -> u64 {
    if raw & HIGH_32 == V4_TAG {
        (raw & !HIGH_32) | V4_TAG_FOLDED
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyer(len: u8) -> ClientKeyer {
        ClientKeyer::new(V6Prefix::new(len).unwrap())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefix_validation() {
        assert_eq!(V6Prefix::new(0), Err(PrefixError::OutOfRange(0)));
        assert_eq!(V6Prefix::new(129), Err(PrefixError::OutOfRange(129)));
        assert_eq!(V6Prefix::new(1).unwrap().bits(), 1);
        assert_eq!(V6Prefix::new(128).unwrap().bits(), 128);
        assert_eq!(V6Prefix::default().bits(), 64);
    }

    #[test]
    fn v4_key_is_the_tagged_address() {
        let k = keyer(64);
        assert_eq!(k.key_for_ip(ip("192.0.2.1")).get(), 0xffff_ffff_c000_0201);
        assert_ne!(k.key_for_ip(ip("192.0.2.1")), k.key_for_ip(ip("192.0.2.2")));
    }

    #[test]
    fn v4_mapped_v6_is_keyed_as_v4() {
        let k = keyer(64);
        assert_eq!(
            k.key_for_ip(ip("::ffff:192.0.2.1")),
            k.key_for_ip(ip("192.0.2.1"))
        );
        // Without canonicalisation every mapped client would share the key of ::/64.
        assert_ne!(
            k.key_for_ip(ip("::ffff:192.0.2.1")),
            k.key_for_ip(ip("::ffff:192.0.2.2"))
        );
    }

    #[test]
    fn v6_prefix_masks_low_bits() {
        let k = keyer(48);
        assert_eq!(
            k.key_for_ip(ip("2001:db8:1:2::1")),
            k.key_for_ip(ip("2001:db8:1:ffff::1"))
        );
        assert_ne!(
            k.key_for_ip(ip("2001:db8:1::1")),
            k.key_for_ip(ip("2001:db8:2::1"))
        );
        assert_eq!(
            k.key_for_ip(ip("2001:db8:1::1")).get(),
            0x2001_0db8_0001_0000
        );
        let k1 = keyer(1);
        assert_eq!(k1.key_for_ip(ip("7fff::1")).get(), 0);
        assert_eq!(k1.key_for_ip(ip("8000::1")).get(), 1 << 63);
    }

    #[test]
    fn v6_in_the_v4_tag_range_is_folded_away() {
        let k = keyer(64);
        let v6 = k.key_for_ip(ip("ffff:ffff:c000:201::1"));
        assert_eq!(v6.get(), 0xffff_fffe_c000_0201);
        assert_ne!(v6, k.key_for_ip(ip("192.0.2.1")));
    }

    #[test]
    fn long_prefixes_hash_the_masked_address() {
        let k = keyer(112);
        assert_eq!(
            k.key_for_ip(ip("2001:db8::1:0")),
            k.key_for_ip(ip("2001:db8::1:ffff"))
        );
        assert_ne!(
            k.key_for_ip(ip("2001:db8::1:0")),
            k.key_for_ip(ip("2001:db8::2:0"))
        );
        let k128 = keyer(128);
        assert_ne!(
            k128.key_for_ip(ip("2001:db8::1")),
            k128.key_for_ip(ip("2001:db8::2"))
        );
    }

    #[test]
    fn arbitrary_keys_hash_and_never_hit_the_v4_range() {
        let k = keyer(64);
        assert_eq!(k.key_for("agent-1"), k.key_for("agent-1"));
        assert_ne!(k.key_for("agent-1"), k.key_for("agent-2"));
        assert_eq!(k.key_for_bytes(b"abc"), k.key_for(&b"abc"[..]));
        assert_eq!(fold_out_of_v4(V4_TAG | 7), V4_TAG_FOLDED | 7);
        assert_eq!(fold_out_of_v4(7), 7);
    }
}
