//! DNS rebinding (rows D3, D4): the agent resolves a destination name once per tunnel, checks
//! every address of that one answer, and dials only an address that passed. A scripted
//! resolver answers `127.0.0.2` (allowed by an explicit address rule) or `127.0.0.3` (loopback
//! without a rule: denied); both listen on the same port.

use std::sync::Arc;
use std::time::Duration;

use ferry_test_support::net::{accepted, nothing_accepted, same_port_listeners};
use ferry_test_support::resolve::Scripted;
use ferry_tunnel::{Destination, OpenError};
use tokio::net::TcpListener;

use crate::common::*;
use crate::tunnels::client;

/// A gateway and an agent whose allowlist names `rebind.test` and allows `127.0.0.2` only, with
/// names resolved by `dns`.
async fn agent_with(dns: &Arc<Scripted>) -> (Pki, GatewayHandle, AgentHandle) {
    agent_with_dial_timeout(dns, None).await
}

/// [`agent_with`], with the agent's dial timeout set when `dial_timeout` is given.
async fn agent_with_dial_timeout(
    dns: &Arc<Scripted>,
    dial_timeout: Option<Duration>,
) -> (Pki, GatewayHandle, AgentHandle) {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let mut config = agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "rebind.test, 127.0.0.2/32",
    )
    .with_resolver(dns.clone());
    if let Some(t) = dial_timeout {
        config.dial_timeout = t;
    }
    let mut agent = start_agent(config);
    agent.wait_for(|s| s.connected).await;
    (pki, gw, agent)
}

fn rebind_test(allowed: &TcpListener) -> Destination {
    Destination::parse("rebind.test", allowed.local_addr().unwrap().port()).unwrap()
}

both_transports! {
#[tokio::test]
async fn the_agent_dials_the_checked_address_and_never_resolves_again() {
    let [allowed, denied] = same_port_listeners(["127.0.0.2", "127.0.0.3"]).await;
    let dns = Arc::new(Scripted::new([&["127.0.0.2"], &["127.0.0.3"]]));
    let (_pki, gw, agent) = agent_with(&dns).await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), rebind_test(&allowed), client())
        .await;
    assert!(tunnel.is_ok(), "{:?}", tunnel.err());
    accepted(&allowed).await;
    assert!(
        nothing_accepted(&denied).await,
        "the second answer was dialled"
    );
    assert_eq!(dns.calls(), 1, "resolved more than once for one tunnel");
    assert_eq!(dns.names(), ["rebind.test"]);
    drop(tunnel);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn a_denied_first_answer_is_denied_and_nothing_is_dialled() {
    let [allowed, denied] = same_port_listeners(["127.0.0.2", "127.0.0.3"]).await;
    let dns = Arc::new(Scripted::new([&["127.0.0.3"], &["127.0.0.2"]]));
    let (_pki, gw, agent) = agent_with(&dns).await;
    let r = gw
        .gateway
        .open(&id("site-1"), rebind_test(&allowed), client())
        .await;
    assert!(matches!(r, Err(OpenError::Denied)), "{r:?}");
    assert!(
        nothing_accepted(&allowed).await,
        "the second answer was used"
    );
    assert!(
        nothing_accepted(&denied).await,
        "a denied address was dialled"
    );
    assert_eq!(dns.calls(), 1);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
#[tokio::test]
async fn denied_addresses_of_a_mixed_answer_are_skipped() {
    let [allowed, denied] = same_port_listeners(["127.0.0.2", "127.0.0.3"]).await;
    // The denied address first: dialling in answer order without the check would reach it.
    let dns = Arc::new(Scripted::new([&["127.0.0.3", "127.0.0.2"]]));
    let (_pki, gw, agent) = agent_with(&dns).await;
    let tunnel = gw
        .gateway
        .open(&id("site-1"), rebind_test(&allowed), client())
        .await;
    assert!(tunnel.is_ok(), "{:?}", tunnel.err());
    accepted(&allowed).await;
    assert!(
        nothing_accepted(&denied).await,
        "a denied address was dialled"
    );
    assert_eq!(dns.calls(), 1);
    drop(tunnel);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
/// Row D5: a resolver that never answers is bounded by the agent's dial timeout (the lookup is
/// inside the dial budget): the gateway gets the agent's `Timeout` status (504 at the front).
#[tokio::test]
async fn a_resolver_that_never_answers_is_cut_by_the_dial_timeout() {
    let dns = Arc::new(Scripted::never_answering());
    let (_pki, gw, agent) = agent_with_dial_timeout(&dns, Some(Duration::from_millis(300))).await;
    let dest = Destination::parse("rebind.test", 9).unwrap();
    let r = gw.gateway.open(&id("site-1"), dest, client()).await;
    assert!(
        matches!(r, Err(OpenError::Dial(ferry_tunnel::TunnelStatus::Timeout))),
        "{:?}",
        r.err()
    );
    assert_eq!(dns.calls(), 1);
    agent.stop().await;
    gw.stop().await;
}
}

both_transports! {
/// Row D5: a failing lookup is answered with the `DnsFailure` status (502 at the front).
#[tokio::test]
async fn a_failing_lookup_is_answered_with_dns_failure() {
    let dns = Arc::new(Scripted::new([&[]]));
    let (_pki, gw, agent) = agent_with(&dns).await;
    let dest = Destination::parse("rebind.test", 9).unwrap();
    let r = gw.gateway.open(&id("site-1"), dest, client()).await;
    assert!(
        matches!(
            r,
            Err(OpenError::Dial(ferry_tunnel::TunnelStatus::DnsFailure))
        ),
        "{:?}",
        r.err()
    );
    assert_eq!(dns.calls(), 1);
    agent.stop().await;
    gw.stop().await;
}
}
