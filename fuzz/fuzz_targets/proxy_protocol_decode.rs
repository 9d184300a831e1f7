//! PROXY protocol v1/v2 decoding: every prefix is "incomplete" or the same result as the whole
//! input, nothing stays incomplete past the size limit, and a decoded header re-encodes to
//! itself. The body is `ferry_front::fuzzing::proxy_protocol_decode`, which also runs under
//! proptest in `cargo test -p ferry-front`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_front::fuzzing::proxy_protocol_decode(data);
});
