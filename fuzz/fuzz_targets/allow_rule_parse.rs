//! Allowlist entry and list parsing: no panic, display round trip, errors name the right entry.
//! The body is `ferry_allow::fuzzing::rule_parse`, which also runs under proptest in
//! `cargo test -p ferry-allow`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_allow::fuzzing::rule_parse(data);
});
