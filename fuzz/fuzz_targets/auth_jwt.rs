//! Authentication: arbitrary bytes as a credential (static token or JWT) and spliced into each
//! part of a valid JWT; nothing forged is accepted and nothing panics. The body is
//! `ferry_auth::fuzzing::jwt`, which also runs under proptest in `cargo test -p ferry-auth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_auth::fuzzing::jwt(data);
});
