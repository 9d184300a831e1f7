//! Two (or more) gateways on loopback: a client front with a `RoutedOpener` and a peer front
//! each, one shared registry, agents simulated by an opener that dials for real.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use ferry_allow::{Allowlist, SpecialAddresses};
use ferry_app_tunnel::cluster::{
    ForwardConfig, Forwarder, GatewayCredential, PeerConfig, PeerFront, RoutedOpener,
};
use ferry_app_tunnel::{ClientFront, FixedClock, FrontConfig, OpenFailure, TunnelOpener};
use ferry_auth::{Authenticator, Role, TokenStore, token_line};
use ferry_registry::{Claim, InstanceId, Keeper, Lease, Owner, Registry};
use ferry_tls::{AcceptorConfig, ConnectorConfig, PemInput, SelfSigned, TlsAcceptor, TlsConnector};
use ferry_tunnel::{AgentId, DestHost, Destination};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) use crate::servers::{echo_server, round_trip};

pub(crate) const TOKEN: &str = "fy1_client-token-for-any-agent";
pub(crate) const SECRET: &str = "cluster-secret-0123456789";

/// "Agents connected here": dials the destination directly; counts calls.
pub(crate) struct DialOpener {
    pub(crate) agents: Mutex<HashSet<String>>,
    pub(crate) opens: AtomicUsize,
    pub(crate) udp_opens: AtomicUsize,
}

impl TunnelOpener for DialOpener {
    type Stream = TcpStream;

    /// A UDP tunnel here is a TCP connection to the destination: with a TCP echo server there,
    /// the datagram frames come back byte for byte, as the agent's UDP relay would send them.
    async fn open_udp(
        &self,
        agent: &AgentId,
        destination: &Destination,
        client: SocketAddr,
    ) -> Result<TcpStream, OpenFailure> {
        self.udp_opens.fetch_add(1, Ordering::SeqCst);
        self.open(agent, destination, client).await
    }

    async fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        _client: SocketAddr,
    ) -> Result<TcpStream, OpenFailure> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        if !self.agents.lock().unwrap().contains(agent.as_str()) {
            return Err(OpenFailure::AgentNotConnected);
        }
        let DestHost::Ip(ip) = destination.host else {
            return Err(OpenFailure::DialFailed(
                "names not resolved in tests".into(),
            ));
        };
        TcpStream::connect((ip, destination.port.get()))
            .await
            .map_err(|e| OpenFailure::DialFailed(e.to_string()))
    }
}

/// The cluster's certificate (valid for 127.0.0.1) and the connector trusting it.
pub(crate) struct Pki {
    pub(crate) cert: SelfSigned,
}

impl Pki {
    pub(crate) fn new() -> Self {
        Self {
            cert: SelfSigned::generate(["127.0.0.1"]).unwrap(),
        }
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::new(&AcceptorConfig::new(self.cert.to_source())).unwrap()
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        let mut c = ConnectorConfig::new();
        c.add_ca(PemInput::memory("cluster CA", self.cert.cert_pem()));
        TlsConnector::new(&c).unwrap()
    }
}

pub(crate) fn allow_loopback() -> Arc<Allowlist> {
    Arc::new(
        Allowlist::parse("127.0.0.1:1-65535")
            .unwrap()
            .with_special_addresses(SpecialAddresses::Allow),
    )
}

pub(crate) struct Gateway {
    pub(crate) client_addr: SocketAddr,
    pub(crate) peer_addr: SocketAddr,
    pub(crate) me: Owner,
    pub(crate) local: Arc<DialOpener>,
    pub(crate) front: ClientFront<RoutedOpener<Arc<DialOpener>>>,
    pub(crate) peer: PeerFront<Arc<DialOpener>>,
    /// TCP connections accepted by the peer listener.
    pub(crate) peer_accepts: Arc<AtomicUsize>,
    pub(crate) keeper: Keeper,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Starts a gateway whose local agents are `agents`, sharing `registry`.
    pub(crate) async fn start(registry: Arc<dyn Registry>, agents: &[&str], pki: &Pki) -> Self {
        let credential = GatewayCredential::new(SECRET).unwrap();
        let local = Arc::new(DialOpener {
            agents: Mutex::new(agents.iter().map(|a| (*a).to_owned()).collect()),
            opens: AtomicUsize::new(0),
            udp_opens: AtomicUsize::new(0),
        });
        let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer_listener.local_addr().unwrap();
        let me = Owner::new(InstanceId::random().unwrap(), peer_addr);

        let mut peer_config = PeerConfig::default();
        peer_config.allow = allow_loopback();
        let peer = PeerFront::new(
            peer_config,
            credential.clone(),
            Arc::clone(&local),
            pki.acceptor(),
        );
        let peer_accepts = Arc::new(AtomicUsize::new(0));
        let accepts = Arc::clone(&peer_accepts);
        let peer_handle = peer.clone();
        let peer_task = tokio::spawn(async move {
            // A hand-written accept loop so that the test can count connections.
            while let Ok((tcp, from)) = peer_listener.accept().await {
                accepts.fetch_add(1, Ordering::SeqCst);
                let peer = peer.clone();
                tokio::spawn(async move { peer.handle_tcp(tcp, from).await });
            }
        });

        let forwarder = Forwarder::new(
            pki.connector(),
            credential,
            ForwardConfig::default(),
            me.instance,
        );
        let keeper = Keeper::new(Arc::clone(&registry), me, Lease::default());
        let routed = RoutedOpener::new(Arc::clone(&local), registry, me, forwarder)
            .lookup_timeout(Duration::from_secs(1));
        let mut config = FrontConfig::default();
        config.allow = allow_loopback();
        config.drain_timeout = Duration::from_millis(100);
        let tokens = format!("{}\n", token_line(Role::Client, "*", TOKEN).unwrap());
        let auth = Authenticator::new().with_tokens(TokenStore::parse(&tokens).unwrap());
        let front = ClientFront::new(
            config,
            auth,
            routed,
            None,
            Arc::new(FixedClock(1_800_000_000)),
        );
        let client_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client_listener.local_addr().unwrap();
        let serving = front.clone();
        let client_task = tokio::spawn(async move {
            serving.serve(client_listener, std::future::pending()).await;
        });
        Self {
            client_addr,
            peer_addr,
            me,
            local,
            front,
            peer: peer_handle,
            peer_accepts,
            keeper,
            tasks: vec![peer_task, client_task],
        }
    }

    /// The agent connects here: the opener serves it and the keeper claims it.
    pub(crate) async fn agent_connects(&self, agent: &str) -> Claim {
        self.local.agents.lock().unwrap().insert(agent.to_owned());
        self.keeper.connected(agent).await.unwrap()
    }

    /// Kills the gateway: both listeners are closed (their tasks aborted and awaited).
    pub(crate) async fn kill(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

pub(crate) fn connect_request(target: SocketAddr, agent: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{agent}:{password}"));
    format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n\r\n"
    )
}

/// Reads a response head byte by byte; returns the status and the head text.
pub(crate) async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (u16, String) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).await.unwrap();
        assert_eq!(
            n,
            1,
            "closed before a full head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    let text = String::from_utf8(buf).unwrap();
    (text[9..12].parse().unwrap(), text)
}

/// Asks `gateway` for a tunnel to `target` through `agent`; returns the status and the stream.
pub(crate) async fn ask(
    gateway: SocketAddr,
    target: SocketAddr,
    agent: &str,
    password: &str,
) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(gateway).await.unwrap();
    s.write_all(connect_request(target, agent, password).as_bytes())
        .await
        .unwrap();
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), read_head(&mut s))
        .await
        .expect("no reply within 5 s");
    (status, s)
}
