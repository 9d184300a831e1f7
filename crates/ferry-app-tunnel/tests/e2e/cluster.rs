//! `[cluster]` wiring: the tunnel's agent events drive the registry keeper, so a real agent
//! connecting to a real gateway appears in memcached under that gateway, and disappears when
//! it disconnects.

use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_registry::{MemcachedRegistry, Registry};

use crate::harness::{Files, start_agent, start_gateway};

/// Waits (bounded) until the record of `agent` is present or absent as asked; returns it.
pub(crate) async fn record(
    registry: &MemcachedRegistry,
    agent: &str,
    present: bool,
) -> Option<ferry_registry::Entry> {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let found = registry.lookup(agent).await.unwrap();
            if found.is_some() == present {
                return found;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("registry record not in the expected state in time")
}

/// A `[cluster]` table against `memcached`, advertising 127.0.0.1:7443, with `extra` keys
/// (writes the peer secret file into `files`).
pub(crate) fn cluster_table(files: &Files, memcached: &Memcached, extra: &str) -> String {
    std::fs::write(files.dir.join("peer.secret"), "cluster-secret-0123456789").unwrap();
    format!(
        r#"
        [cluster]
        registry = "memcached://{}"
        peer_listen = "127.0.0.1:0"
        advertise = "127.0.0.1:7443"
        peer_ca = "{}"
        peer_credential_file = "{}"
        {extra}
        "#,
        memcached.addr(),
        files.path("gw.pem"),
        files.path("peer.secret"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_gateway_claims_and_releases_its_agents_in_memcached() {
    let memcached = Memcached::start().await.unwrap();
    let files = Files::new(1);
    let cluster = cluster_table(&files, &memcached, "");
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", &cluster)).await;
    let registry = MemcachedRegistry::connect(memcached.addr(), Duration::from_secs(1));
    assert!(registry.lookup("edge-0").await.unwrap().is_none());

    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let entry = record(&registry, "edge-0", true).await.unwrap();
    assert_eq!(entry.owner.addr, "127.0.0.1:7443".parse().unwrap());

    agent.stop().await;
    record(&registry, "edge-0", false).await;
    gw.stop().await;
    memcached.stop().await.unwrap();
}

/// The registry and forwarding between gateways work with an agent on the TCP transport: the
/// agent holds a TCP connection to gateway A (recorded in memcached as A's), and a client
/// entering through gateway B is forwarded to A and through the agent, bytes exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_at_b_reaches_an_agent_on_tcp_at_a() {
    let memcached = Memcached::start().await.unwrap();
    let files = Files::new(1);
    let cluster = cluster_table(&files, &memcached, "").replace(
        "advertise = \"127.0.0.1:7443\"",
        "advertise = \"127.0.0.1:0\"",
    );
    let a = start_gateway(&files.gateway_config("127.0.0.1:0", &cluster)).await;
    let b = start_gateway(&files.gateway_config("127.0.0.1:0", &cluster)).await;
    let mut agent =
        start_agent(&files.agent_config(a.agents, "edge-0", "transport = \"tcp\"")).await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(ferry_tunnel::TransportKind::Tcp));
    let registry = MemcachedRegistry::connect(memcached.addr(), Duration::from_secs(1));
    record(&registry, "edge-0", true).await.unwrap();
    let echo = crate::harness::echo_server().await;
    let data = crate::harness::payload(256 * 1024, 5);
    let back =
        crate::harness::round_trip(crate::harness::tunnel(b.client, echo).await, &data).await;
    assert!(back == data, "bytes differ");
    assert_eq!(
        b.tunnel.connected_agents(),
        0,
        "the agent is connected to A only"
    );
    agent.stop().await;
    record(&registry, "edge-0", false).await;
    b.stop().await;
    a.stop().await;
    memcached.stop().await.unwrap();
}
