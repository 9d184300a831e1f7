//! Active health checks through the proxy: an upstream that stops listening is marked down
//! (and then gets no connect attempt at all), and is marked up again once it listens again.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_pool::Pool;

use crate::common::{Server, config, list, start, tag_of};

async fn wait_health(pool: &Pool, addr: SocketAddr, healthy: bool) {
    let mut changes = pool.watch();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let now = pool
                .snapshot()
                .iter()
                .find(|e| e.address == addr)
                .unwrap()
                .healthy;
            if now == healthy {
                return;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{addr} never became healthy={healthy}"));
}

#[tokio::test]
async fn health_check_marks_down_and_up() {
    let (a, mut b) = (Server::tagged(b'A').await, Server::tagged(b'B').await);
    let p = start(&config(
        "",
        &list(&[a.addr, b.addr]),
        "[pool.p.health]\ninterval = \"20ms\"\ntimeout = \"1s\"\nrise = 2\nfall = 2\n\
         [pool.p.ejection]\nenabled = false\n",
    ))
    .await;
    let pool = p.reloader.pool("p").unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(tag_of(p.addr()).await);
    }
    assert_eq!(seen.iter().filter(|&&t| t == b'B').count(), 2);

    b.kill().await;
    wait_health(&pool, b.addr, false).await;
    for _ in 0..6 {
        assert_eq!(tag_of(p.addr()).await, b'A');
    }
    let status = pool
        .snapshot()
        .into_iter()
        .find(|e| e.address == b.addr)
        .unwrap();
    assert_eq!(
        status.consecutive_failures, 0,
        "a down upstream gets no connect attempt"
    );

    let back = Server::tagged_at(b.addr, b'B');
    wait_health(&pool, b.addr, true).await;
    let mut to_b = 0;
    for _ in 0..4 {
        to_b += usize::from(tag_of(p.addr()).await == b'B');
    }
    assert_eq!(to_b, 2, "back in rotation");
    drop(back);
    p.stop().await;
}
