//! The tunnel's TCP transport, gateway side: arbitrary bytes as what an agent sends after TLS
//! (the auth message, then HTTP/2 frames as the server side), in memory; when they
//! authenticate, the gateway opens a tunnel on the connection and reads the answer. Nothing
//! may panic or hang. The body is `ferry_tunnel::fuzzing::tcp_gateway`, whose checked-in
//! corpus also runs in `cargo test -p ferry-tunnel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ferry_tunnel::fuzzing::tcp_gateway(data);
});
