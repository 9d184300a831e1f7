#![no_main]
//! Every program's config loader: the first byte picks the program (proxy, hop serve, hop
//! access, gateway, agent) or the duration and rate value parsers, the rest is the text. A
//! loader returns a validated config or a one-line error, never panics, and accepts an accepted
//! text again. The seeds are `examples/config/*.toml`. The body is
//! `ferry_cli::fuzzing::config_toml`, whose corpus also replays in `cargo test -p ferry-cli`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_cli::fuzzing::config_toml(data);
});
