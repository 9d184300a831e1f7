//! The registry: compare-and-swap semantics, expiry, and the gateway keeping it current.

use std::sync::Arc;
use std::time::Duration;

use ferry_tunnel::{MemoryRegistry, Registry};

use crate::common::*;

#[tokio::test(start_paused = true)]
async fn memory_registry_semantics() {
    let r = MemoryRegistry::new();
    let a = id("site-1");
    let ttl = Duration::from_secs(30);
    assert_eq!(r.lookup(&a).await.unwrap(), None);
    assert_eq!(r.claim(&a, "gw-1", ttl).await.unwrap(), None);
    assert_eq!(r.lookup(&a).await.unwrap().as_deref(), Some("gw-1"));
    // Another gateway takes over: the previous owner is reported.
    assert_eq!(
        r.claim(&a, "gw-2", ttl).await.unwrap().as_deref(),
        Some("gw-1")
    );
    // The old owner can neither refresh nor release the new owner's entry.
    assert!(!r.refresh(&a, "gw-1", ttl).await.unwrap());
    assert!(!r.release(&a, "gw-1").await.unwrap());
    assert_eq!(r.lookup(&a).await.unwrap().as_deref(), Some("gw-2"));
    // Refresh extends; without it the entry expires.
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(r.refresh(&a, "gw-2", ttl).await.unwrap());
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(r.lookup(&a).await.unwrap().as_deref(), Some("gw-2"));
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(r.lookup(&a).await.unwrap(), None);
    assert!(!r.refresh(&a, "gw-2", ttl).await.unwrap());
    // Release by the owner deletes.
    r.claim(&a, "gw-3", ttl).await.unwrap();
    assert!(r.release(&a, "gw-3").await.unwrap());
    assert!(r.is_empty());
    // Owners are validated (no spaces, bounded).
    assert!(r.claim(&a, "has space", ttl).await.is_err());
    assert!(r.claim(&a, "", ttl).await.is_err());
}

#[tokio::test]
async fn gateway_records_and_releases_its_agents() {
    let pki = Pki::new();
    let registry = Arc::new(MemoryRegistry::new());
    let gw = start_gateway_registry(&pki, Arc::clone(&registry), "gw-a:7443").await;
    let mut agent = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    agent.wait_for(|s| s.connected).await;
    let owner = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(o) = registry.lookup(&id("site-1")).await.unwrap() {
                return o;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(owner, "gw-a:7443");
    agent.stop().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while registry.lookup(&id("site-1")).await.unwrap().is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gw.stop().await;
}

/// When another gateway takes the agent over in the registry, this gateway notices at its next
/// refresh and closes its stale connection (code 4, "replaced").
#[tokio::test]
async fn gateway_that_lost_ownership_closes_the_stale_connection() {
    let pki = Pki::new();
    let registry = Arc::new(MemoryRegistry::new());
    let mut config = fast_gateway_config();
    config.registry_ttl = Duration::from_millis(300);
    let gateway = ferry_tunnel::Gateway::builder(config, verify)
        .registry(Arc::clone(&registry) as Arc<dyn Registry>, "gw-a")
        .build()
        .unwrap();
    let gw = start_gateway_with(&pki, gateway, "127.0.0.1:0".parse().unwrap()).await;
    let mut agent_config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    agent_config.backoff =
        ferry_tunnel::Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
    let mut agent = start_agent(agent_config);
    agent.wait_for(|s| s.connected).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while registry.lookup(&id("site-1")).await.unwrap().is_none() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    registry
        .claim(&id("site-1"), "gw-b", Duration::from_secs(60))
        .await
        .unwrap();
    let status = agent.wait_for(|s| s.replaced == 1).await;
    assert!(!status.connected);
    assert!(!gw.gateway.is_connected(&id("site-1")));
    // The other gateway's entry is left alone.
    assert_eq!(
        registry.lookup(&id("site-1")).await.unwrap().as_deref(),
        Some("gw-b")
    );
    agent.stop().await;
    gw.stop().await;
}
