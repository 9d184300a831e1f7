//! Agent authentication through `AgentAuth` (ferry-auth behind ferry-tunnel's hook): the
//! right token or JWT for the presented id connects; a client credential, another agent's
//! credential, or a JWT for another id is refused.

use ferry_app_tunnel::config::AgentConfig;
use ferry_auth::{Algorithm, JwtSpec, Role, SigningKey, generate_key_pair, sign_jwt};
use ferry_tunnel::RejectReason;
use ring::rand::SystemRandom;

use crate::harness::{CLIENT_TOKEN, Files, start_agent, start_gateway};

fn agent_with_secret(
    files: &Files,
    gateway: std::net::SocketAddr,
    id: &str,
    secret: &str,
) -> AgentConfig {
    let name = format!("secret-{id}-{}", secret.len());
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
        reconnect_max = "200ms"
        "#,
        files.path("gw.pem"),
        files.path(&name),
    ))
    .unwrap()
}

async fn refused(config: &AgentConfig) {
    let mut agent = start_agent(config).await;
    let s = agent.wait_for(|s| s.rejections >= 1).await;
    assert_eq!(s.connects, 0);
    assert_eq!(s.last_rejection, Some(RejectReason::BadCredential));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens_are_scoped_to_role_and_agent_id() {
    let files = Files::new(2);
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", "")).await;
    // A client token is not an agent credential.
    refused(&agent_with_secret(
        &files,
        gw.agents,
        "edge-0",
        CLIENT_TOKEN,
    ))
    .await;
    // edge-1's token does not make its holder edge-0.
    refused(&agent_with_secret(
        &files,
        gw.agents,
        "edge-0",
        &crate::harness::agent_token("edge-1"),
    ))
    .await;
    assert_eq!(gw.tunnel.connected_agents(), 0);
    let mut ok = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    ok.wait_for(|s| s.connected).await;
    assert!(gw.tunnel.is_connected(&"edge-0".parse().unwrap()));
    ok.stop().await;
    gw.stop().await;
}

#[allow(clippy::disallowed_methods)] // the gateway checks `exp` against the real clock
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_jwts_must_carry_role_agent_and_the_presented_id() {
    let files = Files::new(0);
    let rng = SystemRandom::new();
    let pair = generate_key_pair(Algorithm::EdDsa, &rng).unwrap();
    std::fs::write(files.dir.join("jwt.pub"), &pair.public_spki_pem).unwrap();
    let signer = SigningKey::from_pem(&pair.private_pkcs8_pem, None, &rng).unwrap();
    let jwt = |role, agent: &str| {
        sign_jwt(&signer, &JwtSpec::new(role, agent, 600), now(), &rng).unwrap()
    };
    let extra = format!("jwt_keys = [{{ path = \"{}\" }}]", files.path("jwt.pub"));
    // `extra` lands inside [auth].
    let gw = start_gateway(&files.gateway_config("127.0.0.1:0", &extra)).await;

    refused(&agent_with_secret(
        &files,
        gw.agents,
        "edge-0",
        &jwt(Role::Client, "edge-0"),
    ))
    .await;
    refused(&agent_with_secret(
        &files,
        gw.agents,
        "edge-0",
        &jwt(Role::Agent, "edge-1"),
    ))
    .await;
    let mut ok = start_agent(&agent_with_secret(
        &files,
        gw.agents,
        "edge-0",
        &jwt(Role::Agent, "edge-0"),
    ))
    .await;
    ok.wait_for(|s| s.connected).await;
    ok.stop().await;
    gw.stop().await;
}
