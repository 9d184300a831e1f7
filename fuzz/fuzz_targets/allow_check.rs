//! Allowlist matching: first line = patterns, other lines = `host:port` targets. Asserts that
//! the compiled matcher equals a linear scan and that the special-address and resolution checks
//! agree with their definitions. The body is `ferry_allow::fuzzing::parse_and_check`, which also
//! runs under proptest in `cargo test -p ferry-allow`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_allow::fuzzing::parse_and_check(data);
});
