//! UDP tunnel datagram frames: arbitrary bytes as a tunnel stream through the frame decoder
//! (whole, every prefix) and a bounded `DatagramReader` fed in pieces; both must agree, never
//! buffer more than one frame, and datagrams built from the bytes round-trip. The body is
//! `ferry_tunnel::fuzzing::datagram`, which also runs under proptest in `cargo test -p
//! ferry-tunnel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_tunnel::fuzzing::datagram(data);
});
