//! Comparing secrets without a timing side channel.

/// Whether `a` and `b` are equal, in time that depends only on their lengths, never on where
/// they differ: every byte pair is XORed and the differences ORed together before the one
/// branch. Lengths are not hidden: compare fixed-size values (digests, MACs) or hash both sides
/// first when the length of a secret must not leak.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    (a.len() == b.len()) & (std::hint::black_box(diff) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_counts() {
        let a = [7u8; 32];
        assert!(ct_eq(&a, &a));
        for i in 0..32 {
            let mut b = a;
            b[i] ^= 1;
            assert!(!ct_eq(&a, &b), "difference at byte {i} missed");
        }
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
        assert!(ct_eq(b"", b""));
    }

    proptest! {
        #[test]
        fn agrees_with_eq(a in proptest::collection::vec(any::<u8>(), 0..40),
                          b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(ct_eq(&a, &b), a == b);
            prop_assert!(ct_eq(&a, &a.clone()));
        }
    }
}
