//! `Agent::update` while the agent runs: the next tunnel or connection attempt uses the new
//! settings; the live connection and its open tunnels are not touched.

use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_tunnel::{
    Agent, AgentId, AgentRejected, Backoff, Credential, Destination, Gateway, OpenError,
    QuicConfigError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::*;

/// An agent shared with the test (to update it while it runs).
struct Running {
    agent: Arc<Agent>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    fn start(agent: Agent) -> Self {
        let agent = Arc::new(agent);
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let a = Arc::clone(&agent);
        let task = tokio::spawn(async move {
            a.run(endpoint, async {
                let _ = rx.await;
            })
            .await;
        });
        Self { agent, stop, task }
    }

    async fn wait_for(
        &self,
        f: impl FnMut(&ferry_tunnel::AgentStatus) -> bool,
    ) -> ferry_tunnel::AgentStatus {
        let mut status = self.agent.status();
        tokio::time::timeout(Duration::from_secs(20), status.wait_for(f))
            .await
            .expect("agent status not reached in time")
            .unwrap()
            .clone()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

fn client() -> std::net::SocketAddr {
    "192.0.2.7:50000".parse().unwrap()
}

both_transports! {
#[tokio::test]
async fn new_allowlist_applies_to_the_next_tunnel_and_the_open_one_keeps_flowing() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    let running = Running::start(Agent::new(config.clone()).unwrap());
    running.wait_for(|s| s.connected).await;
    let echo = echo_server().await;
    let dest = Destination::try_from(echo).unwrap();

    // A tunnel opened under the old allowlist, in use.
    let mut live = gw
        .gateway
        .open(&id("site-1"), dest.clone(), client())
        .await
        .unwrap();
    live.write_all(b"before").await.unwrap();
    let mut back = [0u8; 6];
    live.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"before");

    // Now only 192.0.2.1 is allowed.
    let mut next = config.clone();
    next.allowlist = Arc::new(Allowlist::parse("192.0.2.1").unwrap());
    running.agent.update(next).unwrap();
    assert_eq!(running.agent.config().allowlist.len(), 1);
    let r = gw.gateway.open(&id("site-1"), dest.clone(), client()).await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");

    // The open tunnel is untouched, and so is the connection.
    let data = payload(256 * 1024, 3);
    assert_eq!(round_trip(live, &data).await, data);
    let status = running.wait_for(|s| s.updates == 1).await;
    assert_eq!(status.connects, 1);
    assert!(status.connected);

    // And back: allowed again from the next tunnel.
    running.agent.update(config).unwrap();
    let t = gw
        .gateway
        .open(&id("site-1"), dest, client())
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"again").await, b"again");
    running.stop().await;
    gw.stop().await;
}
}

/// Accepts only `new-token`.
fn verify_new(_id: &AgentId, credential: &str, _now: u64) -> Result<(), AgentRejected> {
    if credential == "new-token" {
        Ok(())
    } else {
        Err(AgentRejected::BadCredential)
    }
}

both_transports! {
#[tokio::test]
async fn new_credential_and_gateway_apply_at_the_next_connect_only() {
    let pki = Pki::new();
    let old_gw = start_gateway(&pki, fast_gateway_config()).await;
    let new_gw = start_gateway_with(
        &pki,
        Gateway::new(fast_gateway_config(), verify_new),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    let config = agent_config(&pki, old_gw.addr, "site-1", "token-site-1", "127.0.0.1");
    let running = Running::start(Agent::new(config.clone()).unwrap());
    running.wait_for(|s| s.connected).await;

    let mut next = config;
    next.credential = Credential::new("new-token").unwrap();
    next.gateway = new_gw.addr;
    running.agent.update(next).unwrap();
    // The live connection stays where it is, with the credential it authenticated with.
    let echo = echo_server().await;
    let t = old_gw
        .gateway
        .open(&id("site-1"), echo.try_into().unwrap(), client())
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"still").await, b"still");
    assert!(!new_gw.gateway.is_connected(&id("site-1")));
    assert_eq!(running.agent.status().borrow().connects, 1);

    // Once it is lost, the agent connects with the new settings, and is accepted at once.
    old_gw.stop().await;
    let status = running.wait_for(|s| s.connected && s.connects == 2).await;
    assert_eq!(status.rejections, 0);
    assert!(new_gw.gateway.is_connected(&id("site-1")));
    let t = new_gw
        .gateway
        .open(&id("site-1"), echo.try_into().unwrap(), client())
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"moved").await, b"moved");
    running.stop().await;
    new_gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn an_update_that_cannot_be_built_changes_nothing() {
    let pki = Pki::new();
    let config = agent_config(
        &pki,
        "127.0.0.1:9".parse().unwrap(),
        "site-1",
        "t",
        "127.0.0.1",
    );
    let agent = Agent::new(config.clone()).unwrap();
    let mut bad = config.clone();
    bad.quic.keep_alive_interval = Duration::from_secs(60);
    bad.allowlist = Arc::new(Allowlist::parse("192.0.2.1").unwrap());
    assert!(matches!(agent.update(bad), Err(QuicConfigError::KeepAlive)));
    assert_eq!(agent.config().quic, config.quic);
    assert_eq!(
        agent.config().allowlist.rules().next().unwrap().entry(),
        "127.0.0.1"
    );
    assert_eq!(agent.status().borrow().updates, 0);
}
}

both_transports! {
#[tokio::test]
async fn new_backoff_applies_to_the_next_delay() {
    let pki = Pki::new();
    // Nothing answers there: every attempt fails after the auth timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = agent_config(
        &pki,
        silent.local_addr().unwrap(),
        "site-1",
        "t",
        "127.0.0.1",
    );
    config.auth_timeout = Duration::from_millis(200);
    config.backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(50));
    // The top of every window: the delay is the window itself (less a nanosecond).
    let running = Running::start(Agent::new(config.clone()).unwrap().with_random(|| u64::MAX));
    let first = running.wait_for(|s| s.next_retry.is_some()).await;
    assert!(first.next_retry.unwrap() <= Duration::from_millis(50));

    let mut next = config;
    next.backoff = Backoff::new(Duration::from_secs(7), Duration::from_secs(7));
    running.agent.update(next).unwrap();
    let later = running
        .wait_for(|s| s.next_retry.is_some_and(|d| d > Duration::from_secs(1)))
        .await;
    assert!(
        later.next_retry.unwrap() > Duration::from_secs(6),
        "{later:?}"
    );
    assert_eq!(later.connects, 0);
    running.stop().await;
}
}

/// A group member's delay after an attempt is that of the back-off in force when the attempt
/// ends, as for the first connection: a member refused after `update` lowered the back-off
/// from an hour to 50 ms tries again at once, not an hour later.
#[tokio::test]
async fn a_members_delay_follows_the_backoff_in_force() {
    use ferry_tunnel::wire::{AuthReply, RejectReason};
    let pki = Pki::new();
    let gateway = RawTcpGateway::bind(&pki).await;
    let mut config = agent_config(&pki, gateway.addr(), "site-1", "token-site-1", "127.0.0.1");
    config.transport = ferry_tunnel::Transport::Tcp;
    config.connections = std::num::NonZeroU8::new(2);
    config.backoff = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
    let running = Running::start(Agent::new(config.clone()).unwrap().with_random(|| u64::MAX));

    // The first connection (member 0) is let in; the gateway drives HTTP/2 as its client.
    let (mut first, request) = gateway.accept_auth().await;
    assert_eq!(request.member.map(|m| m.index), Some(0));
    write_auth_reply(&mut first, AuthReply::Ok).await;
    let (_h2, h2_conn) = h2::client::handshake(first).await.unwrap();
    let _driver = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(h2_conn));
    running.wait_for(|s| s.connected).await;

    // Member 1's attempt starts under the hour-long back-off and is answered after the
    // update lowered it.
    let (mut second, request) = gateway.accept_auth().await;
    assert_eq!(request.member.map(|m| m.index), Some(1));
    let mut next = config;
    next.backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(50));
    running.agent.update(next).unwrap();
    write_auth_reply(&mut second, AuthReply::Rejected(RejectReason::NoGroup)).await;
    second.shutdown().await.unwrap();

    // Its next attempt comes within the new window (the old one would be over half an hour).
    let (_third, request) = gateway.accept_auth().await;
    assert_eq!(request.member.map(|m| m.index), Some(1));
    running.stop().await;
}
