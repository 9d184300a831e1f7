//! Every status code the front answers, each from a real request over real sockets.

use std::time::Duration;

use ferry_auth::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{
    ANY_TOKEN, NOW, TOKEN, ask, assert_closed, closed_port, connect_request, echo_server,
    http_server, start,
};

#[tokio::test]
async fn established_then_raw_bytes() {
    let f = start(|_, _| {}).await;
    let http = http_server().await;
    let (head, mut s) = ask(
        f.addr,
        &connect_request(&http.to_string(), Some(("edge-1", TOKEN))),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "HTTP/1.1 200 Connection established\r\n\r\n");
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.unwrap();
    assert!(
        body.ends_with(b"\r\n\r\nhello"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(f.front.stats().replies(200), 1);
    f.stop().await;
}

#[tokio::test]
async fn jwt_password_is_accepted_and_scoped_to_its_agent() {
    let f = start(|_, _| {}).await;
    let echo = echo_server().await;
    let jwt = f.jwt.token(Role::Client, "edge-1", NOW);
    let (head, _s) = ask(
        f.addr,
        &connect_request(&echo.to_string(), Some(("edge-1", &jwt))),
    )
    .await;
    assert_eq!(head.status, 200);
    // The same JWT naming another agent, and an agent JWT: 407.
    let (head, _s) = ask(
        f.addr,
        &connect_request(&echo.to_string(), Some(("edge-2", &jwt))),
    )
    .await;
    assert_eq!(head.status, 407);
    let agent_jwt = f.jwt.token(Role::Agent, "edge-1", NOW);
    let (head, _s) = ask(
        f.addr,
        &connect_request(&echo.to_string(), Some(("edge-1", &agent_jwt))),
    )
    .await;
    assert_eq!(head.status, 407);
    // Expired (issued 20 minutes ago for 10).
    let old = f.jwt.token(Role::Client, "edge-1", NOW - 1200);
    let (head, _s) = ask(
        f.addr,
        &connect_request(&echo.to_string(), Some(("edge-1", &old))),
    )
    .await;
    assert_eq!(head.status, 407);
    f.stop().await;
}

#[tokio::test]
async fn proxy_auth_required_on_missing_or_bad_credentials() {
    let f = start(|_, _| {}).await;
    let echo = echo_server().await.to_string();
    let requests = [
        connect_request(&echo, None),
        connect_request(&echo, Some(("edge-1", "wrong"))),
        connect_request(&echo, Some(("edge-2", TOKEN))), // token scoped to edge-1
        connect_request(&echo, Some(("", TOKEN))),
        format!("CONNECT {echo} HTTP/1.1\r\nProxy-Authorization: Bearer abc\r\n\r\n"),
        format!("CONNECT {echo} HTTP/1.1\r\nProxy-Authorization: Basic !!!!\r\n\r\n"),
    ];
    for r in &requests {
        let (head, mut s) = ask(f.addr, r).await;
        assert_eq!(head.status, 407, "{r}");
        assert!(
            head.text
                .contains("Proxy-Authenticate: Basic realm=\"ferry\"\r\n"),
            "{}",
            head.text
        );
        assert_closed(&mut s).await;
    }
    assert_eq!(f.front.stats().replies(407), requests.len() as u64);
    assert_eq!(f.front.stats().auth_failures(), requests.len() as u64);
    f.stop().await;
}

#[tokio::test]
async fn method_not_allowed_for_other_methods() {
    let f = start(|_, _| {}).await;
    for r in [
        "GET http://127.0.0.1/ HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\n\r\n",
    ] {
        let (head, mut s) = ask(f.addr, r).await;
        assert_eq!(head.status, 405);
        assert!(head.text.contains("Allow: CONNECT\r\n"));
        assert_closed(&mut s).await;
    }
    f.stop().await;
}

#[tokio::test]
async fn forbidden_by_the_gateway_and_by_the_agent() {
    let f = start(|_, opener| {
        opener.agent_allow = ferry_allow::Allowlist::parse("127.0.0.1:10-20")
            .unwrap()
            .with_special_addresses(ferry_allow::SpecialAddresses::Allow);
    })
    .await;
    // Port 9 is outside the gateway's list.
    let (head, mut s) = ask(
        f.addr,
        &connect_request("127.0.0.1:9", Some(("edge-1", TOKEN))),
    )
    .await;
    assert_eq!(head.status, 403);
    assert_closed(&mut s).await;
    // A name the gateway's list does not hold.
    let (head, _s) = ask(
        f.addr,
        &connect_request("example.com:443", Some(("edge-1", TOKEN))),
    )
    .await;
    assert_eq!(head.status, 403);
    // The gateway allows port 30, the agent does not.
    let (head, _s) = ask(
        f.addr,
        &connect_request("127.0.0.1:30", Some(("edge-1", TOKEN))),
    )
    .await;
    assert_eq!(head.status, 403);
    assert_eq!(f.front.stats().replies(403), 3);
    f.stop().await;
}

#[tokio::test]
async fn bad_gateway_when_the_dial_fails() {
    let f = start(|_, _| {}).await;
    let port = closed_port().await;
    let (head, mut s) = ask(
        f.addr,
        &connect_request(&format!("127.0.0.1:{port}"), Some(("edge-1", TOKEN))),
    )
    .await;
    assert_eq!(head.status, 502);
    assert_closed(&mut s).await;
    f.stop().await;
}

#[tokio::test]
async fn service_unavailable_when_the_agent_is_not_connected() {
    let f = start(|_, _| {}).await;
    let echo = echo_server().await.to_string();
    let (head, mut s) = ask(f.addr, &connect_request(&echo, Some(("edge-2", ANY_TOKEN)))).await;
    assert_eq!(head.status, 503);
    assert_closed(&mut s).await;
    f.stop().await;
}

#[tokio::test]
async fn gateway_timeout_when_the_tunnel_does_not_open() {
    let f = start(|config, _| config.open_timeout = Duration::from_millis(200)).await;
    // A destination that accepts and never speaks: the stalled agent never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let started = tokio::time::Instant::now();
    let (head, mut s) = ask(
        f.addr,
        &connect_request(&target, Some(("edge-stalled", ANY_TOKEN))),
    )
    .await;
    assert_eq!(head.status, 504);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_closed(&mut s).await;
    f.stop().await;
}

#[tokio::test]
async fn too_many_tunnels_per_client() {
    let f = start(|config, _| {
        config.limits.max_tunnels_per_client = std::num::NonZeroU32::new(1).unwrap();
    })
    .await;
    let echo = echo_server().await.to_string();
    let (head, first) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    assert_eq!(head.status, 200);
    let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    assert_eq!(head.status, 429);
    assert!(head.text.contains("Retry-After: 1\r\n"));
    // Closing the first tunnel frees the slot: half-close, wait for the echo's EOF, then for
    // the front to drop the permit.
    let mut first = first;
    first.shutdown().await.unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while f.front.tunnels_in_flight() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("tunnel permit not released");
    let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    let status = head.status;
    assert_eq!(status, 200);
    f.stop().await;
}

#[tokio::test]
async fn client_rate_limit_answers_429() {
    let f = start(|config, _| {
        config.limits.client_rate = Some(
            ferry_limit::Quota::new(
                std::num::NonZeroU32::new(2).unwrap(),
                Duration::from_secs(3600),
            )
            .unwrap(),
        );
    })
    .await;
    let echo = echo_server().await.to_string();
    for expected in [200, 200, 429] {
        let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
        assert_eq!(head.status, expected);
    }
    f.stop().await;
}

#[tokio::test]
async fn too_many_tunnels_per_agent_is_unavailable() {
    let f = start(|config, _| {
        config.limits.max_tunnels_per_agent = std::num::NonZeroU32::new(1).unwrap();
    })
    .await;
    let echo = echo_server().await.to_string();
    let (head, _first) = ask(f.addr, &connect_request(&echo, Some(("edge-1", TOKEN)))).await;
    assert_eq!(head.status, 200);
    let (head, _s) = ask(f.addr, &connect_request(&echo, Some(("edge-1", ANY_TOKEN)))).await;
    assert_eq!(head.status, 503);
    f.stop().await;
}
