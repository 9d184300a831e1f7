//! Gateway restarts: an agent comes back on its own, and 100 agents come back spread over
//! time by their back-off jitter rather than all at once.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::harness::{
    Files, connect_agents, echo_server, round_trip, start_agent, start_gateway, tunnel,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reconnects_after_the_gateway_restarts_on_the_same_port() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let port = gw.agents;
    let mut agent = start_agent(&files.agent_config(port, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let echo = echo_server().await;
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"one").await,
        b"one"
    );

    gw.stop().await;
    agent.wait_for(|s| !s.connected).await;
    // The same UDP port (bound as port 0 the first time), a new process state.
    let gw = start_gateway(&files.gateway_config(&port.to_string(), "")).await;
    assert_eq!(gw.agents, port);
    agent.wait_for(|s| s.connects >= 2 && s.connected).await;
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"two").await,
        b"two"
    );
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_storm_of_100_agents_is_spread_by_jitter() {
    const AGENTS: usize = 100;
    let files = Files::new(AGENTS);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let port = gw.agents;
    // After a lost connection each agent waits a uniform random time in [0, 1 s].
    let backoff = "reconnect_min = \"1s\"\nreconnect_max = \"1s\"";
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        agents.push(start_agent(&files.agent_config(port, &format!("edge-{i}"), backoff)).await);
    }
    for a in &mut agents {
        a.wait_for(|s| s.connected).await;
    }
    connect_agents(&gw.tunnel, AGENTS).await;

    gw.stop().await;
    let gw = start_gateway(&files.gateway_config(&port.to_string(), "")).await;
    let restarted = Instant::now();
    let mut waits = JoinSet::new();
    for mut a in agents {
        waits.spawn(async move {
            a.wait_for(|s| s.connects >= 2 && s.connected).await;
            (restarted.elapsed(), a)
        });
    }
    let results = waits.join_all().await;
    connect_agents(&gw.tunnel, AGENTS).await;
    let mut times: Vec<Duration> = results.iter().map(|(t, _)| *t).collect();
    times.sort();
    let spread = times[AGENTS - 1] - times[0];
    // Without jitter they would all come back within a few milliseconds of each other.
    assert!(
        spread >= Duration::from_millis(400),
        "reconnects spread over {spread:?} only"
    );
    let window = Duration::from_millis(100);
    let crowded = (0..AGENTS)
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        crowded <= AGENTS / 2,
        "{crowded} of {AGENTS} agents reconnected within one {window:?} window: {times:?}"
    );
    let mut stops = JoinSet::new();
    for (_, a) in results {
        stops.spawn(a.stop());
    }
    stops.join_all().await;
    gw.stop().await;
}
