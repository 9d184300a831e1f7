//! HTTP CONNECT request and response head parsing: prefix consistency, the head limit, and a
//! parsed request re-written with `write_connect_request` parses to the same target and
//! credentials. The body is `ferry_front::fuzzing::http_connect_parse`, which also runs under
//! proptest in `cargo test -p ferry-front`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_front::fuzzing::http_connect_parse(data);
});
