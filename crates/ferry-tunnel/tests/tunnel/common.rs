//! Shared setup: certificates, a gateway, agents, TCP servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_tls::SelfSigned;
use ferry_tunnel::{
    Agent, AgentConfig, AgentId, AgentRejected, AgentStatus, Backoff, Credential, Gateway,
    GatewayConfig,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

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

    /// A raw quinn client config (for hand-made misbehaving agents).
    pub(crate) fn raw_client(&self, alpn: &[u8]) -> quinn::ClientConfig {
        let provider = ferry_tls::provider(ferry_tls::KeyExchange::default());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(Arc::clone(&self.roots))
            .with_no_client_auth();
        tls.alpn_protocols = vec![alpn.to_vec()];
        quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
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
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl GatewayHandle {
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
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
    let mut tries = 0;
    let endpoint = loop {
        match gateway.bind(addr, pki.server_tls()) {
            Ok(e) => break e,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    };
    run_bound(gateway, endpoint)
}

/// Runs `gateway` on an endpoint it bound.
pub(crate) fn run_bound(gateway: Gateway, endpoint: quinn::Endpoint) -> GatewayHandle {
    let addr = endpoint.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let g = gateway.clone();
    let task = tokio::spawn(async move {
        g.run(endpoint, async {
            let _ = rx.await;
        })
        .await;
    });
    GatewayHandle {
        gateway,
        addr,
        stop: Some(tx),
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
        tokio::time::timeout(Duration::from_secs(20), self.status.wait_for(f))
            .await
            .expect("agent status not reached in time")
            .unwrap()
            .clone()
    }
}

pub(crate) fn start_agent(config: AgentConfig) -> AgentHandle {
    start_agent_with(Agent::new(config).unwrap())
}

pub(crate) fn start_agent_with(agent: Agent) -> AgentHandle {
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
