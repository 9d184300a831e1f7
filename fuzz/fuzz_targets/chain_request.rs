//! Chain request decoder: arbitrary bytes whole and in every split (need-more vs. error agree,
//! the replay guard untouched by anything that did not authenticate); a request built from the
//! bytes round-trips and a tampered byte is refused. The body is
//! `ferry_chain::fuzzing::request`, which also runs under proptest in `cargo test -p ferry-chain`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_chain::fuzzing::request(data);
});
