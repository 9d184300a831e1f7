//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crate::record::{RECORD_LEN_V4, RECORD_LEN_V6, decode, encode};

/// Decodes arbitrary bytes: never panics; a decoded record has one of the two lengths, a
/// non-zero port, and encodes back to exactly the input (one byte string per owner).
pub fn record(data: &[u8]) {
    let Ok(owner) = decode(data) else {
        return;
    };
    assert!(data.len() == RECORD_LEN_V4 || data.len() == RECORD_LEN_V6);
    assert_ne!(owner.addr.port(), 0);
    assert_eq!(encode(&owner), data);
    // Every strict prefix and any longer input is refused.
    for cut in 0..data.len() {
        assert!(decode(&data[..cut]).is_err(), "prefix {cut}");
    }
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err());
}
