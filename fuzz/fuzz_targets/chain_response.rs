//! Chain response decoder: arbitrary bytes; a response built from the bytes round-trips, needs
//! more at every shorter length and is refused for another request nonce. The body is
//! `ferry_chain::fuzzing::response`, which also runs under proptest in `cargo test -p ferry-chain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_chain::fuzzing::response(data);
});
