#![no_main]
//! Egress proxy text: the first line as a proxy URL (`http://user:pass@host:port`,
//! `socks5://`, `socks5h://`) and as a NO_PROXY list, further lines as destinations matched
//! against the list. Round trips hold, `Display` never holds a password, matching is
//! case-insensitive and consistent with the canonical list. The body is
//! `ferry_egress::fuzzing::egress_parse`, which also runs under proptest in
//! `cargo test -p ferry-egress`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_egress::fuzzing::egress_parse(data);
});
