#![no_main]
//! Chain text inputs: arbitrary text as a hop key file and as a `host:port` hop address. A
//! parsed keyring has distinct ids within the cap; a parsed address prints as text that parses
//! back to itself. The body is `ferry_chain::fuzzing::text`, which also runs under proptest in
//! `cargo test -p ferry-chain`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_chain::fuzzing::text(data);
});
