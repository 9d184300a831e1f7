//! `reuse_port`: two proxies on one address (the zero-downtime restart: start the new one,
//! drain the old one), and the setting cannot change on reload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{proxied, start, upstream};
use ferry_app_proxy::{ConfigReloadError, ProxyConfig};

fn config_at(bind: &str, upstream: std::net::SocketAddr, reuse_port: bool) -> ProxyConfig {
    ProxyConfig::from_toml(&format!(
        "[[listener]]\nbind = \"{bind}\"\nreuse_port = {reuse_port}\npool = \"p\"\n\
         [pool.p]\nupstreams = [\"{upstream}\"]\n"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_second_proxy_shares_the_address_and_serves_after_the_first_drains() {
    let up = upstream(b'A').await;
    let old = start(config_at("127.0.0.1:0", up.addr, true)).await;
    let addr = old.addr();
    let new = start(config_at(&addr.to_string(), up.addr, true)).await;
    assert_eq!(new.addr(), addr);
    let held = proxied("127.0.0.1", addr).await;
    // Drain the old one; its open connection (if the kernel gave it this one) ends, so the
    // drain finishes.
    let stopping = tokio::spawn(old.stop());
    drop(held);
    let old_report = stopping.await.unwrap();
    // With the old process gone, the address still answers: the new one has it.
    for _ in 0..3 {
        drop(proxied("127.0.0.1", addr).await);
    }
    let new_report = new.stop().await;
    assert_eq!(old_report.accepted + new_report.accepted, 4);
    assert!(new_report.accepted >= 3);
}

#[tokio::test]
async fn without_reuse_port_a_second_bind_fails_and_reload_cannot_toggle_it() {
    let up = upstream(b'A').await;
    let first = start(config_at("127.0.0.1:0", up.addr, false)).await;
    let addr = first.addr();
    let err = ferry_app_proxy::bind_all(&config_at(&addr.to_string(), up.addr, true)).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    // The running config binds 127.0.0.1:0; the same address with reuse_port toggled.
    match first
        .reloader
        .reload_config(config_at("127.0.0.1:0", up.addr, true))
    {
        Err(ConfigReloadError::NeedsRestart { key, .. }) => {
            assert_eq!(key, "listener[0].reuse_port")
        }
        other => panic!("expected NeedsRestart, got {other:?}"),
    }
    first.stop().await;
}
