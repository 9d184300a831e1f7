//! SHA-256 digests and a constant-time comparison of them.

use ring::digest;

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

/// SHA-256 of `data` (ring).
pub(crate) fn sha256(data: &[u8]) -> Digest {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Compares two digests in time independent of where they differ (`ferry_base::ct_eq`; the
/// inputs are fixed-size digests, so there is no length to leak).
pub(crate) fn digest_eq(a: &Digest, b: &Digest) -> bool {
    ferry_base::ct_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_eq_compares_every_byte() {
        let a = sha256(b"a");
        assert!(digest_eq(&a, &sha256(b"a")));
        for i in 0..32 {
            let mut b = a;
            b[i] ^= 1;
            assert!(!digest_eq(&a, &b), "difference at byte {i} missed");
        }
    }

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 "abc".
        let d = sha256(b"abc");
        assert_eq!(d[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(d[28..], [0xf2, 0x00, 0x15, 0xad]);
    }
}
