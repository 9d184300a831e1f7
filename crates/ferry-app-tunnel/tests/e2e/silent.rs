//! Row E5: an agent that goes silent (its NAT mapping or network gone: a UDP relay between it
//! and the gateway starts dropping every datagram) is closed by the gateway at its idle bound,
//! and its registry record is released, not left to expire. CONNECTs to it then get 503;
//! when the network heals, the agent reconnects and CONNECTs work again.

use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_registry::MemcachedRegistry;

use crate::cluster::{cluster_table, record};
use crate::harness::{
    CLIENT_TOKEN, Files, ask, connect_agents, connect_request, echo_server, round_trip,
    start_agent, start_gateway, tunnel,
};
use crate::udp_relay::UdpRelay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agent_is_closed_at_the_idle_bound_and_its_record_released() {
    let memcached = Memcached::start().await.unwrap();
    let files = Files::new(1);
    // A record TTL of 10 minutes: a record gone within this test was released, not expired.
    let cluster = cluster_table(&files, &memcached, "ttl = \"600s\"\nheartbeat = \"60s\"");
    let gw = start_gateway(&files.gateway_config(
        "127.0.0.1:0",
        &format!("[timeouts]\nagent_keep_alive = \"300ms\"\nagent_idle = \"1s\"\n{cluster}"),
    ))
    .await;
    let relay = UdpRelay::start(gw.agents).await;
    let mut agent = start_agent(&files.agent_config(
        relay.addr,
        "edge-0",
        "keep_alive = \"300ms\"\nidle_timeout = \"1s\"",
    ))
    .await;
    agent.wait_for(|s| s.connected).await;
    let registry = MemcachedRegistry::connect(memcached.addr(), Duration::from_secs(1));
    record(&registry, "edge-0", true).await;
    let echo = echo_server().await;
    let t = tunnel(gw.client, echo).await;
    assert_eq!(round_trip(t, b"before").await, b"before");

    // Silence. Keep-alives (300 ms) stop arriving; the gateway closes the connection when
    // 1 s has passed without a packet, and releases the record at once.
    relay.set_dropping(true);
    connect_agents(&gw.tunnel, 0).await;
    record(&registry, "edge-0", false).await;
    assert!(
        relay.dropped() > 0,
        "nothing was dropped: the close was not the idle bound"
    );
    let (status, text, _) = ask(
        gw.client,
        &connect_request(&echo.to_string(), "edge-0", Some(CLIENT_TOKEN)),
        b"",
    )
    .await;
    assert_eq!(status, 503, "{text}");
    // The agent noticed too (its own idle timeout) and keeps trying through the dead relay.
    agent.wait_for(|s| !s.connected).await;
    assert_eq!(agent.status.borrow().connects, 1);

    // The network heals: the agent reconnects on its own and is served again.
    relay.set_dropping(false);
    agent.wait_for(|s| s.connected && s.connects == 2).await;
    connect_agents(&gw.tunnel, 1).await;
    record(&registry, "edge-0", true).await;
    let t = tunnel(gw.client, echo).await;
    assert_eq!(round_trip(t, b"after").await, b"after");

    agent.stop().await;
    gw.stop().await;
    memcached.stop().await.unwrap();
}
