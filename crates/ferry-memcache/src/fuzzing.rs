//! Fuzz harness bodies, shared by `fuzz/` and the property tests. Not a stable API.
//!
//! Each function panics when an invariant breaks; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crate::codec::{Parsed, Response, decode};

/// The value limit every harness uses.
pub const MAX_VALUE: usize = 4096;

/// Decodes arbitrary bytes: never panics; a complete response consumed at most the input, and
/// every strict prefix of it is incomplete (never an error, never a different response).
pub fn response(data: &[u8]) {
    let Ok(Parsed::Complete { value, consumed }) = decode(data, MAX_VALUE) else {
        return;
    };
    assert!(consumed <= data.len() && consumed > 0);
    if let Response::Value { data: v, .. } = &value {
        assert!(v.len() <= MAX_VALUE);
    }
    for cut in 0..consumed {
        assert_eq!(
            decode(&data[..cut], MAX_VALUE),
            Ok(Parsed::Incomplete),
            "prefix {cut}"
        );
    }
    // The same response followed by anything decodes the same.
    let mut longer = data[..consumed].to_vec();
    longer.extend_from_slice(b"EN\r\n");
    assert_eq!(
        decode(&longer, MAX_VALUE),
        Ok(Parsed::Complete { value, consumed })
    );
}
