//! Against a real memcached started by the test (`memcached` must be installed; `.ci/run`
//! installs it): every operation, compare-and-swap races, TTL expiry, a server that stops, and
//! a fake server that misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferry_memcache::testing::Memcached;
use ferry_memcache::{Client, ClientConfig, Deleted, Error, Key, ProtocolError, Stored, Ttl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn ttl(secs: u64) -> Ttl {
    Ttl::after(Duration::from_secs(secs)).unwrap()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

#[tokio::test]
async fn set_get_add_cas_delete_touch() {
    let server = Memcached::start().await.unwrap();
    let c = Client::new(server.addr(), ClientConfig::default());
    let k = key("agent:a1");
    c.noop().await.unwrap();
    assert_eq!(c.get(&k).await.unwrap(), None);

    let Stored::Stored { cas: Some(first) } = c.add(&k, b"gw-1", ttl(60)).await.unwrap() else {
        panic!("add on a missing key stores and returns a token");
    };
    assert_eq!(
        c.add(&k, b"gw-2", ttl(60)).await.unwrap(),
        Stored::NotStored
    );
    let item = c.get(&k).await.unwrap().unwrap();
    assert_eq!(item.value, b"gw-1");
    assert_eq!(item.cas, first);
    let left = item.ttl.unwrap();
    assert!(
        left <= Duration::from_secs(60) && left >= Duration::from_secs(58),
        "{left:?}"
    );

    // Compare-and-swap: the stale token loses, the fresh one wins.
    let Stored::Stored { cas: Some(second) } = c
        .compare_and_swap(&k, b"gw-2", ttl(60), first)
        .await
        .unwrap()
    else {
        panic!("a matching token stores");
    };
    assert_ne!(first, second);
    assert_eq!(
        c.compare_and_swap(&k, b"gw-3", ttl(60), first)
            .await
            .unwrap(),
        Stored::Exists
    );
    assert_eq!(c.get(&k).await.unwrap().unwrap().value, b"gw-2");
    assert_eq!(c.delete_if(&k, first).await.unwrap(), Deleted::Exists);
    assert!(
        c.get(&k).await.unwrap().is_some(),
        "a stale token deletes nothing"
    );

    assert!(c.touch(&k, Ttl::NEVER).await.unwrap());
    assert_eq!(c.get(&k).await.unwrap().unwrap().ttl, None);

    assert_eq!(c.delete_if(&k, second).await.unwrap(), Deleted::Deleted);
    assert_eq!(c.delete(&k).await.unwrap(), Deleted::NotFound);
    assert!(!c.touch(&k, ttl(5)).await.unwrap());
    assert_eq!(
        c.compare_and_swap(&k, b"x", ttl(5), second).await.unwrap(),
        Stored::NotFound
    );
    // Binary-safe values, including CRLF inside.
    let value = b"\r\nEN\r\nVA 1\r\n\0\xff".to_vec();
    c.set(&k, &value, ttl(5)).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().unwrap().value, value);
}

#[tokio::test]
async fn one_winner_in_a_takeover_race() {
    let server = Memcached::start().await.unwrap();
    let c = Client::new(server.addr(), ClientConfig::default());
    let k = key("race");
    c.set(&k, b"old", ttl(60)).await.unwrap();
    let token = c.get(&k).await.unwrap().unwrap().cas;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            c.compare_and_swap(&k, format!("new-{i}").as_bytes(), ttl(60), token)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            Stored::Stored { .. } => winners += 1,
            Stored::Exists => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn items_expire() {
    let server = Memcached::start().await.unwrap();
    let c = Client::new(server.addr(), ClientConfig::default());
    let k = key("short");
    c.set(&k, b"v", ttl(1)).await.unwrap();
    assert!(c.get(&k).await.unwrap().is_some());
    // memcached's clock ticks in whole seconds: poll until the item is gone (bounded).
    let gone = async {
        loop {
            if c.get(&k).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("a 1 s item expires within 5 s");
}

#[tokio::test]
async fn a_stopped_server_fails_fast_and_recovery_is_automatic() {
    let server = Memcached::start().await.unwrap();
    let port = server.addr().port();
    let mut config = ClientConfig::default();
    config.op_timeout = Duration::from_millis(300);
    let c = Client::new(server.addr(), config);
    let k = key("k");
    c.set(&k, b"v", ttl(60)).await.unwrap();
    server.stop().await.unwrap();
    assert!(matches!(
        c.get(&k).await,
        Err(Error::Connect(_) | Error::Io(_))
    ));
    let server = Memcached::start_on(Some(port)).await.unwrap();
    assert_eq!(
        c.get(&k).await.unwrap(),
        None,
        "a new server is empty, and reachable"
    );
    c.set(&k, b"v2", ttl(60)).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().unwrap().value, b"v2");
    drop(server);
}

/// A server that accepts and never answers: the operation ends at the timeout.
#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(s);
    });
    let c = Client::new(addr, ClientConfig::default());
    assert!(matches!(c.get(&key("k")).await, Err(Error::Timeout)));
}

/// A server that answers garbage, an oversized value or an error line: typed errors, and the
/// connection is not reused for the next request.
#[tokio::test]
async fn misbehaving_server_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers: [&[u8]; 4] = [
        b"HELLO\r\n",
        b"VA 999999 c1\r\n",
        b"SERVER_ERROR out of memory storing object\r\n",
        b"EN\r\n",
    ];
    let server = tokio::spawn(async move {
        let mut connections = 0;
        for answer in answers {
            let (mut s, _) = listener.accept().await.unwrap();
            connections += 1;
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(answer).await.unwrap();
            if answer == b"EN\r\n" {
                break;
            }
            // Keep it open: the client must still not reuse it.
            tokio::spawn(async move {
                let _ = s.read(&mut buf).await;
            });
        }
        connections
    });
    let c = Client::new(addr, ClientConfig::default());
    let k = key("k");
    assert!(matches!(
        c.get(&k).await,
        Err(Error::Protocol(ProtocolError::Malformed))
    ));
    assert!(matches!(
        c.get(&k).await,
        Err(Error::Protocol(ProtocolError::ValueTooLarge {
            size: 999_999,
            ..
        }))
    ));
    assert!(matches!(
        c.get(&k).await,
        Err(Error::Protocol(ProtocolError::Server {
            kind: "SERVER_ERROR",
            ..
        }))
    ));
    assert_eq!(c.get(&k).await.unwrap(), None);
    assert_eq!(
        server.await.unwrap(),
        4,
        "each failed exchange closed its connection"
    );
}

#[tokio::test]
async fn values_over_the_limit_are_refused_before_sending() {
    let server = Memcached::start().await.unwrap();
    let mut config = ClientConfig::default();
    config.max_value_size = 8;
    let c = Client::new(server.addr(), config);
    assert!(matches!(
        c.set(&key("k"), b"123456789", ttl(5)).await,
        Err(Error::ValueTooLarge { size: 9, limit: 8 })
    ));
}
