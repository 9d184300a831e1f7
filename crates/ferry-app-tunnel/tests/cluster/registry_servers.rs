//! `cluster.registry` with several memcached servers, one named `localhost`: the registry a
//! gateway builds from its config, one server stopped and back, forwarding between two
//! gateways recovering at the owner's first heartbeat after it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferry_app_tunnel::config::{GatewayConfig, RegistrySpec};
use ferry_app_tunnel::gateway::load;
use ferry_memcache::testing::Memcached;
use ferry_registry::{Claim, Registry, agent_key, server_for};

use crate::harness::{Gateway, Pki, TOKEN, ask, echo_server, round_trip};

/// The registry a gateway builds from `registry = [...]` (the system resolver).
fn registry_from_config(servers: &[String]) -> (RegistrySpec, Arc<dyn Registry>) {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let text = format!(
        r#"
listen = "127.0.0.1:0"
agent_listen = "127.0.0.1:0"
allow = ["127.0.0.1:1-65535"]
[tls]
self_signed = true
[auth]
tokens = "tokens.txt"
[cluster]
registry = [{}]
peer_listen = "127.0.0.1:0"
advertise = "127.0.0.1:0"
peer_ca = "ca.pem"
peer_credential_file = "peer.secret"
registry_timeout = "500ms"
"#,
        list.join(", ")
    );
    let cluster = GatewayConfig::from_toml(&text).unwrap().cluster.unwrap();
    let registry = load::registry(&cluster).unwrap();
    (cluster.registry, registry)
}

/// An agent id whose record the scheme places on `names[want]`.
fn agent_on(want: usize, names: &[String], prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|a| server_for(&agent_key(a), names) == Some(want))
        .unwrap()
}

#[tokio::test]
async fn one_registry_server_stopped_forwarding_recovers_at_the_next_heartbeat() {
    let m0 = Memcached::start().await.unwrap();
    let m1 = Memcached::start().await.unwrap();
    let port1 = m1.addr().port();
    // Server 0 by host name, server 1 by address; gateway B lists them in the other order.
    let urls = [
        format!("memcached://localhost:{}", m0.addr().port()),
        format!("memcached://{}", m1.addr()),
    ];
    let (spec, reg_a) = registry_from_config(&urls);
    let (spec_b, reg_b) = registry_from_config(&[urls[1].clone(), urls[0].clone()]);
    assert_eq!(spec, spec_b);
    let names = [
        format!("localhost:{}", m0.addr().port()),
        m1.addr().to_string(),
    ];
    let on_lost = agent_on(1, &names, "edge-lost");
    let on_kept = agent_on(0, &names, "edge-kept");

    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&reg_a), &[], &pki).await;
    let b = Gateway::start(Arc::clone(&reg_b), &[], &pki).await;
    assert_eq!(a.agent_connects(&on_lost).await, Claim::Claimed);
    assert_eq!(a.agent_connects(&on_kept).await, Claim::Claimed);
    let echo = echo_server().await;
    for agent in [&on_lost, &on_kept] {
        let (status, tunnel) = ask(b.client_addr, echo, agent, TOKEN).await;
        assert_eq!(status, 200, "{agent} through B before the outage");
        assert_eq!(round_trip(tunnel, b"before").await, b"before");
    }
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 2);

    m1.stop().await.unwrap();
    // The stopped server's agent: B's lookup fails fast, 503; the other one still forwards.
    let (status, _) = ask(b.client_addr, echo, &on_lost, TOKEN).await;
    assert_eq!(status, 503);
    let (status, tunnel) = ask(b.client_addr, echo, &on_kept, TOKEN).await;
    assert_eq!(status, 200, "the other server's agents are unaffected");
    assert_eq!(round_trip(tunnel, b"kept").await, b"kept");
    let beat = a.keeper.beat().await;
    assert_eq!((beat.owned, beat.failed), (1, 1));

    // Back, empty: no record yet (503 without contacting A), then A's next heartbeat writes
    // it again and B forwards once more.
    let _m1 = Memcached::start_on(Some(port1)).await.unwrap();
    let (status, _) = ask(b.client_addr, echo, &on_lost, TOKEN).await;
    assert_eq!(status, 503);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 3);
    let beat = a.keeper.beat().await;
    assert_eq!((beat.owned, beat.failed), (2, 0));
    let (status, tunnel) = ask(b.client_addr, echo, &on_lost, TOKEN).await;
    assert_eq!(status, 200, "forwarding recovered at the first heartbeat");
    assert_eq!(round_trip(tunnel, b"after").await, b"after");
    assert_eq!(reg_b.lookup(&on_lost).await.unwrap().unwrap().owner, a.me);
}
