//! SOCKS5 server state machine: the first byte picks the auth mode and a chunk pattern, the
//! rest is the client's stream, fed all at once, one byte at a time and in chunks; the three
//! transcripts must be equal. Also decodes the stream as a UDP datagram. The body is
//! `ferry_front::fuzzing::socks5_server`, which also runs under proptest in
//! `cargo test -p ferry-front`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_front::fuzzing::socks5_server(data);
});
