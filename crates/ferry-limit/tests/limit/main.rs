//! Integration tests of ferry-limit, one binary with one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod keys;
mod memory;
mod oracle;
mod rate;

use std::num::NonZeroU32;
use std::time::Instant;

/// Tests take time as a parameter; they only need one real `Instant` to offset from.
#[allow(clippy::disallowed_methods)]
pub(crate) fn base() -> Instant {
    Instant::now()
}

pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}
