//! Wall-clock time for credential checks (JWT `exp`/`nbf`), injectable for tests: the one
//! clock every program shares (`ferry_app_core::clock`). `UnixClock` is its `WallClock`; its
//! `unix_secs` replaced `now_unix` in 0.1.

pub use ferry_app_core::clock::{FixedClock, SharedClock, SystemClock, WallClock as UnixClock};
