#![no_main]
//! SOCKS5 client side: arbitrary bytes as the server's method selection, auth status and reply
//! (what `ferry-hop`'s chain client and the access tests read from a SOCKS5 server). Every
//! parser is prefix-consistent and bounded; a parsed reply re-encodes to the bytes it consumed.
//! The body is `ferry_front::fuzzing::socks5_client`, which also runs under proptest in
//! `cargo test -p ferry-front`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_front::fuzzing::socks5_client(data);
});
