//! Shared setup: certificates, a gateway, agents, TCP servers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_tls::SelfSigned;
use ferry_tunnel::wire::{
    ALPN, ALPN_TCP, AuthReply, AuthRequest, GroupId, GroupMember, REPLY_LEN, decode_auth,
    decode_auth_reply, encode_auth, encode_auth_reply,
};
use ferry_tunnel::{
    Agent, AgentConfig, AgentId, AgentRejected, AgentStatus, Backoff, Credential, Gateway,
    GatewayConfig, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

tokio::task_local! {
    /// The transport the agents of the running test use ([`agent_config`]); QUIC outside
    /// [`on`].
    static TRANSPORT: Transport;
}

/// Runs `test` with the agents of [`agent_config`] on `transport`.
pub(crate) async fn on<F: Future<Output = ()>>(transport: Transport, test: F) {
    TRANSPORT.scope(transport, test).await;
}

/// Sends `ferry_tunnel`'s debug events to libtest's captured output (once per process), so
/// that a failing test prints what its agents and gateway did, and a passing one nothing. The
/// runtime threads a test starts inherit its capture.
pub(crate) fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("ferry_tunnel=debug"))
            .with_test_writer()
            .with_ansi(false)
            .with_thread_names(true)
            .try_init();
    });
}

/// The transport of the running test.
pub(crate) fn transport() -> Transport {
    TRANSPORT.try_with(|t| *t).unwrap_or(Transport::Quic)
}

/// A test run once per transport: `mod name { fn quic(); fn tcp(); }`, the body on agents
/// that use QUIC, then TCP (the gateway always listens on both).
macro_rules! both_transports {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body() $body

            $(#[$meta])*
            async fn quic() {
                crate::common::on(ferry_tunnel::Transport::Quic, body()).await;
            }

            $(#[$meta])*
            async fn tcp() {
                crate::common::on(ferry_tunnel::Transport::Tcp, body()).await;
            }
        }
    };
}
pub(crate) use both_transports;

pub(crate) struct Pki {
    pub(crate) cert: SelfSigned,
    pub(crate) roots: Arc<rustls::RootCertStore>,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let cert = SelfSigned::generate(["localhost"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert_der().clone()).unwrap();
        Self {
            cert,
            roots: Arc::new(roots),
        }
    }

    pub(crate) fn server_tls(&self) -> rustls::ServerConfig {
        let provider = ferry_tls::provider(ferry_tls::KeyExchange::default());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.cert_der().clone()], self.cert.key_der())
            .unwrap()
    }

    /// A TLS 1.3 client config offering `alpn`, verifying the test certificate (for
    /// hand-made agents).
    pub(crate) fn client_tls(&self, alpn: &[u8]) -> rustls::ClientConfig {
        let provider = ferry_tls::provider(ferry_tls::KeyExchange::default());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(Arc::clone(&self.roots))
            .with_no_client_auth();
        tls.alpn_protocols = vec![alpn.to_vec()];
        tls
    }

    /// A raw quinn client config (for hand-made misbehaving agents).
    pub(crate) fn raw_client(&self, alpn: &[u8]) -> quinn::ClientConfig {
        quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(self.client_tls(alpn)).unwrap(),
        ))
    }
}

/// Accepts credential `token-<id>` for every id.
pub(crate) fn verify(id: &AgentId, credential: &str, _now: u64) -> Result<(), AgentRejected> {
    if credential == format!("token-{id}") {
        Ok(())
    } else {
        Err(AgentRejected::BadCredential)
    }
}

pub(crate) fn id(s: &str) -> AgentId {
    AgentId::new(s).unwrap()
}

pub(crate) struct GatewayHandle {
    pub(crate) gateway: Gateway,
    /// The QUIC (UDP) address; the TCP listener has the same one.
    pub(crate) addr: SocketAddr,
    /// The TCP listener (TLS config swaps).
    #[allow(dead_code)]
    pub(crate) tcp: Option<ferry_tunnel::TcpEndpoint>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl GatewayHandle {
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

pub(crate) fn fast_gateway_config() -> GatewayConfig {
    let mut config = GatewayConfig::default();
    config.drain_timeout = Duration::from_secs(2);
    config
}

pub(crate) async fn start_gateway(pki: &Pki, config: GatewayConfig) -> GatewayHandle {
    start_gateway_with(
        pki,
        Gateway::new(config, verify),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
}

/// Binds (retrying while the previous endpoint on `addr` lets go of the port) and runs.
pub(crate) async fn start_gateway_with(
    pki: &Pki,
    gateway: Gateway,
    addr: SocketAddr,
) -> GatewayHandle {
    start_gateway_serving(gateway, addr, || pki.server_tls()).await
}

/// Binds QUIC on `addr` and TCP on the same address and port (retrying while a previous
/// gateway lets go of them, or when the UDP port chosen for port 0 is taken on TCP), both
/// serving `tls`, and runs them.
pub(crate) async fn start_gateway_serving(
    gateway: Gateway,
    addr: SocketAddr,
    tls: impl Fn() -> rustls::ServerConfig,
) -> GatewayHandle {
    capture_logs();
    let mut tries = 0;
    let (endpoint, tcp) = loop {
        let bound = match gateway.bind(addr, tls()) {
            Ok(e) => {
                let tcp_addr = e.local_addr().unwrap();
                match gateway.bind_tcp(tcp_addr, tls()).await {
                    Ok(t) => Ok((e, t)),
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        match bound {
            Ok(both) => break both,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    };
    run_both(gateway, endpoint, Some(tcp))
}

/// Runs `gateway` on a TCP listener only (no QUIC).
pub(crate) fn run_tcp_only(gateway: Gateway, tcp: ferry_tunnel::TcpEndpoint) -> GatewayHandle {
    let addr = tcp.local_addr().unwrap();
    let stop = CancellationToken::new();
    let g = gateway.clone();
    let s = stop.clone();
    let t = tcp.clone();
    let task = tokio::spawn(async move { g.run_tcp(t, s.cancelled_owned()).await });
    GatewayHandle {
        gateway,
        addr,
        tcp: Some(tcp),
        stop,
        task,
    }
}

/// Runs `gateway` on an endpoint it bound (QUIC only).
pub(crate) fn run_bound(gateway: Gateway, endpoint: quinn::Endpoint) -> GatewayHandle {
    run_both(gateway, endpoint, None)
}

fn run_both(
    gateway: Gateway,
    endpoint: quinn::Endpoint,
    tcp: Option<ferry_tunnel::TcpEndpoint>,
) -> GatewayHandle {
    let addr = endpoint.local_addr().unwrap();
    let stop = CancellationToken::new();
    let g = gateway.clone();
    let s = stop.clone();
    let t = tcp.clone();
    let task = tokio::spawn(async move {
        let quic = g.run(endpoint, s.clone().cancelled_owned());
        match t {
            Some(t) => {
                let tcp = g.run_tcp(t, s.cancelled_owned());
                tokio::join!(quic, tcp);
            }
            None => quic.await,
        }
    });
    GatewayHandle {
        gateway,
        addr,
        tcp,
        stop,
        task,
    }
}

pub(crate) fn agent_config(
    pki: &Pki,
    gateway: SocketAddr,
    agent: &str,
    credential: &str,
    allow: &str,
) -> AgentConfig {
    let mut config = AgentConfig::new(
        gateway,
        "localhost",
        Arc::clone(&pki.roots),
        id(agent),
        Credential::new(credential).unwrap(),
        Arc::new(Allowlist::parse(allow).unwrap()),
    );
    config.backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
    config.drain_timeout = Duration::from_secs(2);
    config.transport = transport();
    config
}

pub(crate) struct AgentHandle {
    pub(crate) status: watch::Receiver<AgentStatus>,
    pub(crate) local: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AgentHandle {
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }

    pub(crate) async fn wait_for(&mut self, f: impl FnMut(&AgentStatus) -> bool) -> AgentStatus {
        let reached = tokio::time::timeout(Duration::from_secs(20), self.status.wait_for(f))
            .await
            .map(|status| status.unwrap().clone());
        match reached {
            Ok(status) => status,
            Err(_) => panic!(
                "agent status not reached in 20 s; last: {:?}",
                *self.status.borrow()
            ),
        }
    }
}

pub(crate) fn start_agent(config: AgentConfig) -> AgentHandle {
    start_agent_with(Agent::new(config).unwrap())
}

pub(crate) fn start_agent_with(agent: Agent) -> AgentHandle {
    capture_logs();
    let agent = Arc::new(agent);
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let local = endpoint.local_addr().unwrap();
    let status = agent.status();
    let (tx, rx) = oneshot::channel::<()>();
    let a = Arc::clone(&agent);
    let task = tokio::spawn(async move {
        a.run(endpoint, async {
            let _ = rx.await;
        })
        .await;
    });
    AgentHandle {
        status,
        local,
        stop: Some(tx),
        task,
    }
}

/// An echo server: every connection gets back what it sent; its write side is shut down after
/// the client's EOF (half-close honoured).
pub(crate) async fn echo_server() -> SocketAddr {
    ferry_test_support::net::echo().await
}

/// Deterministic pseudo-random bytes.
pub(crate) fn payload(len: usize, seed: u64) -> Vec<u8> {
    ferry_test_support::payload(len, seed)
}

/// Writes `data`, shuts down, reads to EOF, concurrently.
pub(crate) async fn round_trip<S>(stream: S, data: &[u8]) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ferry_test_support::net::round_trip(stream, data).await
}

/// Waits (polling, bounded) until `f` holds for the gateway; panics naming `what` otherwise.
pub(crate) async fn until(gateway: &Gateway, what: &str, f: impl Fn(&Gateway) -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !f(gateway) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not reached in time: {what}"));
}

/// Waits (bounded) until the gateway has registered `agent`: an agent reports itself
/// connected when it reads the gateway's `ok`, a moment before the gateway's table has it.
pub(crate) async fn registered(gateway: &Gateway, agent: &AgentId) {
    until(gateway, "the gateway registers the agent", |g| {
        g.is_connected(agent)
    })
    .await;
}

/// A raw QUIC connection to `addr` offering `alpn`, verifying the test certificate.
pub(crate) async fn raw_connect(
    pki: &Pki,
    addr: SocketAddr,
    alpn: &[u8],
) -> (quinn::Endpoint, quinn::Connection) {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(pki.raw_client(alpn), addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    (endpoint, conn)
}

/// The auth message of `agent` with the credential `token-<agent>`: version 1 without
/// `member`, version 2 with it.
pub(crate) fn auth_message(agent: &str, member: Option<GroupMember>) -> Vec<u8> {
    let mut auth = Vec::new();
    encode_auth(
        &AuthRequest {
            agent_id: id(agent),
            credential: Credential::new(&format!("token-{agent}")).unwrap(),
            member,
        },
        &mut auth,
    );
    auth
}

/// Member `index` of the connection group whose id is 16 times `group`.
pub(crate) fn member(group: u8, index: u8) -> Option<GroupMember> {
    Some(GroupMember {
        group: GroupId([group; 16]),
        index,
    })
}

/// A hand-made agent on raw QUIC: authenticates as `agent` with the credential
/// `token-<agent>` (version 1 without `member`, version 2 with it) and returns the gateway's
/// complete reply. Keep the endpoint alive as long as the connection.
pub(crate) async fn raw_agent(
    pki: &Pki,
    addr: SocketAddr,
    agent: &str,
    member: Option<GroupMember>,
) -> (quinn::Endpoint, quinn::Connection, AuthReply) {
    let (endpoint, conn) = raw_connect(pki, addr, ALPN).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&auth_message(agent, member)).await.unwrap();
    send.finish().unwrap();
    let reply = recv.read_to_end(REPLY_LEN).await.unwrap();
    let (reply, _) = decode_auth_reply(&reply).unwrap().complete().unwrap();
    (endpoint, conn, reply)
}

/// A raw TLS connection over TCP to `addr` offering `alpn`.
pub(crate) async fn tls_connect(
    pki: &Pki,
    addr: SocketAddr,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(pki.client_tls(alpn)))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A hand-made agent on the TCP transport: authenticates like [`raw_agent`], asserts the
/// gateway's `ok`, and answers HTTP/2 (refusing nothing, serving no tunnel) until the returned
/// handle is dropped, which closes the connection.
pub(crate) async fn raw_tcp_agent(
    pki: &Pki,
    addr: SocketAddr,
    agent: &str,
    member: Option<GroupMember>,
) -> AbortOnDropHandle<()> {
    let mut tls = tls_connect(pki, addr, ALPN_TCP).await;
    tls.write_all(&auth_message(agent, member)).await.unwrap();
    let mut reply = [0u8; REPLY_LEN];
    tls.read_exact(&mut reply).await.unwrap();
    let (reply, _) = decode_auth_reply(&reply).unwrap().complete().unwrap();
    assert_eq!(reply, AuthReply::Ok);
    let mut conn = h2::server::handshake(tls).await.unwrap();
    AbortOnDropHandle::new(tokio::spawn(async move {
        while let Some(Ok(_)) = conn.accept().await {}
    }))
}

/// A hand-made gateway on the TCP transport (TLS with the transport's ALPN, nothing of
/// Ferry's gateway), for tests that answer the agent's auth message themselves.
pub(crate) struct RawTcpGateway {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl RawTcpGateway {
    pub(crate) async fn bind(pki: &Pki) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = pki.server_tls();
        server.alpn_protocols = vec![ALPN_TCP.to_vec()];
        Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(server)),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// The agent's next connection, after the TLS handshake (bounded wait).
    pub(crate) async fn accept(&self) -> TlsStream<TcpStream> {
        let (tcp, _) = tokio::time::timeout(Duration::from_secs(20), self.listener.accept())
            .await
            .expect("the agent did not connect in time")
            .unwrap();
        self.acceptor.accept(tcp).await.unwrap()
    }

    /// The agent's next connection and its whole auth message, decoded.
    pub(crate) async fn accept_auth(&self) -> (TlsStream<TcpStream>, AuthRequest) {
        let mut tls = self.accept().await;
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 512];
            let n = tls.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "the agent closed before its auth message was complete"
            );
            buf.extend_from_slice(&chunk[..n]);
            if let Some((request, _)) = decode_auth(&buf).unwrap().complete() {
                return (tls, request);
            }
        }
    }
}

/// Writes the gateway's `answer` to an agent's auth message.
pub(crate) async fn write_auth_reply(tls: &mut TlsStream<TcpStream>, answer: AuthReply) {
    let mut buf = Vec::new();
    encode_auth_reply(answer, &mut buf);
    tls.write_all(&buf).await.unwrap();
}
