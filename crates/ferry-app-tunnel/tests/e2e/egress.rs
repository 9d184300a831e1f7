//! The agent reaches its gateway through an egress proxy: real tinyproxy (HTTP CONNECT,
//! Basic auth), real microsocks and danted (SOCKS5), the gateway and agent programs in this
//! process, real `curl -x` through the gateway. The proxy comes from the `proxy` key or from
//! `HTTPS_PROXY` in the agent's (injected) environment; `NO_PROXY` bypasses it.

use std::net::SocketAddr;

use ferry_app_tunnel::agent::{AgentApp, check};
use ferry_test_support::daemons::{Daemon, danted, microsocks, tinyproxy};
use ferry_tunnel::TransportKind;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{
    Files, GatewayHandle, payload, read_head, start_agent, start_agent_env, start_gateway,
};
use crate::transport::{curl_through, file_server};

/// `curl -x` through the gateway and the agent `edge-0` downloads `len` bytes byte-exact.
async fn curl_fetches(gw: &GatewayHandle, len: usize, seed: u64) {
    let data = payload(len, seed);
    let server = file_server(data.clone()).await;
    let got = curl_through(gw.client, "edge-0", server).await;
    assert!(
        got == data,
        "bytes differ ({} of {} bytes)",
        got.len(),
        data.len()
    );
}

/// The lines tinyproxy logged up to its request line for `CONNECT target`.
fn tinyproxy_saw(tp: &Daemon, target: &str) -> Vec<String> {
    tp.wait_logged(&format!("CONNECT {target} "))
}

/// Acceptance: `proxy = "http://user:pass@127.0.0.1:P"` with a real tinyproxy demanding
/// Basic credentials: the agent connects over TCP through it (auto mode does not try QUIC),
/// and `curl -x` through the gateway downloads 1 MiB byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reaches_the_gateway_through_tinyproxy_with_basic_credentials() {
    let tp = tinyproxy(Some(("agent-7", "s3cr.t_pw")), None);
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let mut agent = start_agent(&files.agent_config(
        gw.agents,
        "edge-0",
        &format!("proxy = \"http://agent-7:s3cr%2Et%5Fpw@{}\"", tp.addr),
    ))
    .await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    assert_eq!(status.fallbacks, 0, "quic was not tried");
    let lines = tinyproxy_saw(&tp, &gw.agents.to_string());
    assert!(
        lines.iter().all(|l| !l.contains("s3cr")),
        "tinyproxy logged the password?"
    );
    curl_fetches(&gw, 1 << 20, 31).await;
    agent.stop().await;
    gw.stop().await;
}

/// The same through SOCKS5: microsocks with username/password and `socks5h://` (the proxy
/// resolves `localhost`), then danted without authentication and `socks5://` (the agent
/// resolves `localhost` and sends the address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reaches_the_gateway_named_localhost_through_socks5_and_socks5h() {
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let named = format!("localhost:{}", gw.agents.port());

    let ms = microsocks(Some(("agent-7", "s3cret")));
    let mut agent = start_agent(&files.agent_config_at(
        &named,
        "edge-0",
        &format!("proxy = \"socks5h://agent-7:s3cret@{}\"", ms.addr),
    ))
    .await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    curl_fetches(&gw, 256 << 10, 32).await;
    agent.stop().await;

    let dante = danted(None);
    let mut agent = start_agent(&files.agent_config_at(
        &named,
        "edge-0",
        &format!("proxy = \"socks5://{}\"\ntransport = \"tcp\"", dante.addr),
    ))
    .await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    curl_fetches(&gw, 256 << 10, 33).await;
    agent.stop().await;
    gw.stop().await;
}

/// `HTTPS_PROXY` from the agent's environment is used (the gateway's CONNECT shows in
/// tinyproxy's log); with `NO_PROXY` naming the gateway's address the agent connects directly
/// over QUIC and tinyproxy sees no connection before the test's own marker CONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_from_the_environment_and_no_proxy_bypassing_it() {
    let tp = tinyproxy(None, None);
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let config = files.agent_config(gw.agents, "edge-0", "");
    let proxy = format!("http://{}", tp.addr);

    let mut agent = start_agent_env(&config, &[("HTTPS_PROXY", proxy.clone())]).await;
    // Every connection of the agent's group (4 by default) goes through the proxy.
    let status = agent.wait_for(|s| s.connected && s.connections == 4).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.extend(tinyproxy_saw(&tp, &gw.agents.to_string()));
    }
    assert_eq!(count_connections(&seen), 4, "{seen:?}");
    curl_fetches(&gw, 64 << 10, 34).await;
    agent.stop().await;

    let mut agent = start_agent_env(
        &config,
        &[
            ("HTTPS_PROXY", proxy),
            ("NO_PROXY", "localhost, 127.0.0.0/8".to_owned()),
        ],
    )
    .await;
    let status = agent.wait_for(|s| s.connected).await;
    assert_eq!(
        status.transport,
        Some(TransportKind::Quic),
        "direct, so quic"
    );
    curl_fetches(&gw, 64 << 10, 35).await;
    // A marker through tinyproxy: everything it logged before the marker's request is the
    // agent's, and there is no connection there but the marker's.
    let echo = ferry_test_support::net::echo().await;
    let mut s = TcpStream::connect(tp.addr).await.unwrap();
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (code, head) = read_head(&mut s).await;
    assert_eq!(code, 200, "{head}");
    let seen = tinyproxy_saw(&tp, &echo.to_string());
    assert_eq!(count_connections(&seen), 1, "only the marker: {seen:?}");
    // (The first agent's connection may still log its end here: no new request for the gateway.)
    let to_gateway = format!("CONNECT {} ", gw.agents);
    assert!(seen.iter().all(|l| !l.contains(&to_gateway)), "{seen:?}");
    agent.stop().await;
    gw.stop().await;
}

/// Connections tinyproxy accepted, from its log lines.
fn count_connections(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("Connect (file descriptor"))
        .count()
}

/// A wrong proxy password: the agent keeps retrying and its status says the proxy rejected
/// the credentials, naming the user, the proxy (without the password) and the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_proxy_password_is_reported_in_the_status_without_the_secret() {
    let tp = tinyproxy(Some(("agent-7", "right")), None);
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let mut agent = start_agent(&files.agent_config(
        gw.agents,
        "edge-0",
        &format!("proxy = \"http://agent-7:wrong-one@{}\"", tp.addr),
    ))
    .await;
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    assert!(!status.connected);
    let error = status.last_error.unwrap();
    let gateway = gw.agents.to_string();
    for want in [
        &format!(
            "to the gateway {gateway} through the egress proxy http://agent-7:***@{}",
            tp.addr
        )[..],
        "rejected the credentials of user \"agent-7\" (401",
        "check the user name and password in the proxy URL",
    ] {
        assert!(error.contains(want), "{want:?} not in {error:?}");
    }
    assert!(!error.contains("wrong-one"), "{error}");
    assert_eq!(status.transport, None);
    agent.stop().await;
    gw.stop().await;
}

/// A proxy that sends bytes after its `200` (before TLS): the gateway never speaks first, so
/// the attempt fails and says so.
#[tokio::test]
async fn bytes_from_the_proxy_before_tls_fail_the_attempt() {
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr: SocketAddr = fake.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = fake.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 512];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nXYZ")
                    .await;
                let _ = s.read(&mut b).await;
            });
        }
    });
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let mut agent =
        start_agent(&files.agent_config(gw.agents, "edge-0", &format!("proxy = \"{fake_addr}\"")))
            .await;
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    let error = status.last_error.unwrap();
    assert!(
        error.contains("the egress proxy sent 3 bytes before TLS started"),
        "{error}"
    );
    agent.stop().await;
    gw.stop().await;
}

/// `transport = "quic"` with a proxy for the gateway does not start, and says what to do;
/// `check` says which proxy the gateway goes through and why, never the password.
#[tokio::test]
async fn quic_with_a_proxy_is_refused_and_check_explains_the_route() {
    let files = Files::new(1);
    let gw: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let quic = files.agent_config(
        gw,
        "edge-0",
        "transport = \"quic\"\nproxy = \"http://u:hunter2@127.0.0.1:3128\"",
    );
    let e = AgentApp::load(&quic, |_| None).await.unwrap_err();
    let text = ferry_app_core::error::error_line(&e);
    assert!(
        text.contains("`transport`: \"quic\" cannot reach the gateway through the egress proxy http://u:***@127.0.0.1:3128 (from configuration)"),
        "{text}"
    );
    assert!(!text.contains("hunter2"));
    let e = check(&quic, |_| None).await.unwrap_err();
    let text = ferry_app_core::error::error_line(&e);
    assert!(
        text.contains("`transport`: \"quic\" cannot reach"),
        "{text}"
    );

    // A name that does not resolve anywhere is fine when the proxy resolves it.
    let named = files.agent_config_at("gw.invalid:443", "edge-0", "");
    let env = |name: &str| {
        (name == "HTTPS_PROXY").then(|| "socks5h://a:hunter2@127.0.0.1:1080".to_owned())
    };
    let out = check(&named, env).await.unwrap();
    assert!(!out.contains("hunter2"), "{out}");
    for want in [
        "loaded: gateway gw.invalid:443: not resolved here: the egress proxy is asked for it by name\n",
        "loaded: egress proxy: socks5h://a:***@127.0.0.1:1080 (from environment variable HTTPS_PROXY) for the gateway gw.invalid:443",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let app = AgentApp::load(&named, env).await.unwrap();
    assert_eq!(
        app.gateway_addr(),
        "0.0.0.0:443".parse::<SocketAddr>().unwrap()
    );
    let env = |name: &str| match name {
        "HTTPS_PROXY" => Some("http://127.0.0.1:3128".to_owned()),
        "NO_PROXY" => Some(".invalid".to_owned()),
        _ => None,
    };
    let bypassed = files.agent_config_at("127.0.0.1:443", "edge-0", "no_proxy = \"127.0.0.1\"");
    let out = check(&bypassed, env).await.unwrap();
    assert!(
        out.contains("loaded: egress proxy: http://127.0.0.1:3128 (from environment variable HTTPS_PROXY) bypassed for the gateway 127.0.0.1:443: no_proxy entry 127.0.0.1 (from configuration) matches it; reached directly\n"),
        "{out}"
    );
}

/// SIGHUP's reload moves the agent to another proxy from the next connection: the live one,
/// through the first proxy, is kept; once that proxy dies the agent reconnects through the
/// second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_the_proxy_from_the_next_connection() {
    let first = tinyproxy(None, None);
    let second = tinyproxy(None, None);
    let files = Files::new(1);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    let at = |tp: &Daemon| {
        files.agent_config(
            gw.agents,
            "edge-0",
            &format!("proxy = \"http://{}\"", tp.addr),
        )
    };
    let mut agent = start_agent(&at(&first)).await;
    agent.wait_for(|s| s.connected).await;
    tinyproxy_saw(&first, &gw.agents.to_string());
    let reloaded = agent.reloader.reload_config(at(&second)).unwrap();
    assert!(
        reloaded
            .applied
            .iter()
            .any(|a| a.starts_with("proxy and no_proxy")),
        "{reloaded:?}"
    );
    let status = agent.status.borrow().clone();
    assert!(status.connected && status.connects == 1, "{status:?}");
    curl_fetches(&gw, 64 << 10, 36).await;
    assert_eq!(
        agent.status.borrow().connects,
        1,
        "the live connection was kept"
    );
    drop(first);
    let status = agent.wait_for(|s| s.connects == 2 && s.connected).await;
    assert_eq!(status.transport, Some(TransportKind::Tcp));
    tinyproxy_saw(&second, &gw.agents.to_string());
    curl_fetches(&gw, 64 << 10, 37).await;
    agent.stop().await;
    gw.stop().await;
}

/// The reloads the fixed transport refuses: an `auto` agent moved between the proxied TCP
/// transport and QUIC either way, a `tcp` agent moved to a direct connection to a gateway
/// name it never resolved, `quic` given a proxy; and the ones that apply.
#[tokio::test]
async fn reloads_that_would_switch_between_proxied_tcp_and_quic_are_refused() {
    let files = Files::new(1);
    let ip: SocketAddr = "127.0.0.1:4433".parse().unwrap();
    let proxy = "proxy = \"http://127.0.0.1:3128\"";
    let other = "proxy = \"socks5h://127.0.0.1:1080\"";
    let reload = |start: ferry_app_tunnel::config::AgentConfig,
                  new: ferry_app_tunnel::config::AgentConfig| async move {
        let app = AgentApp::load(&start, |_| None).await.unwrap();
        app.reloader(|_| None).reload_config(new)
    };
    let needs_restart = |r: Result<_, ferry_app_core::reload::ReloadError>| match r {
        Err(ferry_app_core::reload::ReloadError::NeedsRestart { key, reason }) => {
            assert_eq!(key, "proxy", "{reason}");
            reason
        }
        other => panic!("{other:?}"),
    };
    // auto: proxied -> direct, direct -> proxied.
    let reason = needs_restart(
        reload(
            files.agent_config(ip, "edge-0", proxy),
            files.agent_config(ip, "edge-0", ""),
        )
        .await,
    );
    assert!(
        reason.starts_with("would move the gateway connection from transport tcp to auto"),
        "{reason}"
    );
    needs_restart(
        reload(
            files.agent_config(ip, "edge-0", ""),
            files.agent_config(ip, "edge-0", proxy),
        )
        .await,
    );
    // tcp, a name never resolved: no direct connection without a restart.
    let tcp = |extra: &str| {
        files.agent_config_at(
            "gw.invalid:4433",
            "edge-0",
            &format!("transport = \"tcp\"\n{extra}"),
        )
    };
    let reason = needs_restart(reload(tcp(proxy), tcp("")).await);
    assert!(reason.contains("never resolved"), "{reason}");
    // What applies: one proxy for another; tcp from a proxy to direct for an IP address.
    assert!(
        reload(
            files.agent_config(ip, "edge-0", proxy),
            files.agent_config(ip, "edge-0", other)
        )
        .await
        .is_ok()
    );
    assert!(reload(tcp(proxy), tcp(other)).await.is_ok());
    let tcp_ip =
        |extra: &str| files.agent_config(ip, "edge-0", &format!("transport = \"tcp\"\n{extra}"));
    assert!(reload(tcp_ip(proxy), tcp_ip("")).await.is_ok());
    assert!(reload(tcp_ip(""), tcp_ip(proxy)).await.is_ok());
    // quic given a proxy: the config error.
    let quic =
        |extra: &str| files.agent_config(ip, "edge-0", &format!("transport = \"quic\"\n{extra}"));
    match reload(quic(""), quic(proxy)).await {
        Err(ferry_app_core::reload::ReloadError::Config(e)) => {
            assert!(e.to_string().contains("`transport`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}
