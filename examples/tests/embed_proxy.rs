//! Runs the `embed-proxy` example's own code (`start`, then `Proxy::run` as its `main` does):
//! bytes go through real loopback sockets to two echo upstreams, round robin, and the run
//! drains and reports when its shutdown future completes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use ferry_app_proxy::AppError;
use ferry_test_support::net::{round_trip, tagged_echo};
use ferry_test_support::payload;
use tokio::net::TcpStream;

#[allow(dead_code)] // its `main` is not called here
#[path = "../embed-proxy.rs"]
mod embed_proxy;

#[tokio::test]
async fn relays_bytes_round_robin_and_reports_after_the_drain() {
    let upstreams = [tagged_echo(b'A').await, tagged_echo(b'B').await].map(|a| a.to_string());
    let (proxy, listeners) = embed_proxy::start("127.0.0.1:0", &upstreams).unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(proxy.run(listeners, async {
        let _ = stopped.await;
    }));
    let data = payload(256 * 1024, 3);
    let mut tags = Vec::new();
    for _ in 0..2 {
        let back = round_trip(TcpStream::connect(addr).await.unwrap(), &data).await;
        assert_eq!(back.len(), data.len() + 1);
        assert_eq!(&back[1..], &data[..], "the bytes came back changed");
        tags.push(back[0]);
    }
    tags.sort_unstable();
    assert_eq!(tags, [b'A', b'B'], "round robin reaches both upstreams");
    stop.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.accepted, 2);
    assert_eq!(report.completed, 2);
    assert_eq!(report.client_to_upstream, 2 * data.len() as u64);
    assert_eq!(report.upstream_to_client, 2 * (data.len() as u64 + 1));
}

#[tokio::test]
async fn a_bad_address_is_a_config_error_before_anything_is_bound() {
    let Err(e) = embed_proxy::start("127.0.0.1:0", &["no port".to_owned()]) else {
        panic!("an upstream without a port was accepted");
    };
    assert!(matches!(e, AppError::Config(_)), "{e:?}");
    let Err(e) = embed_proxy::start("localhost", &["127.0.0.1:9".to_owned()]) else {
        panic!("a listen address without a port was accepted");
    };
    assert!(matches!(e, AppError::Config(_)), "{e:?}");
}
