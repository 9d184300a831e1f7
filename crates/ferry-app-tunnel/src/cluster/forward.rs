//! The forwarding side: a TLS connection to the owner gateway's peer listener and one CONNECT
//! request on it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use ferry_base::io::{Prefixed, ReadError, read_message};
use ferry_front::http_connect::{
    BasicCredentials, HttpLimits, parse_response, write_connect_request,
};
use ferry_registry::InstanceId;
use ferry_tls::{ClientTlsStream, TlsConnector};
use ferry_tunnel::{AgentId, Destination, Protocol};
use tokio::io::{AsyncRead, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::credential::{GatewayCredential, PEER_USERNAME};
use super::{
    AGENT_HEADER, AGENT_NOT_CONNECTED, CLIENT_HEADER, PROTOCOL_HEADER, REASON_HEADER, VIA_HEADER,
};

/// Default bound on reaching the owner: TCP connect plus TLS handshake, 2 s.
pub const DEFAULT_FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound on the owner's reply to the CONNECT (it includes the agent's dial): 10 s.
pub const DEFAULT_FORWARD_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a gateway forwards to an owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardConfig {
    /// Bound on TCP connect plus TLS handshake to the owner. Default
    /// [`DEFAULT_FORWARD_CONNECT_TIMEOUT`]. A connect that fails or runs out of time means the
    /// owner is gone: the client gets `503` and the record is forgotten.
    pub connect_timeout: Duration,
    /// Bound on the owner's reply head. Default [`DEFAULT_FORWARD_REPLY_TIMEOUT`] (the front's
    /// own open timeout applies as well).
    pub reply_timeout: Duration,
    /// Name the owner's certificate must be valid for. Default `None`: the owner's IP
    /// address (from its record), so peer certificates need IP subject alternative names.
    pub server_name: Option<String>,
    /// Largest reply head accepted. Default 8 KiB.
    pub max_head: usize,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_FORWARD_CONNECT_TIMEOUT,
            reply_timeout: DEFAULT_FORWARD_REPLY_TIMEOUT,
            server_name: None,
            max_head: ferry_front::http_connect::DEFAULT_MAX_HEAD,
        }
    }
}

/// Why a forward did not open a tunnel.
#[derive(Debug)]
pub(crate) enum ForwardError {
    /// TCP connect to the owner failed or timed out: the owner is gone.
    Unreachable(String),
    /// The TLS handshake failed (certificate not trusted, wrong name): a misconfiguration.
    Tls(String),
    /// The owner answered with a non-2xx status; `agent_absent` when it said the agent is not
    /// connected there.
    Refused { status: u16, agent_absent: bool },
    /// No reply head within [`ForwardConfig::reply_timeout`].
    ReplyTimeout,
    /// The reply was not an HTTP head, or the connection failed while reading it.
    Protocol(String),
    /// A UDP tunnel was asked for and the owner's `200` did not confirm it with
    /// `Ferry-Protocol: udp` (a gateway older than UDP services, which would have opened a TCP
    /// tunnel): the connection is dropped.
    UdpUnsupported,
}

/// Opens tunnels on owner gateways. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Forwarder {
    connector: TlsConnector,
    credential: GatewayCredential,
    /// Shared by clones; [`Forwarder::set_config`] swaps it for the next forward.
    config: Arc<ArcSwap<ForwardConfig>>,
    via: InstanceId,
}

impl Forwarder {
    /// A forwarder that verifies owners with `connector` (its CAs; verification is never
    /// skipped by this crate), presents `credential`, and names itself `via` in requests.
    #[must_use]
    pub fn new(
        connector: TlsConnector,
        credential: GatewayCredential,
        config: ForwardConfig,
        via: InstanceId,
    ) -> Self {
        Self {
            connector,
            credential,
            config: Arc::new(ArcSwap::from_pointee(config)),
            via,
        }
    }

    /// Replaces the settings (timeouts, server name, head cap) for the next forward, in this
    /// forwarder and every clone; forwards in progress keep theirs.
    pub fn set_config(&self, config: ForwardConfig) {
        self.config.store(Arc::new(config));
    }

    pub(crate) async fn forward(
        &self,
        owner: SocketAddr,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
        protocol: Protocol,
    ) -> Result<Forwarded, ForwardError> {
        let target = crate::destination::to_target(destination);
        let udp = protocol == Protocol::Udp;
        let creds = BasicCredentials::new(PEER_USERNAME, self.credential.secret())
            .map_err(|e| ForwardError::Protocol(e.to_string()))?;
        let client_text = client.to_string();
        let via = self.via.to_hex();
        let mut fields = vec![
            (AGENT_HEADER, agent.as_str()),
            (CLIENT_HEADER, client_text.as_str()),
            (VIA_HEADER, via.as_str()),
        ];
        if udp {
            fields.push((PROTOCOL_HEADER, "udp"));
        }
        let mut request = Vec::with_capacity(256);
        write_connect_request(&mut request, &target, Some(&creds), &fields)
            .map_err(|e| ForwardError::Protocol(e.to_string()))?;

        let cfg = self.config.load_full();
        let tcp = match timeout(cfg.connect_timeout, TcpStream::connect(owner)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(ForwardError::Unreachable(e.to_string())),
            Err(_elapsed) => return Err(ForwardError::Unreachable("connect timed out".into())),
        };
        let _ = tcp.set_nodelay(true);
        let name = cfg
            .server_name
            .clone()
            .unwrap_or_else(|| owner.ip().to_string());
        let handshake = timeout(cfg.connect_timeout, self.connector.connect(&name, tcp));
        let mut tls = match handshake.await {
            Ok(Ok((tls, _info))) => tls,
            Ok(Err(ferry_tls::HandshakeError::Certificate(refused))) => {
                let refused = refused.with_peer(format!("the peer gateway {owner}"));
                return Err(ForwardError::Tls(refused.to_string()));
            }
            Ok(Err(e)) => return Err(ForwardError::Tls(ferry_app_core::error::error_line(&e))),
            Err(_elapsed) => return Err(ForwardError::Unreachable("tls timed out".into())),
        };
        let exchange = async {
            tls.write_all(&request).await?;
            tls.flush().await?;
            read_reply(&mut tls, cfg.max_head).await
        };
        let reply = match timeout(cfg.reply_timeout, exchange).await {
            Err(_elapsed) => return Err(ForwardError::ReplyTimeout),
            Ok(Err(e)) => return Err(ForwardError::Protocol(e.to_string())),
            Ok(Ok(reply)) => reply,
        };
        let Reply {
            status,
            agent_absent,
            udp_confirmed,
            early,
        } = reply;
        if !(200..300).contains(&status) {
            return Err(ForwardError::Refused {
                status,
                agent_absent,
            });
        }
        if udp && !udp_confirmed {
            return Err(ForwardError::UdpUnsupported);
        }
        Ok(Prefixed::new(early, tls))
    }
}

/// The owner's reply head, as far as the forwarder needs it.
struct Reply {
    status: u16,
    /// `Ferry-Reason: agent-not-connected`.
    agent_absent: bool,
    /// `Ferry-Protocol: udp`: the owner opened a UDP tunnel.
    udp_confirmed: bool,
    /// Tunnel bytes that arrived after the head.
    early: Bytes,
}

/// Reads the reply head.
async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S, max_head: usize) -> io::Result<Reply> {
    let limits = HttpLimits::default().with_max_head(max_head);
    let (value, early) = read_message(stream, max_head, |b| parse_response(b, &limits))
        .await
        .map_err(|e| match e {
            ReadError::Io(e) => e,
            ReadError::Eof { .. } => io::ErrorKind::UnexpectedEof.into(),
            other => io::Error::other(other),
        })?;
    let agent_absent = value
        .header(REASON_HEADER)
        .is_some_and(|v| v.trim_ascii() == AGENT_NOT_CONNECTED.as_bytes());
    let udp_confirmed = value
        .header(PROTOCOL_HEADER)
        .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"udp"));
    Ok(Reply {
        status: value.status,
        agent_absent,
        udp_confirmed,
        early,
    })
}

/// A tunnel opened on the owner gateway: the TLS stream, with the bytes that arrived with the
/// reply head served first.
pub type Forwarded = Prefixed<ClientTlsStream<TcpStream>>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn reply_head_keeps_the_bytes_after_it() {
        let wire: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n220 banner\r\n";
        let mut input = wire;
        let r = read_reply(&mut input, 8192).await.unwrap();
        assert_eq!(
            (r.status, r.agent_absent, r.udp_confirmed),
            (200, false, false)
        );
        assert_eq!(&r.early[..], b"220 banner\r\n");
        let mut udp: &[u8] = b"HTTP/1.1 200 Connection established\r\nFerry-Protocol: udp\r\n\r\n";
        assert!(read_reply(&mut udp, 8192).await.unwrap().udp_confirmed);
    }

    #[tokio::test]
    async fn reply_reason_and_limits() {
        let mut absent: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nFerry-Reason: agent-not-connected\r\nContent-Length: 0\r\n\r\n";
        let r = read_reply(&mut absent, 8192).await.unwrap();
        assert_eq!((r.status, r.agent_absent), (503, true));
        let mut busy: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\r\n";
        assert!(!read_reply(&mut busy, 8192).await.unwrap().agent_absent);
        let mut truncated: &[u8] = b"HTTP/1.1 200 Conn";
        assert!(read_reply(&mut truncated, 8192).await.is_err());
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(9000));
        let mut long = long.as_bytes();
        assert!(
            read_reply(&mut long, 8192).await.is_err(),
            "head over the limit"
        );
        let mut garbage: &[u8] = b"SSH-2.0-OpenSSH\r\n\r\n";
        assert!(read_reply(&mut garbage, 8192).await.is_err());
    }
}
