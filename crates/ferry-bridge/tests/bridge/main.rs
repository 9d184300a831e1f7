//! Integration tests for ferry-bridge (one binary, one module per area).

// Helpers outside `#[test]` functions panic on failure too: that is how tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod half_close;
mod hook;
mod integrity;
mod memory;
mod pipes;
mod prop;
mod reset;
mod throttle;
mod timeouts;
mod util;
