//! 10,000 concurrent connections through the real `ferry-proxy` binary: all held open at once
//! (the proxy's open-connection gauge and the echo's accepted count both reach 10,000), then a
//! distinct payload echoed byte-exact on every one of them, then all closed and the gauge back
//! at 0.
//!
//! Opt-in: it runs with `FERRY_TEST_10K=1` (`FERRY_TEST_10K=1 scripts/soak.sh` runs it before
//! the soak) and passes without doing anything otherwise.
//! `FERRY_TEST_10K_CONNECTIONS=N` holds N connections instead of 10,000.
//!
//! Descriptors: this process holds N client and N echo sockets, the proxy 2 N sockets plus its
//! splice pipes (at most 1024 pairs, while bytes are in flight), so each process needs 2 N +
//! 2,300 open files: 22,300 for 10,000, above the usual 1024 and above a hard limit of 20,000.
//! The test raises its own limit, soft and hard (the hard one needs CAP_SYS_RESOURCE, which
//! root usually has), and the proxy inherits it (ferry-proxy raises its soft limit to the hard
//! one). When asked to run where the limit cannot be raised, the test fails and says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use ferry_test_support::blocking::{http_get, poll};
use ferry_test_support::{net, payload};
use support::{sigterm, spawn_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections held at once, unless FERRY_TEST_10K_CONNECTIONS says otherwise.
const CONNECTIONS: usize = 10_000;

/// Open files each process needs beyond two per connection: the proxy's pooled splice pipes
/// (1024 pairs at most) and a margin for listeners, the runtime and the metrics endpoint.
const EXTRA_FILES: u64 = 2_300;

/// Bytes echoed on each connection.
const PAYLOAD: usize = 1000;

/// Raises this process's open-files limit (soft and hard) to at least `want`; panics with the
/// reason when it cannot.
fn raise_open_files(want: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let hard = now.maximum.unwrap_or(u64::MAX);
    let target = Rlimit {
        current: Some(want.max(now.current.unwrap_or(0))),
        maximum: Some(hard.max(want)),
    };
    if let Err(e) = setrlimit(Resource::Nofile, target) {
        panic!(
            "this test needs {want} open files per process; the limit is {:?} (hard {hard}) and \
             raising it failed ({e}): run it as root with CAP_SYS_RESOURCE, raise `ulimit -Hn` \
             to {want}, or hold fewer connections with FERRY_TEST_10K_CONNECTIONS",
            now.current
        );
    }
}

/// The connections to hold, or `None` when the test is not asked for.
fn connections() -> Option<usize> {
    if std::env::var_os("FERRY_TEST_10K").is_none() {
        eprintln!("ten_thousand_cli: opt-in, set FERRY_TEST_10K=1 to run it");
        return None;
    }
    Some(
        std::env::var("FERRY_TEST_10K_CONNECTIONS").map_or(CONNECTIONS, |n| {
            n.parse().expect("FERRY_TEST_10K_CONNECTIONS is a number")
        }),
    )
}

/// The value of the first `/metrics` line starting with `series`.
fn metric(admin: SocketAddr, series: &str) -> Option<u64> {
    let text = http_get(admin, "/metrics");
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn ten_thousand_connections_held_at_once_then_echoed_byte_exact() {
    let Some(count) = connections() else {
        return;
    };
    raise_open_files(2 * count as u64 + EXTRA_FILES);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let echo = rt.block_on(net::echo_counting());
    let mut proxy = spawn_proxy(
        "",
        &format!(
            "--listen 127.0.0.1:0 --upstream {} --metrics 127.0.0.1:0",
            echo.addr
        ),
    );
    let line = proxy
        .startup
        .iter()
        .find(|l| l.contains("metrics_addr="))
        .expect("the metrics address is logged before the listeners")
        .clone();
    let at = line.find("metrics_addr=").unwrap() + "metrics_addr=".len();
    let admin: SocketAddr = line[at..].split(' ').next().unwrap().parse().unwrap();
    let gauge = r#"ferry_proxy_active_connections{listener="listen"} "#;

    // Open every connection, 250 at a time: each batch is dialed, then the echo must have
    // accepted every connection so far before the next. The kernel completes a connect before
    // the server accepts it, so without this pace the proxy's dials could overflow the echo's
    // accept queue, and with SYN cookies an overflowed, idle connection is never accepted.
    let addr = proxy.addr;
    let mut conns: Vec<TcpStream> = Vec::with_capacity(count);
    while conns.len() < count {
        let batch = (count - conns.len()).min(250);
        let dialed = rt.block_on(async {
            let dials: Vec<_> = (0..batch)
                .map(|_| tokio::spawn(TcpStream::connect(addr)))
                .collect();
            let mut dialed = Vec::with_capacity(batch);
            for d in dials {
                dialed.push(d.await.unwrap().expect("connect to the proxy"));
            }
            dialed
        });
        conns.extend(dialed);
        poll("the echo accepted every connection dialed so far", || {
            (echo.accepted() >= conns.len()).then_some(())
        });
    }

    // All held at once: the proxy counts them open and the echo has accepted every upstream leg.
    poll("the proxy's gauge at the count", || {
        (metric(admin, gauge) == Some(count as u64)).then_some(())
    });
    poll("every connection accepted by the echo", || {
        (echo.accepted() == count).then_some(())
    });
    assert_eq!(conns.len(), count);

    // A distinct payload on every connection, all at once, each echoed byte-exact; then a
    // half-close and the echo's EOF.
    let mismatches = rt.block_on(async {
        let tasks: Vec<_> = conns
            .drain(..)
            .enumerate()
            .map(|(i, mut s)| {
                tokio::spawn(async move {
                    let sent = payload(PAYLOAD, i as u64 + 1);
                    s.write_all(&sent).await.unwrap();
                    let mut back = vec![0u8; PAYLOAD];
                    s.read_exact(&mut back).await.unwrap();
                    s.shutdown().await.unwrap();
                    let mut rest = Vec::new();
                    s.read_to_end(&mut rest).await.unwrap();
                    back == sent && rest.is_empty()
                })
            })
            .collect();
        let mut bad = 0usize;
        for t in tasks {
            if !t.await.unwrap() {
                bad += 1;
            }
        }
        bad
    });
    assert_eq!(mismatches, 0, "connections whose echo was not byte-exact");

    // Every connection ended: the gauge is back at 0.
    poll("the proxy's gauge back at 0", || {
        (metric(admin, gauge) == Some(0)).then_some(())
    });
    assert_eq!(echo.accepted(), count, "no connection was made twice");
    sigterm(&proxy.child);
    assert!(proxy.child.wait().unwrap().success());
}
