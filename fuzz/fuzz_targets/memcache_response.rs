//! memcached meta-protocol response decoder: arbitrary bytes never panic; a complete response
//! needs more at every shorter length and decodes the same with more bytes after it. The body
//! is `ferry_memcache::fuzzing::response`, which also runs under proptest in
//! `cargo test -p ferry-memcache`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_memcache::fuzzing::response(data);
});
