//! Files (certificate, key, tokens) in a scratch directory, a gateway and agents started from
//! TOML configs, helpers for raw CONNECT requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use ferry_app_tunnel::agent::AgentApp;
use ferry_app_tunnel::config::{AgentConfig, GatewayConfig};
use ferry_app_tunnel::gateway::{self, BoundGateway};
use ferry_auth::{Role, token_line};
use ferry_tunnel::AgentStatus;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub(crate) use crate::servers::{echo_server, http_server, round_trip};

pub(crate) const CLIENT_TOKEN: &str = "fy1_e2e-client-token-any-agent";

/// The agent token of `agent`.
pub(crate) fn agent_token(agent: &str) -> String {
    format!("fy1_e2e-agent-token-{agent}")
}

/// A scratch directory with the gateway's certificate and key and a token file accepting
/// agents `edge-0` .. `edge-{agents-1}` and the client token for every agent.
pub(crate) struct Files {
    pub(crate) dir: PathBuf,
}

impl Files {
    pub(crate) fn new(agents: usize) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cert = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
        std::fs::write(dir.join("gw.pem"), cert.cert_pem()).unwrap();
        std::fs::write(dir.join("gw.key"), cert.key_pem()).unwrap();
        let mut tokens = format!("{}\n", token_line(Role::Client, "*", CLIENT_TOKEN).unwrap());
        for i in 0..agents {
            let id = format!("edge-{i}");
            tokens.push_str(&token_line(Role::Agent, &id, &agent_token(&id)).unwrap());
            tokens.push('\n');
            std::fs::write(dir.join(format!("{id}.token")), agent_token(&id)).unwrap();
        }
        std::fs::write(dir.join("tokens"), tokens).unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The gateway config: `agent_listen` as given, the client front on port 0, destinations
    /// 127.0.0.1 and 127.0.0.2 allowed, `extra` appended (tables).
    pub(crate) fn gateway_config(&self, agent_listen: &str, extra: &str) -> GatewayConfig {
        self.gateway_config_with(agent_listen, "", extra)
    }

    /// [`Files::gateway_config`] with `top` (top-level keys) added.
    pub(crate) fn gateway_config_with(
        &self,
        agent_listen: &str,
        top: &str,
        extra: &str,
    ) -> GatewayConfig {
        GatewayConfig::from_toml(&format!(
            r#"
            listen = "127.0.0.1:0"
            agent_listen = "{agent_listen}"
            {top}
            allow = ["127.0.0.1", "127.0.0.2"]
            [tls]
            cert = "{}"
            key = "{}"
            [auth]
            tokens = "{}"
            {extra}
            "#,
            self.path("gw.pem"),
            self.path("gw.key"),
            self.path("tokens"),
        ))
        .unwrap()
    }

    /// The config of agent `id` (token file `id.token`), allowed to reach 127.0.0.1, with
    /// `extra` keys appended (back-off 100-400 ms unless `extra` sets it).
    pub(crate) fn agent_config(&self, gateway: SocketAddr, id: &str, extra: &str) -> AgentConfig {
        self.agent_config_at(&gateway.to_string(), id, extra)
    }

    /// [`Files::agent_config`] with `gateway` as written (`localhost:PORT`).
    pub(crate) fn agent_config_at(&self, gateway: &str, id: &str, extra: &str) -> AgentConfig {
        let backoff = if extra.contains("reconnect_") {
            ""
        } else {
            "reconnect_min = \"100ms\"\nreconnect_max = \"400ms\""
        };
        AgentConfig::from_toml(&format!(
            r#"
            gateway = "{gateway}"
            server_name = "localhost"
            ca = "{}"
            agent_id = "{id}"
            token_file = "{}"
            allow = ["127.0.0.1"]
            {backoff}
            {extra}
            "#,
            self.path("gw.pem"),
            self.path(&format!("{id}.token")),
        ))
        .unwrap()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) struct GatewayHandle {
    pub(crate) client: SocketAddr,
    pub(crate) agents: SocketAddr,
    /// The TCP transport's listener, unless off.
    #[allow(dead_code)]
    pub(crate) agents_tcp: Option<SocketAddr>,
    pub(crate) tunnel: ferry_tunnel::Gateway,
    pub(crate) reloader: gateway::Reloader,
    pub(crate) services: ferry_app_tunnel::service::Services<gateway::GatewayOpener>,
    pub(crate) front: ferry_app_tunnel::front::ClientFront<gateway::GatewayOpener>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl GatewayHandle {
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// Binds `config` (retrying while a previous gateway on the same UDP port lets it go) and
/// runs it.
pub(crate) async fn start_gateway(config: &GatewayConfig) -> GatewayHandle {
    let mut tries = 0;
    let bound: BoundGateway = loop {
        match gateway::bind(config) {
            Ok(b) => break b,
            Err(e) if tries < 500 => {
                // The previous endpoint's socket closes when its driver task ends (up to a
                // few seconds after a drain of many agents on a loaded machine).
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("bind: {e}"),
        }
    };
    let (client, agents) = (bound.client_addr(), bound.agent_addr());
    let agents_tcp = bound.agent_tcp_addr();
    let tunnel = bound.tunnel().clone();
    let reloader = bound.reloader();
    let services = bound.services().clone();
    let front = bound.front().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        bound
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    GatewayHandle {
        client,
        agents,
        agents_tcp,
        tunnel,
        reloader,
        services,
        front,
        stop: Some(tx),
        task,
    }
}

pub(crate) struct AgentHandle {
    pub(crate) status: watch::Receiver<AgentStatus>,
    /// Reloads this agent (with the environment it started with).
    #[allow(dead_code)]
    pub(crate) reloader: ferry_app_tunnel::agent::AgentReloader,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AgentHandle {
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }

    pub(crate) async fn wait_for(&mut self, f: impl FnMut(&AgentStatus) -> bool) -> AgentStatus {
        tokio::time::timeout(Duration::from_secs(30), self.status.wait_for(f))
            .await
            .expect("agent status not reached in time")
            .unwrap()
            .clone()
    }
}

pub(crate) async fn start_agent(config: &AgentConfig) -> AgentHandle {
    start_agent_env(config, &[]).await
}

/// [`start_agent`] with `env` as the agent's environment (`HTTPS_PROXY`, ...).
pub(crate) async fn start_agent_env(config: &AgentConfig, env: &[(&str, String)]) -> AgentHandle {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let app = AgentApp::load(config, lookup.clone()).await.unwrap();
    let reloader = app.reloader(lookup);
    let status = app.status();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    AgentHandle {
        status,
        reloader,
        stop: Some(tx),
        task,
    }
}

/// A gateway and agent `edge-0`, connected.
pub(crate) async fn gateway_and_agent(
    files: &Files,
    agent_extra: &str,
) -> (GatewayHandle, AgentHandle) {
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", agent_extra)).await;
    agent.wait_for(|s| s.connected).await;
    (gw, agent)
}

pub(crate) fn connect_request(target: &str, agent: &str, password: Option<&str>) -> String {
    let auth = password.map_or_else(String::new, |p| {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{agent}:{p}"));
        format!("Proxy-Authorization: Basic {b}\r\n")
    });
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n")
}

/// Reads a reply head byte by byte (nothing after it is consumed); returns status and text.
pub(crate) async fn read_head(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut b))
            .await
            .expect("no reply head in time")
            .unwrap();
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

/// Sends `request` (and `extra` bytes in the same write) to the front; returns the head.
pub(crate) async fn ask(
    front: SocketAddr,
    request: &str,
    extra: &[u8],
) -> (u16, String, TcpStream) {
    let mut s = TcpStream::connect(front).await.unwrap();
    let mut bytes = request.as_bytes().to_vec();
    bytes.extend_from_slice(extra);
    s.write_all(&bytes).await.unwrap();
    let (status, text) = read_head(&mut s).await;
    (status, text, s)
}

/// A tunnel to `target` through `edge-0` with the client token; asserts `200`.
pub(crate) async fn tunnel(front: SocketAddr, target: SocketAddr) -> TcpStream {
    let (status, text, s) = ask(
        front,
        &connect_request(&target.to_string(), "edge-0", Some(CLIENT_TOKEN)),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    s
}

/// Deterministic pseudo-random bytes.
pub(crate) fn payload(len: usize, seed: u64) -> Vec<u8> {
    ferry_test_support::payload(len, seed)
}

/// A server that decodes one PROXY header per connection with `ferry-front`, reports it, then
/// echoes the rest of the connection.
pub(crate) async fn proxy_header_server() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<ferry_front::proxy_protocol::ProxyHeader>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                use ferry_front::proxy_protocol::{ProxyLimits, decode};
                let limits = ProxyLimits::default();
                let Ok((header, rest)) =
                    ferry_base::io::read_message(&mut s, 1024, |b| decode(b, &limits)).await
                else {
                    return;
                };
                let rest = rest.to_vec();
                let _ = tx.send(header);
                let (mut r, mut w) = s.into_split();
                w.write_all(&rest).await.unwrap();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });
    (addr, rx)
}

/// Waits (bounded) until the gateway has `n` connected agents (the value of its
/// `ferry_tunnel_agents_connected` gauge, which is set from the same table).
pub(crate) async fn connect_agents(gw: &ferry_tunnel::Gateway, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while gw.connected_agents() != n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the gateway did not reach {n} connected agents in time"));
}
