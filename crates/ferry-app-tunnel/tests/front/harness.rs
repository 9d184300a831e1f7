//! A front on 127.0.0.1:0 with a `LocalOpener` that dials destinations directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ferry_allow::{Allowlist, SpecialAddresses};
use ferry_app_tunnel::{ClientFront, FixedClock, FrontConfig, OpenFailure, TunnelOpener};
use ferry_auth::{
    Algorithm, Authenticator, JwtConfig, JwtSpec, JwtVerifier, Role, SigningKey, TokenStore,
    VerifyingKey, generate_key_pair, sign_jwt, token_line,
};
use ferry_tunnel::{AgentId, DestHost, Destination};
use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use crate::servers::{echo_server, http_server};

pub(crate) const NOW: u64 = 1_800_000_000;
pub(crate) const TOKEN: &str = "fy1_client-token-for-edge-1";
pub(crate) const ANY_TOKEN: &str = "fy1_client-token-for-any-agent";

/// How an agent id behaves in the [`LocalOpener`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum AgentMode {
    /// Dials the destination (refusing ports outside its own allow list).
    Dial,
    /// Dials, then waits for the destination to speak first (a stalled agent: never answers
    /// when the destination is silent).
    DialAndWait,
}

/// A tunnel opener that dials locally: agents in `agents` are "connected".
pub(crate) struct LocalOpener {
    pub(crate) agents: HashMap<String, AgentMode>,
    /// The agent's own allowlist (checked after the gateway's).
    pub(crate) agent_allow: Allowlist,
    pub(crate) dial_timeout: Duration,
}

impl TunnelOpener for LocalOpener {
    type Stream = TcpStream;

    async fn open_udp(
        &self,
        _agent: &AgentId,
        _destination: &Destination,
        _client: SocketAddr,
    ) -> Result<TcpStream, OpenFailure> {
        Err(OpenFailure::UdpUnsupported)
    }

    async fn open(
        &self,
        agent: &AgentId,
        destination: &Destination,
        _client: SocketAddr,
    ) -> Result<TcpStream, OpenFailure> {
        let mode = *self
            .agents
            .get(agent.as_str())
            .ok_or(OpenFailure::AgentNotConnected)?;
        let DestHost::Ip(ip) = destination.host else {
            return Err(OpenFailure::DialFailed(
                "names not resolved in tests".into(),
            ));
        };
        let port = destination.port.get();
        if !self.agent_allow.check_ip(ip, port).is_allowed() {
            return Err(OpenFailure::Denied);
        }
        let stream =
            match tokio::time::timeout(self.dial_timeout, TcpStream::connect((ip, port))).await {
                Err(_) => return Err(OpenFailure::Timeout),
                Ok(Err(e)) => return Err(OpenFailure::DialFailed(e.to_string())),
                Ok(Ok(s)) => s,
            };
        if let AgentMode::DialAndWait = mode {
            let mut probe = [0u8; 1];
            stream
                .peek(&mut probe)
                .await
                .map_err(|e| OpenFailure::Transport(e.to_string()))?;
        }
        Ok(stream)
    }
}

pub(crate) struct Jwt {
    pub(crate) signer: SigningKey,
    pub(crate) verifier: JwtVerifier,
}

pub(crate) fn jwt_keys() -> Jwt {
    let rng = SystemRandom::new();
    let pair = generate_key_pair(Algorithm::Es256, &rng).unwrap();
    Jwt {
        signer: SigningKey::from_pem(&pair.private_pkcs8_pem, None, &rng).unwrap(),
        verifier: JwtVerifier::new(
            VerifyingKey::from_pem(&pair.public_spki_pem, None).unwrap(),
            JwtConfig::default().with_audience("ferry"),
        ),
    }
}

impl Jwt {
    pub(crate) fn token(&self, role: Role, agent: &str, now: u64) -> String {
        let spec = JwtSpec::new(role, agent, 600).with_audience("ferry");
        sign_jwt(&self.signer, &spec, now, &SystemRandom::new()).unwrap()
    }
}

pub(crate) struct Front {
    pub(crate) addr: SocketAddr,
    pub(crate) front: ClientFront<LocalOpener>,
    pub(crate) jwt: Jwt,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Front {
    /// Stops the front and waits for `serve` to return.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// The gateway allowlist used by default: loopback ports 1-65535 (special addresses allowed so
/// that tests can use 127.0.0.1), but not port 9 (so a 403 from the gateway can be asked for).
pub(crate) fn loopback_allow() -> Allowlist {
    Allowlist::parse("127.0.0.1:1-8,127.0.0.1:10-65535")
        .unwrap()
        .with_special_addresses(SpecialAddresses::Allow)
}

pub(crate) async fn start(configure: impl FnOnce(&mut FrontConfig, &mut LocalOpener)) -> Front {
    start_with_tls(configure, None).await
}

pub(crate) async fn start_with_tls(
    configure: impl FnOnce(&mut FrontConfig, &mut LocalOpener),
    tls: Option<ferry_tls::TlsAcceptor>,
) -> Front {
    let mut config = FrontConfig::default();
    config.allow = Arc::new(loopback_allow());
    config.drain_timeout = Duration::from_secs(1);
    let mut opener = LocalOpener {
        agents: HashMap::from([
            ("edge-1".to_owned(), AgentMode::Dial),
            ("edge-stalled".to_owned(), AgentMode::DialAndWait),
        ]),
        agent_allow: Allowlist::parse("127.0.0.1:1-65535")
            .unwrap()
            .with_special_addresses(SpecialAddresses::Allow),
        dial_timeout: Duration::from_secs(5),
    };
    configure(&mut config, &mut opener);
    let jwt = jwt_keys();
    let tokens = format!(
        "{}\n{}\n",
        token_line(Role::Client, "edge-1", TOKEN).unwrap(),
        token_line(Role::Client, "*", ANY_TOKEN).unwrap()
    );
    let auth = Authenticator::new()
        .with_tokens(TokenStore::parse(&tokens).unwrap())
        .with_jwt(jwt.verifier.clone());
    let front = ClientFront::new(config, auth, opener, tls, Arc::new(FixedClock(NOW)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = front.clone();
    let task = tokio::spawn(async move {
        serving
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await;
    });
    Front {
        addr,
        front,
        jwt,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A port with nothing listening (bound, then released).
pub(crate) async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

pub(crate) fn connect_request(target: &str, creds: Option<(&str, &str)>) -> String {
    let auth = creds.map_or_else(String::new, |(u, p)| {
        format!("Proxy-Authorization: Basic {}\r\n", basic(u, p))
    });
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n")
}

/// A response head read from the front.
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) text: String,
}

/// Reads a response head (up to the empty line), byte by byte so that nothing after it is
/// consumed.
pub(crate) async fn read_head(s: &mut TcpStream) -> Head {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).await.unwrap();
        assert_eq!(
            n,
            1,
            "connection closed before a full head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(b[0]);
    }
    let text = String::from_utf8(buf).unwrap();
    let status = text[9..12].parse().unwrap();
    Head { status, text }
}

/// Sends `request` on a new connection and returns the reply head.
pub(crate) async fn ask(front: SocketAddr, request: &str) -> (Head, TcpStream) {
    let mut s = TcpStream::connect(front).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    (head, s)
}

/// After an error reply the front closes: the next read sees EOF.
pub(crate) async fn assert_closed(s: &mut TcpStream) {
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("front did not close")
        .unwrap_or(0);
    assert_eq!(n, 0, "unexpected bytes after the reply: {rest:?}");
}
