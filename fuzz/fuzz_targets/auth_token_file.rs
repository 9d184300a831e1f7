//! Authentication: arbitrary text as a token file; errors name a line inside the file. The body
//! is `ferry_auth::fuzzing::token_file`, also run under proptest in `cargo test -p ferry-auth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_auth::fuzzing::token_file(data);
});
