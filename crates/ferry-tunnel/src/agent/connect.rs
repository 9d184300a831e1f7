//! Connecting to the gateway on either transport, and choosing the transport.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferry_base::io::Prefixed;
use quinn::{Connection, ConnectionError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::refused;
use super::settings::Generation;
use super::{AgentConfig, ConnectFailure};
use crate::read::{ReadError, read_message};
use crate::tcp;
use crate::transport::{Transport, TransportKind};
use crate::wire::{
    ALPN_TCP, AuthReply, AuthRequest, GroupMember, REPLY_LEN, RejectReason, close_code,
    decode_auth_reply, encode_auth,
};

/// The I/O under the agent's HTTP/2 connection: the TLS stream, after the bytes read past the
/// auth reply (the gateway's HTTP/2 preface may come in the same segment).
pub(crate) type TcpIo = Prefixed<TlsStream<TcpStream>>;

/// An authenticated connection to the gateway.
pub(crate) enum Live {
    Quic(Connection),
    Tcp(Box<super::serve::H2Conn<TcpIo>>),
}

impl Live {
    pub(crate) fn kind(&self) -> TransportKind {
        match self {
            Self::Quic(_) => TransportKind::Quic,
            Self::Tcp(_) => TransportKind::Tcp,
        }
    }
}

/// What auto mode remembers between attempts.
#[derive(Debug, Default)]
pub(crate) struct Choice {
    /// Auto fell back to TCP and QUIC has not been seen working since: connect over TCP
    /// directly.
    pub(crate) on_tcp: bool,
}

/// A successful connect: the connection and why this transport.
pub(crate) struct Connected {
    pub(crate) live: Live,
    pub(crate) reason: String,
    pub(crate) fell_back: bool,
}

/// A failed connect: what failed, and over which transport (for the metrics).
pub(crate) struct Failure {
    pub(crate) failure: ConnectFailure,
    pub(crate) transport: TransportKind,
}

fn on(transport: TransportKind) -> impl FnOnce(ConnectFailure) -> Failure {
    move |failure| Failure { failure, transport }
}

/// Connects per `config.transport` (see [`Transport`]), as `member` of the agent's
/// connection group (none: the agent's one connection).
pub(crate) async fn connect(
    endpoint: Option<&quinn::Endpoint>,
    generation: &Generation,
    choice: &mut Choice,
    member: Option<GroupMember>,
) -> Result<Connected, Failure> {
    let config = &generation.config;
    let quic = TransportKind::Quic;
    let tcp = TransportKind::Tcp;
    match (config.transport, endpoint) {
        (Transport::Quic, Some(endpoint)) => {
            let deadline = Instant::now() + config.auth_timeout;
            let conn = connect_quic(endpoint, generation, deadline, member)
                .await
                .map_err(on(quic))?;
            Ok(Connected {
                live: Live::Quic(conn),
                reason: "transport = quic".to_owned(),
                fell_back: false,
            })
        }
        (Transport::Quic, None) => Err(Failure {
            failure: ConnectFailure::Failed("transport = quic but no quic endpoint".to_owned()),
            transport: quic,
        }),
        (Transport::Tcp, _) => {
            let deadline = Instant::now() + config.auth_timeout;
            let conn = connect_tcp(generation, deadline, member)
                .await
                .map_err(on(tcp))?;
            Ok(Connected {
                live: Live::Tcp(Box::new(conn)),
                reason: "transport = tcp".to_owned(),
                fell_back: false,
            })
        }
        (_, None) => {
            let deadline = Instant::now() + config.auth_timeout;
            let conn = connect_tcp(generation, deadline, member)
                .await
                .map_err(on(tcp))?;
            Ok(Connected {
                live: Live::Tcp(Box::new(conn)),
                reason: "auto: no quic endpoint, using tcp".to_owned(),
                fell_back: false,
            })
        }
        (_, Some(endpoint)) => connect_auto(endpoint, generation, choice, member).await,
    }
}

async fn connect_auto(
    endpoint: &quinn::Endpoint,
    generation: &Generation,
    choice: &mut Choice,
    member: Option<GroupMember>,
) -> Result<Connected, Failure> {
    let config = &generation.config;
    if choice.on_tcp {
        let deadline = Instant::now() + config.auth_timeout;
        return match connect_tcp(generation, deadline, member).await {
            Ok(conn) => Ok(Connected {
                live: Live::Tcp(Box::new(conn)),
                reason: "auto: quic was not reachable, still using tcp".to_owned(),
                fell_back: false,
            }),
            Err(failure) => {
                // TCP does not work either: the next attempt starts with QUIC again.
                choice.on_tcp = false;
                Err(Failure {
                    failure,
                    transport: TransportKind::Tcp,
                })
            }
        };
    }
    let start = Instant::now();
    let quic_deadline = start + config.auth_timeout.min(config.fallback_after);
    let why = match connect_quic(endpoint, generation, quic_deadline, member).await {
        Ok(conn) => {
            return Ok(Connected {
                live: Live::Quic(conn),
                reason: "auto: quic connected".to_owned(),
                fell_back: false,
            });
        }
        // Not a transport problem: the gateway answered.
        Err(rejected @ ConnectFailure::Rejected(_)) => {
            return Err(Failure {
                failure: rejected,
                transport: TransportKind::Quic,
            });
        }
        Err(ConnectFailure::Failed(_)) if Instant::now() >= quic_deadline => {
            format!("quic: no answer within {}", Secs(quic_deadline - start))
        }
        Err(ConnectFailure::Failed(e)) => format!("quic failed: {e}"),
    };
    tracing::warn!(agent = %config.agent_id, reason = %why, "quic did not connect, trying tcp");
    let deadline = Instant::now() + config.auth_timeout;
    match connect_tcp(generation, deadline, member).await {
        Ok(conn) => {
            choice.on_tcp = true;
            Ok(Connected {
                live: Live::Tcp(Box::new(conn)),
                reason: format!("{why}, using tcp"),
                fell_back: true,
            })
        }
        Err(ConnectFailure::Failed(e)) => Err(Failure {
            failure: ConnectFailure::Failed(format!("{why}; tcp: {e}")),
            transport: TransportKind::Tcp,
        }),
        Err(rejected) => Err(Failure {
            failure: rejected,
            transport: TransportKind::Tcp,
        }),
    }
}

/// A duration in seconds for messages (`3s`, `2.5s`).
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{}ms", ms)
        }
    }
}

/// The reason shown when TLS failed: the verifier's explanation of a refused gateway
/// certificate, else `refused` (the gateway refusing this agent's client certificate, in
/// words), else the error itself.
fn tls_failure(
    generation: &Generation,
    e: &dyn fmt::Display,
    refused: Option<String>,
) -> ConnectFailure {
    let config = &generation.config;
    let why = match generation.verifier.take_refusal() {
        Some(fault) => ferry_tls::CertificateRefused::new(
            format!("the gateway at {}", config.gateway),
            config.roots_source.clone(),
            fault,
        )
        .to_string(),
        None => refused.unwrap_or_else(|| e.to_string()),
    };
    ConnectFailure::Failed(why)
}

/// The gateway refusing this agent's client certificate over TLS on TCP (a TLS alert inside
/// `e`), in words; `None` for any other error.
fn tcp_refusal(e: &io::Error, gateway: SocketAddr, presented: bool) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => {
            refused::alert_refusal(u8::from(*alert), gateway, presented)
        }
        _ => None,
    }
}

/// QUIC handshake and authentication as `member`, by `deadline`.
pub(crate) async fn connect_quic(
    endpoint: &quinn::Endpoint,
    generation: &Generation,
    deadline: Instant,
    member: Option<GroupMember>,
) -> Result<Connection, ConnectFailure> {
    let config = &generation.config;
    let connecting = endpoint
        .connect_with(
            generation.client.clone(),
            config.gateway,
            &config.server_name,
        )
        .map_err(|e| ConnectFailure::Failed(e.to_string()))?;
    // A refusal left by an earlier attempt on these settings is not this attempt's.
    let _ = generation.verifier.take_refusal();
    let conn = match timeout_at(deadline, connecting).await {
        Ok(Ok(conn)) => conn,
        // quinn passes the TLS error on as text; the verifier kept what it refused.
        Ok(Err(e)) => {
            let refused =
                refused::certificate_refused(&e, config.gateway, config.client_cert.is_some());
            return Err(tls_failure(generation, &e, refused));
        }
        Err(_elapsed) => return Err(ConnectFailure::Failed("handshake timed out".into())),
    };
    match timeout_at(deadline, authenticate_quic(&conn, config, member)).await {
        Ok(Ok(())) => Ok(conn),
        Ok(Err(failure)) => {
            // In TLS 1.3 the agent's handshake is done before the gateway has checked its
            // certificate: a refusal closes the connection during authentication.
            let refusal = conn.close_reason().and_then(|reason| {
                refused::certificate_refused(&reason, config.gateway, config.client_cert.is_some())
            });
            conn.close(close_code::SHUTDOWN.into(), b"");
            Err(refusal.map_or(failure, ConnectFailure::Failed))
        }
        Err(_elapsed) => {
            conn.close(close_code::AUTH_TIMEOUT.into(), b"auth timed out");
            Err(ConnectFailure::Failed("authentication timed out".into()))
        }
    }
}

fn auth_message(config: &AgentConfig, member: Option<GroupMember>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    encode_auth(
        &AuthRequest {
            agent_id: config.agent_id.clone(),
            credential: config.credential.clone(),
            member,
        },
        &mut buf,
    );
    buf
}

async fn authenticate_quic(
    conn: &Connection,
    config: &AgentConfig,
    member: Option<GroupMember>,
) -> Result<(), ConnectFailure> {
    let failed = |e: &dyn fmt::Display| ConnectFailure::Failed(e.to_string());
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| failed(&e))?;
    send.write_all(&auth_message(config, member))
        .await
        .map_err(|e| failed(&e))?;
    let _ = send.finish();
    match read_message(&mut recv, REPLY_LEN, decode_auth_reply).await {
        Ok((AuthReply::Ok, _)) => Ok(()),
        Ok((AuthReply::Rejected(reason), _)) => Err(ConnectFailure::Rejected(reason)),
        Err(e) => match conn.close_reason() {
            // The gateway closed before its reply arrived: the close code says why.
            Some(ConnectionError::ApplicationClosed(c))
                if c.error_code == close_code::AUTH_REJECTED.into() =>
            {
                Err(ConnectFailure::Rejected(RejectReason::BadCredential))
            }
            Some(ConnectionError::ApplicationClosed(c))
                if c.error_code == close_code::AUTH_MALFORMED.into() =>
            {
                Err(ConnectFailure::Rejected(RejectReason::Malformed))
            }
            Some(reason) => Err(failed(&reason)),
            None => Err(failed(&e)),
        },
    }
}

/// TCP connect (through the dialer), TLS 1.3 with ALPN `ferry-tunnel-h2/1`, the auth
/// exchange (as `member`) on the TLS stream, then the HTTP/2 server handshake, by `deadline`.
pub(crate) async fn connect_tcp(
    generation: &Generation,
    deadline: Instant,
    member: Option<GroupMember>,
) -> Result<super::serve::H2Conn<TcpIo>, ConnectFailure> {
    let config = &generation.config;
    let failed = |e: &dyn fmt::Display| ConnectFailure::Failed(e.to_string());
    let addr = config.gateway_tcp.unwrap_or(config.gateway);
    // An unspecified address is a gateway the dialer reaches by name (an egress proxy): the
    // dialer's error names it.
    let to = if addr.ip().is_unspecified() {
        String::new()
    } else {
        format!(" to {addr}")
    };
    let stream = match timeout_at(deadline, config.tcp_dialer.dial(addr, &config.server_name)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(ConnectFailure::Failed(format!("tcp connect{to}: {e}")));
        }
        Err(_elapsed) => {
            return Err(ConnectFailure::Failed(format!("tcp connect{to} timed out")));
        }
    };
    let _ = stream.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(config.server_name.clone())
        .map_err(|e| failed(&e))?;
    let _ = generation.verifier.take_refusal();
    let connector = TlsConnector::from(std::sync::Arc::clone(&generation.tcp_tls));
    let mut tls = match timeout_at(deadline, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let refused = tcp_refusal(&e, addr, config.client_cert.is_some());
            return Err(tls_failure(generation, &e, refused));
        }
        Err(_elapsed) => return Err(ConnectFailure::Failed("tls handshake timed out".into())),
    };
    if tls.get_ref().1.alpn_protocol() != Some(ALPN_TCP) {
        return Err(ConnectFailure::Failed(
            "the gateway did not agree on alpn ferry-tunnel-h2/1".into(),
        ));
    }
    let exchange = async {
        tls.write_all(&auth_message(config, member))
            .await
            .map_err(|e| failed(&e))?;
        tls.flush().await.map_err(|e| failed(&e))?;
        match read_message(&mut tls, REPLY_LEN, decode_auth_reply).await {
            Ok((AuthReply::Ok, rest)) => Ok(rest),
            Ok((AuthReply::Rejected(reason), _)) => Err(ConnectFailure::Rejected(reason)),
            // In TLS 1.3 the gateway checks the agent's certificate after the agent's side of
            // the handshake is done: its refusal arrives as an alert while the reply is read.
            Err(ReadError::Io(e)) => Err(ConnectFailure::Failed(
                tcp_refusal(&e, addr, config.client_cert.is_some())
                    .unwrap_or_else(|| e.to_string()),
            )),
            Err(e) => Err(failed(&e)),
        }
    };
    let rest: Bytes = match timeout_at(deadline, exchange).await {
        Ok(r) => r?,
        Err(_elapsed) => return Err(ConnectFailure::Failed("authentication timed out".into())),
    };
    let handshake = tcp::server_builder(&config.quic, config.max_tunnels.get())
        .handshake::<_, Bytes>(Prefixed::new(rest, tls));
    match timeout_at(deadline, handshake).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(ConnectFailure::Failed(format!("http/2 handshake: {e}"))),
        Err(_elapsed) => Err(ConnectFailure::Failed("http/2 handshake timed out".into())),
    }
}

/// One background QUIC probe: a handshake (no authentication, so the live connection is not
/// replaced), closed at once with code 0 and reason `probe`.
pub(crate) async fn probe_quic(
    endpoint: &quinn::Endpoint,
    generation: &Generation,
) -> Result<(), String> {
    let config = &generation.config;
    let deadline = Instant::now() + config.auth_timeout;
    let connecting = endpoint
        .connect_with(
            generation.client.clone(),
            config.gateway,
            &config.server_name,
        )
        .map_err(|e| e.to_string())?;
    match timeout_at(deadline, connecting).await {
        Ok(Ok(conn)) => {
            conn.close(close_code::SHUTDOWN.into(), PROBE_REASON);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_elapsed) => Err("no answer".to_owned()),
    }
}

/// The close reason of a QUIC probe (the gateway counts it as `probe`, not as a failure).
pub(crate) const PROBE_REASON: &[u8] = b"probe";
