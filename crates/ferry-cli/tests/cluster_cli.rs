//! Two `ferry-gateway` processes sharing a real memcached, one `ferry-agent` process reaching
//! them through a UDP relay that plays the agents' load balancer (docs/operations.md):
//!
//! 1. a client entering through the gateway that does not own the agent gets through (the
//!    tunnel is forwarded to the owner over TLS);
//! 2. memcached stopped: the owner's local tunnels still work, the other gateway answers 503
//!    within its lookup timeout; memcached back (empty): the owner writes its record again by
//!    itself and remote clients get through again;
//! 3. the owner gateway killed with SIGKILL (its record is left behind, as after a crash): the
//!    balancer sends the agent to the other gateway, the agent reconnects there, the crashed
//!    owner's record expires by its TTL and the survivor takes the agent over (compare-and-swap;
//!    the race itself is tested against memcached in ferry-registry), clients get through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_registry::{MemcachedRegistry, Registry};
use tokio::net::UdpSocket;
use tokio::sync::watch;

#[path = "support/echo.rs"]
mod echo;
#[path = "support/program.rs"]
mod program;

use program::Program;

const GATEWAY: &str = env!("CARGO_BIN_EXE_ferry-gateway");
const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");
const AGENT_ID: &str = "edge-1";

/// A UDP load balancer for the agents: one front socket; each client (source address) gets
/// its own socket towards the current backend. Changing the backend (what a balancer does
/// when its health check finds one dead) moves every flow there on its next datagram.
struct UdpRelay {
    addr: SocketAddr,
    backend: watch::Sender<SocketAddr>,
}

impl UdpRelay {
    async fn start(backend: SocketAddr) -> Self {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = front.local_addr().unwrap();
        let (tx, rx) = watch::channel(backend);
        tokio::spawn(async move {
            // client -> (backend, its socket, the task relaying replies)
            let mut flows: HashMap<
                SocketAddr,
                (SocketAddr, Arc<UdpSocket>, tokio::task::JoinHandle<()>),
            > = HashMap::new();
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((n, client)) = front.recv_from(&mut buf).await else {
                    return;
                };
                let current = *rx.borrow();
                let stale = flows.get(&client).is_none_or(|(b, _, _)| *b != current);
                if stale {
                    if let Some((_, _, task)) = flows.remove(&client) {
                        task.abort();
                    }
                    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    up.connect(current).await.unwrap();
                    let (reply_up, reply_front) = (Arc::clone(&up), Arc::clone(&front));
                    let task = tokio::spawn(async move {
                        let mut buf = vec![0u8; 65_535];
                        // Errors (ICMP unreachable from a dead backend) are not fatal.
                        loop {
                            if let Ok(n) = reply_up.recv(&mut buf).await {
                                let _ = reply_front.send_to(&buf[..n], client).await;
                            }
                        }
                    });
                    flows.insert(client, (current, up, task));
                }
                let (_, up, _) = &flows[&client];
                let _ = up.send(&buf[..n]).await;
            }
        });
        Self { addr, backend: tx }
    }

    fn route_to(&self, backend: SocketAddr) {
        self.backend.send_replace(backend);
    }
}

/// A scratch directory with the gateways' certificate, the peer secret, the tokens and the
/// agent's config.
struct Files {
    dir: PathBuf,
    client_token: String,
}

impl Files {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ferry-cluster-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cert = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
        std::fs::write(dir.join("gw.pem"), cert.cert_pem()).unwrap();
        std::fs::write(dir.join("gw.key"), cert.key_pem()).unwrap();
        std::fs::write(dir.join("peer.secret"), "cluster-cli-secret-0123456789").unwrap();
        let mut files = Self {
            dir,
            client_token: String::new(),
        };
        let agent_token = files.new_token("agent");
        std::fs::write(files.dir.join("agent.token"), agent_token).unwrap();
        files.client_token = files.new_token("client");
        files
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn new_token(&self, role: &str) -> String {
        let out = Command::new(GATEWAY)
            .args(["token", "new", "--role", role, "--agent", AGENT_ID])
            .args(["--tokens", &self.path("tokens")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Gateway `name`'s config: every listener on port 0, the peer address advertised with its
    /// bound port, a 3 s record TTL refreshed every second.
    fn gateway(&self, name: &str, memcached: SocketAddr) -> PathBuf {
        let path = self.dir.join(format!("{name}.toml"));
        let text = format!(
            r#"
listen = "127.0.0.1:0"
agent_listen = "127.0.0.1:0"
allow = ["127.0.0.1"]
allow_special_addresses = true
[tls]
cert = "{cert}"
key = "{key}"
[auth]
tokens = "{tokens}"
[cluster]
registry = "memcached://{memcached}"
peer_listen = "127.0.0.1:0"
advertise = "127.0.0.1:0"
peer_ca = "{cert}"
peer_credential_file = "{secret}"
ttl = "3s"
heartbeat = "1s"
registry_timeout = "300ms"
lookup_timeout = "1s"
"#,
            cert = self.path("gw.pem"),
            key = self.path("gw.key"),
            tokens = self.path("tokens"),
            secret = self.path("peer.secret"),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The agent's config: the gateway address is the relay's; a lost gateway is noticed
    /// after 2 s without packets (keep-alive every 500 ms) and redialled within 400 ms.
    fn agent(&self, gateway: SocketAddr) -> PathBuf {
        let path = self.dir.join("agent.toml");
        let text = format!(
            r#"
gateway = "{gateway}"
server_name = "localhost"
ca = "{cert}"
agent_id = "{AGENT_ID}"
token_file = "{token}"
allow = ["127.0.0.1"]
allow_special_addresses = true
keep_alive = "500ms"
idle_timeout = "2s"
reconnect_min = "100ms"
reconnect_max = "400ms"
"#,
            cert = self.path("gw.pem"),
            token = self.path("agent.token"),
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `ferry-gateway --config` process and its addresses (read from its log).
struct Gateway {
    program: Program,
    client: SocketAddr,
    agents: SocketAddr,
    peer: SocketAddr,
}

impl Gateway {
    fn start(config: &Path) -> Self {
        let program = Program::spawn(GATEWAY, &["--config", config.to_str().unwrap()]);
        let agents = program.addr("gateway agent endpoint listening");
        let client = program.addr("gateway client front listening");
        let peer = program.addr("gateway peer listener listening");
        Self {
            program,
            client,
            agents,
            peer,
        }
    }
}

/// `CONNECT target` through `front` as the agent's client; the reply status, and the stream.
fn connect(front: SocketAddr, target: SocketAddr, token: &str) -> (u16, TcpStream) {
    use base64::Engine as _;
    let mut s = TcpStream::connect(front).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{AGENT_ID}:{token}"));
    write!(
        s,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {auth}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "closed before a full reply head"
        );
        head.push(b[0]);
    }
    let text = String::from_utf8(head).unwrap();
    (text[9..12].parse().unwrap(), s)
}

/// A tunnel through `front` carries `data` to the echo server and back, byte-exact, with
/// half-close in both directions.
fn tunnel_works(front: SocketAddr, echo: SocketAddr, token: &str, data: &[u8]) {
    let (status, mut s) = connect(front, echo, token);
    assert_eq!(status, 200, "CONNECT through {front}");
    let mut w = s.try_clone().unwrap();
    let data_w = data.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(&data_w).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == data, "bytes through {front} differ");
}

/// Polls the registry (bounded) until `agent`'s record names `owner`.
async fn wait_owner(registry: &MemcachedRegistry, owner: SocketAddr) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Some(entry)) = registry.lookup(AGENT_ID).await
                && entry.owner.addr == owner
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "the record never named {owner}");
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn two_gateways_one_agent_forwarding_outage_and_owner_crash() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = Files::new();
    let memcached = rt.block_on(Memcached::start()).unwrap();
    let mc_addr = memcached.addr();
    let registry = MemcachedRegistry::connect(mc_addr, Duration::from_millis(300));
    let a = Gateway::start(&files.gateway("a", mc_addr));
    let b = Gateway::start(&files.gateway("b", mc_addr));
    let relay = rt.block_on(UdpRelay::start(a.agents));
    let agent = Program::spawn(
        AGENT,
        &["--config", files.agent(relay.addr).to_str().unwrap()],
    );
    agent.wait_for("connected to the gateway");
    rt.block_on(wait_owner(&registry, a.peer));
    let echo = echo::echo();
    let token = files.client_token.as_str();

    // 1. Through the owner, and through the other gateway (forwarded to the owner).
    tunnel_works(a.client, echo, token, &payload(100_000));
    tunnel_works(b.client, echo, token, &payload(1 << 20));
    b.program.wait_for("status=200");

    // 2. memcached down: local tunnels work, remote ones fail fast.
    rt.block_on(memcached.stop()).unwrap();
    tunnel_works(
        a.client,
        echo,
        token,
        b"owner serves its agent without the registry",
    );
    let start = tokio::time::Instant::now();
    let (status, _) = connect(b.client, echo, token);
    assert_eq!(status, 503, "remote tunnel during the registry outage");
    // The lookup is bounded by lookup_timeout (1 s); 10 s is far from a hang.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "503 took {:?}",
        start.elapsed()
    );
    // memcached back, empty: A's heartbeat writes the record again, B forwards again.
    let memcached = rt
        .block_on(Memcached::start_on(Some(mc_addr.port())))
        .unwrap();
    rt.block_on(wait_owner(&registry, a.peer));
    tunnel_works(b.client, echo, token, b"recovered by itself");

    // 3. The owner crashes; the balancer moves the agent to B.
    let a_peer = a.peer;
    a.program.kill();
    relay.route_to(b.agents);
    agent.wait_for("connected to the gateway");
    // B serves the agent's clients at once, even while A's record is still fresh.
    tunnel_works(b.client, echo, token, b"local at b");
    // A's record expires by its TTL (nobody refreshes it); B's heartbeat then takes over.
    rt.block_on(wait_owner(&registry, b.peer));
    assert_ne!(a_peer, b.peer);
    tunnel_works(b.client, echo, token, &payload(300_000));

    assert_eq!(agent.terminate(), Some(0), "agent exit code after SIGTERM");
    assert_eq!(
        b.program.terminate(),
        Some(0),
        "gateway exit code after SIGTERM"
    );
    rt.block_on(memcached.stop()).unwrap();
}
