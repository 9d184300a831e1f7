//! `gateway::Reloader` in process: the agent certificate swapped for new handshakes while
//! connected agents stay; settings that need a restart and bad files refused with the running
//! config kept; limiter state kept across a reload that leaves the limits as they were.

use ferry_app_core::reload::ReloadError;
use ferry_app_tunnel::config::{AgentConfig, GatewayConfig};

use crate::harness::{
    CLIENT_TOKEN, Files, ask, connect_request, echo_server, round_trip, start_agent, start_gateway,
    tunnel,
};

fn agent_on(
    files: &Files,
    gateway: std::net::SocketAddr,
    ca: &str,
    transport: &str,
) -> AgentConfig {
    AgentConfig::from_toml(&format!(
        r#"
        transport = "{transport}"
        gateway = "{gateway}"
        server_name = "localhost"
        ca = "{}"
        agent_id = "edge-0"
        token_file = "{}"
        allow = ["127.0.0.1"]
        reconnect_min = "100ms"
        reconnect_max = "400ms"
        "#,
        files.path(ca),
        files.path("edge-0.token"),
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_certificate_is_swapped_for_new_handshakes_and_connected_agents_stay() {
    certificate_swap("quic").await;
}

/// The same on the TCP transport: a reload swaps the TCP listener's certificate too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_certificate_is_swapped_on_the_tcp_transport_too() {
    certificate_swap("tcp").await;
}

async fn certificate_swap(transport: &str) {
    let files = Files::new(1);
    let config = files.gateway_config("127.0.0.1:0", "");
    let gw = start_gateway(&config).await;
    std::fs::copy(files.path("gw.pem"), files.path("old.pem")).unwrap();
    let mut old = start_agent(&agent_on(&files, gw.agents, "old.pem", transport)).await;
    old.wait_for(|s| s.connected).await;

    // Renewed in place: same paths, new certificate.
    let renewed = ferry_tls::SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(files.path("gw.pem"), renewed.cert_pem()).unwrap();
    std::fs::write(files.path("gw.key"), renewed.key_pem()).unwrap();
    let done = gw.reloader.reload(config.clone()).unwrap();
    assert!(
        done.applied.iter().any(|a| a == "agent certificate"),
        "{done:?}"
    );

    // The connected agent was not touched.
    let echo = echo_server().await;
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"still").await,
        b"still"
    );
    assert_eq!(old.status.borrow().connects, 1);
    old.stop().await;

    // An agent trusting only the old certificate is now refused at the handshake ...
    let mut stale = start_agent(&agent_on(&files, gw.agents, "old.pem", transport)).await;
    let s = stale.wait_for(|s| s.attempts >= 2).await;
    assert_eq!(s.connects, 0, "{s:?}");
    stale.stop().await;
    // ... and one trusting the new one connects.
    let mut new = start_agent(&agent_on(&files, gw.agents, "gw.pem", transport)).await;
    let status = new.wait_for(|s| s.connected).await;
    assert_eq!(status.transport.map(|t| t.label()), Some(transport));
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"new").await,
        b"new"
    );
    new.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_only_changes_and_bad_files_are_refused_and_the_running_config_serves() {
    let files = Files::new(1);
    let config = files.gateway_config("127.0.0.1:0", "");
    let gw = start_gateway(&config).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;

    let refused = |extra: &str, agent_listen: &str| files.gateway_config(agent_listen, extra);
    let key = |r: Result<_, ReloadError>| match r {
        Err(ReloadError::NeedsRestart { key, .. }) => key,
        other => panic!("expected NeedsRestart, got {other:?}"),
    };
    assert_eq!(
        key(gw.reloader.reload(refused("", "127.0.0.1:1"))),
        "agent_listen"
    );
    let client_tls = format!(
        "[client_tls]\ncert = \"{}\"\nkey = \"{}\"",
        files.path("gw.pem"),
        files.path("gw.key")
    );
    assert_eq!(
        key(gw.reloader.reload(refused(&client_tls, "127.0.0.1:0"))),
        "client_tls"
    );
    assert_eq!(
        key(gw.reloader.reload(refused(
            "[limits]\nmax_tunnels_per_agent = 2",
            "127.0.0.1:0"
        ))),
        "limits.max_tunnels_per_agent"
    );
    assert_eq!(
        key(gw
            .reloader
            .reload(refused("[timeouts]\nagent_idle = \"20s\"", "127.0.0.1:0"))),
        "timeouts.agent_idle"
    );
    assert_eq!(
        key(gw.reloader.reload(refused(
            "[limits]\nagent_receive_window = 4194304",
            "127.0.0.1:0"
        ))),
        "limits.agent_receive_window"
    );

    // A token file that cannot be parsed: refused as a config error naming it.
    std::fs::write(files.path("bad-tokens"), "agent edge-0 sha256:nothex\n").unwrap();
    let mut bad = config.clone();
    bad.auth.tokens = Some(files.path("bad-tokens").into());
    match gw.reloader.reload(bad) {
        Err(ReloadError::Config(e)) => assert!(e.to_string().contains("auth.tokens"), "{e}"),
        other => panic!("expected a config error, got {other:?}"),
    }

    // The running config still serves, through the same agent connection.
    let echo = echo_server().await;
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"kept").await,
        b"kept"
    );
    assert_eq!(agent.status.borrow().connects, 1);
    agent.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limiter_state_is_kept_when_the_limits_are_unchanged() {
    let files = Files::new(1);
    let limits = "[limits]\nauth_failures = \"2/min burst 2\"";
    let config = files.gateway_config("127.0.0.1:0", limits);
    let gw = start_gateway(&config).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let echo = echo_server().await.to_string();
    let bad = connect_request(&echo, "edge-0", Some("fy1_wrong"));
    let good = connect_request(&echo, "edge-0", Some(CLIENT_TOKEN));
    assert_eq!(ask(gw.client, &bad, b"").await.0, 407);
    assert_eq!(ask(gw.client, &bad, b"").await.0, 407);
    assert_eq!(
        ask(gw.client, &good, b"").await.0,
        429,
        "blocked after 2 failures"
    );

    // Same limits: the block survives the reload.
    let done = gw.reloader.reload(config.clone()).unwrap();
    assert!(
        done.applied.iter().any(|a| a == "limiter state kept"),
        "{done:?}"
    );
    assert_eq!(ask(gw.client, &good, b"").await.0, 429);

    // Changed limits: new limiters, the block is gone.
    let changed: GatewayConfig =
        files.gateway_config("127.0.0.1:0", "[limits]\nauth_failures = \"3/min burst 3\"");
    let done = gw.reloader.reload(changed).unwrap();
    assert!(
        !done.applied.iter().any(|a| a == "limiter state kept"),
        "{done:?}"
    );
    assert_eq!(ask(gw.client, &good, b"").await.0, 200);
    agent.stop().await;
    gw.stop().await;
}

#[allow(clippy::disallowed_methods)] // JWT expiry needs wall-clock time
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An agent config for `id` presenting `secret` (written to a file of its own).
fn agent_presenting(
    files: &Files,
    gateway: std::net::SocketAddr,
    id: &str,
    secret: &str,
) -> AgentConfig {
    let name = format!("presented-{id}");
    std::fs::write(files.dir.join(&name), secret).unwrap();
    AgentConfig::from_toml(&format!(
        r#"
        gateway = "{gateway}"
        server_name = "localhost"
        ca = "{}"
        agent_id = "{id}"
        token_file = "{}"
        allow = ["127.0.0.1"]
        reconnect_min = "100ms"
        reconnect_max = "400ms"
        "#,
        files.path("gw.pem"),
        files.path(&name),
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_jwt_key_disconnects_the_agents_and_clients_it_signed_for() {
    use ferry_auth::{Algorithm, JwtSpec, Role, SigningKey, generate_key_pair, sign_jwt};
    use ferry_tunnel::RejectReason;

    let files = Files::new(2);
    let rng = ring::rand::SystemRandom::new();
    let mut keys = Vec::new();
    for name in ["old", "new"] {
        let pair = generate_key_pair(Algorithm::EdDsa, &rng).unwrap();
        std::fs::write(files.dir.join(format!("{name}.pub")), &pair.public_spki_pem).unwrap();
        keys.push(SigningKey::from_pem(&pair.private_pkcs8_pem, None, &rng).unwrap());
    }
    let jwt = |key: &SigningKey, role, agent: &str| {
        sign_jwt(key, &JwtSpec::new(role, agent, 600), unix_now(), &rng).unwrap()
    };
    let both = format!(
        "jwt_keys = [{{ path = \"{}\" }}, {{ path = \"{}\" }}]",
        files.path("old.pub"),
        files.path("new.pub")
    );
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", &both)).await;
    // edge-0 holds a JWT signed with the old key, edge-1 its static token.
    let mut signed = start_agent(&agent_presenting(
        &files,
        gw.agents,
        "edge-0",
        &jwt(&keys[0], Role::Agent, "edge-0"),
    ))
    .await;
    let mut plain = start_agent(&files.agent_config(gw.agents, "edge-1", "")).await;
    signed.wait_for(|s| s.connected).await;
    plain.wait_for(|s| s.connected).await;
    let echo = echo_server().await.to_string();
    let old_client = connect_request(
        &echo,
        "edge-1",
        Some(&jwt(&keys[0], Role::Client, "edge-1")),
    );
    let new_client = connect_request(
        &echo,
        "edge-1",
        Some(&jwt(&keys[1], Role::Client, "edge-1")),
    );
    assert_eq!(ask(gw.client, &old_client, b"").await.0, 200);

    // The old key is rotated out.
    let only_new = format!("jwt_keys = [{{ path = \"{}\" }}]", files.path("new.pub"));
    let done = gw
        .reloader
        .reload(files.gateway_config("127.0.0.1:0", &only_new))
        .unwrap();
    assert!(
        done.applied
            .iter()
            .any(|a| a == "agents disconnected (credential revoked): edge-0"),
        "{done:?}"
    );
    let s = signed.wait_for(|s| s.rejections >= 1).await;
    assert_eq!(s.last_rejection, Some(RejectReason::BadCredential));
    assert!(
        !gw.tunnel
            .is_connected(&ferry_tunnel::AgentId::new("edge-0").unwrap())
    );
    // The agent with a static token stayed on its first connection.
    assert_eq!(plain.status.borrow().connects, 1);
    assert!(plain.status.borrow().connected);
    assert_eq!(ask(gw.client, &old_client, b"").await.0, 407);
    assert_eq!(ask(gw.client, &new_client, b"").await.0, 200);
    signed.stop().await;
    plain.stop().await;
    gw.stop().await;
}
