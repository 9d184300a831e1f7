//! Volume through the whole path (client, front, QUIC tunnel, agent, destination): bulk bytes
//! with half-close, and 200 tunnels at once over one agent.

use tokio::task::JoinSet;

use crate::harness::{Files, echo_server, payload, round_trip, start_agent, start_gateway, tunnel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_8_mib_is_byte_exact_with_half_close() {
    let files = Files::new(1);
    let (gw, agent) = crate::harness::gateway_and_agent(&files, "").await;
    let echo = echo_server().await;
    let data = payload(8 << 20, 7);
    let s = tunnel(gw.client, echo).await;
    // The client half-closes after its last byte; the echo's EOF comes back only after every
    // byte did, through the tunnel's half-close in both directions.
    let back = round_trip(s, &data).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes differ");
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_tunnels_over_one_agent() {
    let files = Files::new(1);
    // One source opens 200 tunnels at once: lift the per-source rate limit.
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "[limits]\nclient_rate = \"off\""))
        .await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let echo = echo_server().await;

    let mut opens = JoinSet::new();
    for _ in 0..200 {
        opens.spawn(tunnel(gw.client, echo));
    }
    let streams = opens.join_all().await;
    // All 200 are open at the same time on the one agent connection.
    assert_eq!(gw.tunnel.open_tunnels(), 200);
    let mut trips = JoinSet::new();
    for (i, s) in streams.into_iter().enumerate() {
        trips.spawn(async move {
            let data = payload(16 * 1024, i as u64);
            let back = round_trip(s, &data).await;
            assert!(back == data, "tunnel {i}: bytes differ");
        });
    }
    trips.join_all().await;
    // A client sees its tunnel's end before the gateway's connection task has dropped the
    // stream (and its slot): wait, bounded, for the last slot to be released.
    let released = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while gw.tunnel.open_tunnels() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        released.is_ok(),
        "{} tunnels still open",
        gw.tunnel.open_tunnels()
    );
    agent.stop().await;
    gw.stop().await;
}
