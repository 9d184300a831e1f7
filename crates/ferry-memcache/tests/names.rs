//! A server named by host name: resolved when connecting (the system resolver with
//! `localhost`, a scripted one otherwise), and resolved again when the kept address stops
//! accepting connections, against real memcached servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ferry_memcache::resolve::system;
use ferry_memcache::testing::Memcached;
use ferry_memcache::{Client, ClientConfig, Error, Key, Ttl};
use ferry_test_support::resolve::Scripted;

fn ttl() -> Ttl {
    Ttl::after(Duration::from_secs(60)).unwrap()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

#[tokio::test]
async fn localhost_is_resolved_by_the_system_resolver() {
    let server = Memcached::start().await.unwrap();
    let port = server.addr().port();
    let c = Client::resolving("LocalHost", port, system(), ClientConfig::default());
    assert_eq!(c.server(), format!("localhost:{port}"));
    assert_eq!(c.addr(), None);
    c.set(&key("named"), b"v", ttl()).await.unwrap();
    // It reached the server on 127.0.0.1 (localhost may list ::1 first: it is refused there
    // and the next address is tried).
    let direct = Client::new(server.addr(), ClientConfig::default());
    assert_eq!(
        direct.get(&key("named")).await.unwrap().unwrap().value,
        b"v"
    );
}

#[tokio::test]
async fn an_ip_literal_is_not_resolved() {
    let resolver = Arc::new(Scripted::new([&[]]));
    let server = Memcached::start().await.unwrap();
    let c = Client::resolving(
        "127.0.0.1",
        server.addr().port(),
        resolver.clone(),
        ClientConfig::default(),
    );
    assert_eq!(c.addr(), Some(server.addr()));
    c.noop().await.unwrap();
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test]
async fn a_replaced_server_is_found_at_its_new_address() {
    let old = Memcached::start().await.unwrap();
    let port = old.addr().port();
    // "cache.test" is 127.0.0.1 first; asked again, it is 127.0.0.2 (same port).
    let resolver = Arc::new(Scripted::new([&["127.0.0.1"], &["127.0.0.2"]]));
    let c = Client::resolving(
        "cache.test",
        port,
        resolver.clone(),
        ClientConfig::default(),
    );
    c.set(&key("k"), b"old", ttl()).await.unwrap();
    c.get(&key("k")).await.unwrap();
    assert_eq!(resolver.calls(), 1, "the answer is kept while it works");
    assert_eq!(resolver.names(), ["cache.test"]);

    let new = Memcached::start_at(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), Some(port))
        .await
        .unwrap();
    old.stop().await.unwrap();
    // The kept address refuses: the same operation resolves again and reaches the new server
    // (empty, as a replaced memcached is).
    assert_eq!(c.get(&key("k")).await.unwrap(), None);
    assert_eq!(resolver.calls(), 2);
    c.set(&key("k"), b"new", ttl()).await.unwrap();
    let direct = Client::new(new.addr(), ClientConfig::default());
    assert_eq!(direct.get(&key("k")).await.unwrap().unwrap().value, b"new");
    assert_eq!(resolver.calls(), 2);
}

#[tokio::test]
async fn a_name_without_answer_fails_with_a_resolve_error_and_is_asked_again() {
    let server = Memcached::start().await.unwrap();
    // No answer first, then the server's address.
    let resolver = Arc::new(Scripted::new([&[], &["127.0.0.1"]]));
    let c = Client::resolving(
        "cache.test",
        server.addr().port(),
        resolver.clone(),
        ClientConfig::default(),
    );
    assert!(matches!(c.noop().await, Err(Error::Resolve(_))));
    c.noop().await.unwrap();
    assert_eq!(resolver.calls(), 2);
}

#[tokio::test]
async fn a_hung_resolver_is_bounded_by_the_operation_timeout() {
    let resolver = Arc::new(Scripted::never_answering());
    let mut config = ClientConfig::default();
    config.op_timeout = Duration::from_millis(200);
    let c = Client::resolving("cache.test", 11211, resolver.clone(), config);
    assert!(matches!(c.noop().await, Err(Error::Timeout)));
    assert_eq!(resolver.calls(), 1);
}
