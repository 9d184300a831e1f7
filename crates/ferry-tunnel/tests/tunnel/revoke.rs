//! `Gateway::revalidate`: agents whose credential no longer verifies are disconnected at once
//! and refused when they come back; the others, and their live tunnels, are untouched.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ferry_tunnel::{AgentId, AgentRejected, Gateway, RejectReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// `token-<id>` for ids not in `revoked`; ids in `undecided` get `Unavailable`.
#[derive(Clone, Default)]
struct Switchable {
    revoked: Arc<Mutex<HashSet<String>>>,
    undecided: Arc<Mutex<HashSet<String>>>,
}

impl Switchable {
    fn verifier(&self) -> impl Fn(&AgentId, &str, u64) -> Result<(), AgentRejected> + use<> {
        let this = self.clone();
        move |id: &AgentId, credential: &str, now: u64| {
            if this.undecided.lock().unwrap().contains(id.as_str()) {
                return Err(AgentRejected::Unavailable);
            }
            if this.revoked.lock().unwrap().contains(id.as_str()) {
                return Err(AgentRejected::BadCredential);
            }
            verify(id, credential, now)
        }
    }
}

both_transports! {
#[tokio::test]
async fn revoked_agent_is_disconnected_and_refused_while_others_keep_their_tunnels() {
    let pki = Pki::new();
    let switch = Switchable::default();
    let gw = start_gateway_with(
        &pki,
        Gateway::new(fast_gateway_config(), switch.verifier()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    let mut keep = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    let mut gone = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-2",
        "token-site-2",
        "127.0.0.1",
    ));
    let mut shaky = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-3",
        "token-site-3",
        "127.0.0.1",
    ));
    keep.wait_for(|s| s.connected).await;
    gone.wait_for(|s| s.connected).await;
    shaky.wait_for(|s| s.connected).await;

    // A live tunnel through the agent that stays.
    let echo = echo_server().await;
    let mut live = gw
        .gateway
        .open(
            &id("site-1"),
            echo.try_into().unwrap(),
            "192.0.2.1:1".parse().unwrap(),
        )
        .await
        .unwrap();
    live.write_all(b"before").await.unwrap();
    let mut buf = [0u8; 6];
    live.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"before");

    // Nothing changed: nobody is revoked.
    let none = gw.gateway.revalidate();
    assert_eq!(none.checked, 3);
    assert!(none.revoked.is_empty());

    switch.revoked.lock().unwrap().insert("site-2".to_owned());
    switch.undecided.lock().unwrap().insert("site-3".to_owned());
    let done = gw.gateway.revalidate();
    assert_eq!(done.checked, 3);
    assert_eq!(done.revoked, vec![id("site-2")]);
    assert_eq!(done.undecided, 1);
    // Removed from the table at once, not when the close is noticed.
    assert!(!gw.gateway.is_connected(&id("site-2")));
    assert!(gw.gateway.is_connected(&id("site-1")));
    assert!(
        gw.gateway.is_connected(&id("site-3")),
        "an undecided agent is kept"
    );

    // The revoked agent loses its connection and is refused when it comes back.
    let refused = gone.wait_for(|s| !s.connected && s.rejections >= 1).await;
    assert_eq!(refused.last_rejection, Some(RejectReason::BadCredential));
    assert_eq!(refused.connects, 1);
    assert!(!gw.gateway.is_connected(&id("site-2")));

    // The live tunnel of the agent that stayed still carries bytes, on the same connection.
    live.write_all(b"after!").await.unwrap();
    live.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"after!");
    assert_eq!(keep.status.borrow().connects, 1);

    drop(live);
    keep.stop().await;
    gone.stop().await;
    shaky.stop().await;
    gw.stop().await;
}
}

both_transports! {
/// An agent verified against the old data while a revalidation runs is verified again when it
/// registers: it does not slip through.
#[tokio::test]
async fn agent_verified_before_a_revalidation_is_checked_again_when_it_registers() {
    let pki = Pki::new();
    let switch = Switchable::default();
    let gateway_slot: Arc<std::sync::OnceLock<Gateway>> = Arc::default();
    let slot = Arc::clone(&gateway_slot);
    let inner = switch.verifier();
    let s = switch.clone();
    // The first verification of `late` passes (old data), and the data changes and a
    // revalidation runs right after it, before the agent registers.
    let verifier = move |id: &AgentId, credential: &str, now: u64| {
        let first = id.as_str() == "late" && !s.revoked.lock().unwrap().contains("late");
        let verdict = inner(id, credential, now);
        if first {
            s.revoked.lock().unwrap().insert("late".to_owned());
            let done = slot.get().unwrap().revalidate();
            assert!(done.revoked.is_empty(), "not registered yet");
        }
        verdict
    };
    let gateway = Gateway::new(fast_gateway_config(), verifier);
    gateway_slot.set(gateway.clone()).ok().unwrap();
    let gw = start_gateway_with(&pki, gateway, "127.0.0.1:0".parse().unwrap()).await;
    let mut late = start_agent(agent_config(
        &pki,
        gw.addr,
        "late",
        "token-late",
        "127.0.0.1",
    ));
    let status = late.wait_for(|s| s.rejections >= 1).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    assert!(!gw.gateway.is_connected(&id("late")));
    assert_eq!(gw.gateway.connected_agents(), 0);
    late.stop().await;
    gw.stop().await;
}
}
