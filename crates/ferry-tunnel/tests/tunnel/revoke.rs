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

/// The members of a group hold the same credential: a revalidation verifies it once per
/// agent, not once per connection, and still acts on every member.
#[tokio::test]
async fn revalidation_verifies_a_shared_credential_once() {
    let pki = Pki::new();
    let switch = Switchable::default();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let inner = switch.verifier();
    let log = Arc::clone(&calls);
    let verifier = move |id: &AgentId, credential: &str, now: u64| {
        log.lock().unwrap().push(id.as_str().to_owned());
        inner(id, credential, now)
    };
    let gw = start_gateway_with(
        &pki,
        Gateway::new(fast_gateway_config(), verifier),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    let g = gw.gateway.clone();
    // site-1: four members over QUIC; site-2: three over TCP.
    let mut site_1 = Vec::new();
    for index in 0..4 {
        let (endpoint, conn, reply) = raw_agent(&pki, gw.addr, "site-1", member(0xa, index)).await;
        assert_eq!(reply, ferry_tunnel::wire::AuthReply::Ok);
        until(&g, "site-1 member registered", |g| {
            g.agent_connections(&id("site-1")) == usize::from(index) + 1
        })
        .await;
        site_1.push((endpoint, conn));
    }
    let mut site_2 = Vec::new();
    for index in 0..3 {
        site_2.push(raw_tcp_agent(&pki, gw.addr, "site-2", member(0xb, index)).await);
        until(&g, "site-2 member registered", |g| {
            g.agent_connections(&id("site-2")) == usize::from(index) + 1
        })
        .await;
    }
    let round = |g: &Gateway| {
        calls.lock().unwrap().clear();
        let done = g.revalidate();
        let mut verified = calls.lock().unwrap().clone();
        verified.sort();
        (done, verified)
    };
    let both = vec!["site-1".to_owned(), "site-2".to_owned()];

    let (done, verified) = round(&g);
    assert_eq!(verified, both, "one verification per agent");
    assert_eq!(
        (done.checked, done.revoked.len(), done.undecided),
        (2, 0, 0)
    );

    switch.undecided.lock().unwrap().insert("site-2".to_owned());
    let (done, verified) = round(&g);
    assert_eq!(verified, both);
    assert_eq!((done.revoked.len(), done.undecided), (0, 1));
    assert_eq!(g.agent_connections(&id("site-2")), 3, "undecided: kept");

    switch.revoked.lock().unwrap().insert("site-1".to_owned());
    let (done, verified) = round(&g);
    assert_eq!(verified, both);
    assert_eq!(done.revoked, vec![id("site-1")]);
    assert_eq!(done.undecided, 1);
    assert!(
        !g.is_connected(&id("site-1")),
        "every member of site-1 dropped"
    );
    assert_eq!(g.agent_connections(&id("site-2")), 3);
    for (_endpoint, conn) in &site_1 {
        conn.closed().await;
        assert_eq!(
            conn.close_reason(),
            Some(quinn::ConnectionError::ApplicationClosed(
                quinn::ApplicationClose {
                    error_code: ferry_tunnel::wire::close_code::AUTH_REJECTED.into(),
                    reason: b"credential revoked".to_vec().into(),
                }
            ))
        );
    }
    drop(site_2);
    gw.stop().await;
}
