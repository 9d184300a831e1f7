//! Reconnects after a gateway restart, and the spread of a reconnect storm.

use std::time::Duration;

use ferry_tunnel::{Backoff, Gateway};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::common::*;

both_transports! {
#[tokio::test]
async fn agent_reconnects_after_the_gateway_restarts_on_the_same_port() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let addr = gw.addr;
    let mut agent = start_agent(agent_config(
        &pki,
        addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    agent.wait_for(|s| s.connected).await;
    gw.stop().await;
    let lost = agent.wait_for(|s| !s.connected).await;
    assert_eq!(lost.connects, 1);

    let gw = start_gateway_with(&pki, Gateway::new(fast_gateway_config(), verify), addr).await;
    let status = agent.wait_for(|s| s.connected && s.connects == 2).await;
    assert_eq!(status.rejections, 0);
    registered(&gw.gateway, &id("site-1")).await;
    let echo = echo_server().await;
    let t = gw
        .gateway
        .open(
            &id("site-1"),
            echo.try_into().unwrap(),
            "192.0.2.1:1".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(round_trip(t, b"again").await, b"again");
    agent.stop().await;
    gw.stop().await;
}
}

/// 100 agents that lost the gateway at the same instant pick their first reconnect delay with
/// full jitter: spread over the whole window, not bunched.
#[test]
fn storm_of_100_agents_is_spread_by_jitter() {
    let backoff = Backoff::default(); // window of the first attempt: 500 ms
    let mut rng = StdRng::seed_from_u64(7);
    let mut delays: Vec<Duration> = (0..100).map(|_| backoff.delay(0, rng.random())).collect();
    delays.sort();
    let window = backoff.ceiling(0);
    assert!(delays.iter().all(|d| *d <= window));
    // Spread: the first and last are near the ends, and no tenth of the window holds more than
    // a quarter of the agents (uniform would be 10 per bucket).
    assert!(
        delays[0] < window / 10 && delays[99] > window * 9 / 10,
        "{delays:?}"
    );
    let mut buckets = [0u32; 10];
    for d in &delays {
        let i = (d.as_nanos() * 10 / (window.as_nanos() + 1)) as usize;
        buckets[i] += 1;
    }
    assert!(buckets.iter().all(|&n| n <= 25), "{buckets:?}");
    // Later attempts: windows double up to the cap, delays stay inside them.
    for attempt in 0..12 {
        let c = backoff.ceiling(attempt);
        assert!(c <= backoff.cap);
        for _ in 0..50 {
            let d = backoff.delay(attempt, rng.random());
            assert!(d <= c);
            let r = backoff.delay_after_rejection(attempt, rng.random());
            assert!(r >= c / 2 && r <= c);
        }
    }
    assert_eq!(backoff.ceiling(100), backoff.cap);
}

both_transports! {
/// A real, smaller storm: 20 agents, gateway restart, every agent reconnects, and the delays
/// they chose are spread over the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_20_real_agents_reconnects_after_restart() {
    let pki = Pki::new();
    let gw = start_gateway(&pki, fast_gateway_config()).await;
    let addr = gw.addr;
    let mut agents = Vec::new();
    for i in 0..20 {
        let name = format!("agent-{i}");
        let mut config = agent_config(&pki, addr, &name, &format!("token-{name}"), "127.0.0.1");
        config.backoff = Backoff::new(Duration::from_millis(400), Duration::from_secs(2));
        agents.push(start_agent(config));
    }
    for a in &mut agents {
        a.wait_for(|s| s.connected).await;
    }
    // Each agent reads its `ok` a moment before the gateway's table has it.
    until(&gw.gateway, "20 agents registered", |g| g.connected_agents() == 20).await;
    gw.stop().await;
    for a in &mut agents {
        a.wait_for(|s| !s.connected).await;
    }
    let restarted = Instant::now();
    let gw = start_gateway_with(&pki, Gateway::new(fast_gateway_config(), verify), addr).await;
    let mut waits = Vec::new();
    for a in &agents {
        let mut status = a.status.clone();
        waits.push(tokio::spawn(async move {
            status
                .wait_for(|s| s.connected && s.connects >= 2)
                .await
                .unwrap();
            Instant::now()
        }));
    }
    let mut back = Vec::new();
    for w in waits {
        let at = tokio::time::timeout(Duration::from_secs(20), w)
            .await
            .unwrap()
            .unwrap();
        back.push(at - restarted);
    }
    // Each agent reads its `ok` a moment before the gateway's table has it.
    until(&gw.gateway, "20 agents registered", |g| g.connected_agents() == 20).await;
    back.sort();
    let spread = *back.last().unwrap() - back[0];
    // Not all at once: the reconnects are spread over the jitter windows.
    assert!(spread >= Duration::from_millis(100), "{back:?}");
    for a in agents {
        a.stop().await;
    }
    gw.stop().await;
}
}
