//! Tunnel auth message and auth reply decoders: arbitrary bytes, whole and every prefix; an auth
//! message built from the bytes round-trips and is incomplete at every shorter length. The body
//! is `ferry_tunnel::fuzzing::auth`, which also runs under proptest in `cargo test -p
//! ferry-tunnel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_tunnel::fuzzing::auth(data);
});
