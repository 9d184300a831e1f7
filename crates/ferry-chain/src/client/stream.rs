//! The stream returned by [`connect`](super::connect).

/// A TCP stream to the destination through every hop. Reads first return any bytes that
/// arrived together with the last status record; `into_parts` gives the TCP connection to hop
/// 1 and the bytes read from it but not yet returned (`ferry_base::io::Prefixed`, the one
/// early-bytes stream of the workspace; before 0.1 this was a struct of its own).
pub type ChainStream = ferry_base::io::Prefixed<tokio::net::TcpStream>;
