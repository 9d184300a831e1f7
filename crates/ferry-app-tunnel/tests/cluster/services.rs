//! A `[[service]]` at a gateway that does not hold its agent reaches it through the owner, over
//! the same routed opener the client front uses, with a real memcached as the registry.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry_app_tunnel::config::GatewayConfig;
use ferry_app_tunnel::service::Services;
use ferry_memcache::testing::Memcached;
use ferry_registry::{Claim, MemcachedRegistry, Registry};
use tokio::net::TcpStream;

use crate::harness::{Gateway, Pki, echo_server, round_trip};

#[tokio::test]
async fn a_service_at_b_reaches_the_agent_at_a_through_the_owner() {
    let memcached = Memcached::start().await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemcachedRegistry::connect(
        memcached.addr(),
        Duration::from_millis(500),
    ));
    let pki = Pki::new();
    let a = Gateway::start(Arc::clone(&registry), &["edge-a"], &pki).await;
    let b = Gateway::start(Arc::clone(&registry), &[], &pki).await;
    assert_eq!(
        registry
            .claim("edge-a", &a.me, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Claimed
    );
    let echo = echo_server().await;
    // Validation reads no file: the paths are never opened here.
    let config = GatewayConfig::from_toml(&format!(
        r#"
        listen = "127.0.0.1:0"
        agent_listen = "127.0.0.1:0"
        allow = ["127.0.0.1"]
        [tls]
        self_signed = true
        [auth]
        tokens = "unused"
        [[service]]
        name = "via-owner"
        bind = "127.0.0.1:0"
        agent = "edge-a"
        destination = "{echo}"
        "#
    ))
    .unwrap();
    let services = Services::bind(b.front.clone(), &config.services).unwrap();
    services.start();

    let s = TcpStream::connect(services.addr("via-owner").unwrap())
        .await
        .unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(round_trip(s, &data).await, data);
    assert_eq!(a.peer_accepts.load(Ordering::SeqCst), 1, "forwarded to A");
    assert_eq!(a.local.opens.load(Ordering::SeqCst), 1, "opened at A");
    services.drain(Duration::from_secs(10)).await;
    assert_eq!(services.stats("via-owner").connections("ok"), 1);
    a.kill().await;
    b.kill().await;
}
