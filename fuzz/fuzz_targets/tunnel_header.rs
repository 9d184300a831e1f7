//! Tunnel header and status decoders: arbitrary bytes, whole and every prefix; a header built
//! from the bytes round-trips with the rest of the input left as payload. The body is
//! `ferry_tunnel::fuzzing::header`, which also runs under proptest in `cargo test -p
//! ferry-tunnel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_tunnel::fuzzing::header(data);
});
