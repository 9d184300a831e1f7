//! The registry's owner record decoder: never panics, a decoded record has one of the two
//! lengths and encodes back to the input, every prefix and any extension is refused. The body
//! is `ferry_registry::fuzzing::record`, which also runs under proptest in
//! `cargo test -p ferry-registry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_registry::fuzzing::record(data);
});
