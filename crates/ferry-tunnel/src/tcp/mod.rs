//! The TCP transport: TLS 1.3 over TCP, the same authentication exchange as on QUIC written
//! directly on the TLS stream, then HTTP/2 (h2) with one stream per tunnel. The gateway,
//! which opens tunnels, is the HTTP/2 client; the agent, which dialled, is the HTTP/2 server.
//! The mapping is specified in `docs/tunnel.md` ("TCP transport").

pub(crate) mod stream;

use std::time::Duration;

use h2::PingPong;

use crate::quic::QuicSettings;
use crate::wire::ALPN_TCP;

/// The request path of a tunnel stream.
pub(crate) const TUNNEL_PATH: &str = "/tunnel";
/// The request path of the gateway's close notice.
pub(crate) const CLOSE_PATH: &str = "/close";
/// The header carrying the close code on a close notice (decimal, the QUIC close codes).
pub(crate) const CLOSE_CODE: &str = "ferry-close-code";
/// The header carrying the close reason on a close notice (visible ASCII and spaces).
pub(crate) const CLOSE_REASON: &str = "ferry-close-reason";
/// The authority of every request (no host name is looked at).
pub(crate) const AUTHORITY: &str = "ferry-tunnel";
/// The URI of a tunnel request: `https://{AUTHORITY}{TUNNEL_PATH}`.
const TUNNEL_URI: &str = "https://ferry-tunnel/tunnel";

/// The URI of every tunnel request, parsed once (a clone shares the static bytes).
pub(crate) fn tunnel_uri() -> http::Uri {
    static URI: std::sync::LazyLock<http::Uri> =
        std::sync::LazyLock::new(|| http::Uri::from_static(TUNNEL_URI));
    URI.clone()
}

/// Largest DATA frame either end sends: 64 KiB (HTTP/2's default is 16 KiB).
const MAX_FRAME: u32 = 64 * 1024;
/// Largest header list either end accepts: requests and responses here are tiny.
const MAX_HEADER_LIST: u32 = 4 * 1024;
/// How long a closing end keeps driving the connection so that the peer gets the reason and
/// the last queued bytes.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// The gateway's HTTP/2 client settings: the agent may open no stream, receive windows from
/// `s`.
pub(crate) fn client_builder(s: &QuicSettings) -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(s.stream_receive_window)
        .initial_connection_window_size(s.receive_window)
        .max_frame_size(MAX_FRAME)
        .max_header_list_size(MAX_HEADER_LIST)
        .max_concurrent_streams(0)
        .max_send_buffer_size(send_buffer(s));
    b
}

/// The agent's HTTP/2 server settings: at most `max_tunnels` streams at once, receive windows
/// from `s`.
pub(crate) fn server_builder(s: &QuicSettings, max_tunnels: u32) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.initial_window_size(s.stream_receive_window)
        .initial_connection_window_size(s.receive_window)
        .max_frame_size(MAX_FRAME)
        .max_header_list_size(MAX_HEADER_LIST)
        .max_concurrent_streams(max_tunnels)
        .max_send_buffer_size(send_buffer(s));
    b
}

fn send_buffer(s: &QuicSettings) -> usize {
    usize::try_from(s.stream_receive_window)
        .unwrap_or(usize::MAX)
        .max(64 * 1024)
}

/// `tls` as the gateway serves it on TCP: ALPN `ferry-tunnel-h2/1` only, no early data.
pub(crate) fn server_tls(mut tls: rustls::ServerConfig) -> rustls::ServerConfig {
    tls.alpn_protocols = vec![ALPN_TCP.to_vec()];
    tls.max_early_data_size = 0;
    tls.send_half_rtt_data = false;
    tls
}

/// Sends an HTTP/2 PING every keep-alive interval and returns when one is not answered
/// within the idle timeout (or pings fail: the connection is gone). The connection must be
/// driven concurrently for the pong to arrive.
pub(crate) async fn keep_alive(mut pings: PingPong, s: QuicSettings) -> &'static str {
    let wait = s.idle_timeout.saturating_sub(s.keep_alive_interval);
    loop {
        tokio::time::sleep(s.keep_alive_interval).await;
        match tokio::time::timeout(
            wait.max(Duration::from_millis(1)),
            pings.ping(h2::Ping::opaque()),
        )
        .await
        {
            Ok(Ok(_pong)) => {}
            Ok(Err(_)) => return "ping failed",
            Err(_elapsed) => return "idle timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tunnel_uri_is_the_authority_and_the_tunnel_path() {
        let uri = tunnel_uri();
        assert_eq!(uri.to_string(), format!("https://{AUTHORITY}{TUNNEL_PATH}"));
        assert_eq!(uri.path(), TUNNEL_PATH);
        assert_eq!(
            uri.authority().map(http::uri::Authority::as_str),
            Some(AUTHORITY)
        );
    }
}
