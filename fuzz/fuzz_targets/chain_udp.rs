//! Chain UDP framing: arbitrary datagrams and replies into the openers; a datagram built from
//! the bytes crosses 1-3 hops and its reply comes back with the payload unchanged. The body is
//! `ferry_chain::fuzzing::udp`, which also runs under proptest in `cargo test -p ferry-chain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_chain::fuzzing::udp(data);
});
