//! Client certificate keys: `[auth] agent_*` and `[client_tls] client_*`.

use super::tests::GW;
use super::{AgentAuthMode, AgentConfig, GatewayConfig};

fn gw_err(text: &str) -> String {
    GatewayConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn agent_auth_is_token_by_default_and_certificates_need_a_ca() {
    let c = GatewayConfig::from_toml(GW).unwrap();
    assert_eq!(c.auth.agent_mode, AgentAuthMode::Token);
    assert_eq!(c.auth.agent_certs, None);
    assert!(
        c.explain()
            .contains("agent auth: token (no client certificate asked for)")
    );

    let text = format!(
        "{GW}agent_auth = \"certificate\"\nagent_ca = \"ca.pem\"\nagent_crl = [\"a.crl\"]\nagent_revoked_serials = [\"0A:1B\", \"ff\"]\n"
    );
    let c = GatewayConfig::from_toml(&text).unwrap();
    assert_eq!(c.auth.agent_mode, AgentAuthMode::Certificate);
    let certs = c.auth.agent_certs.as_ref().unwrap();
    assert_eq!(certs.revoked_serials.len(), 2);
    assert!(certs.required);
    assert!(
        c.explain()
            .contains("agent auth: certificate certificates: ca=ca.pem crl=[a.crl] revoked_serials=[0A:1B, ff]"),
        "{}",
        c.explain()
    );

    let err = gw_err(&format!("{GW}agent_auth = \"token+certificate\"\n"));
    assert!(
        err.contains("auth.agent_ca") && err.contains("missing"),
        "{err}"
    );
    let err = gw_err(&format!("{GW}agent_ca = \"ca.pem\"\n"));
    assert!(
        err.contains("auth.agent_ca") && err.contains("set only with"),
        "{err}"
    );
    let err = gw_err(&format!("{GW}agent_auth = \"cert\"\n"));
    assert!(
        err.contains("auth.agent_auth") && err.contains("\"cert\""),
        "{err}"
    );
    let err = gw_err(&format!(
        "{GW}agent_auth = \"certificate\"\nagent_ca = \"ca.pem\"\nagent_revoked_serials = [\"0a\", \"xyz\"]\n"
    ));
    assert!(err.contains("auth.agent_revoked_serials[1]"), "{err}");
    let err = gw_err(&format!("{GW}agent_cert = \"x\"\n"));
    assert!(err.contains("agent_cert"), "{err}");
}

#[test]
fn client_tls_asks_for_certificates_only_with_a_ca() {
    let base = GW.replace("[auth]", "[client_tls]\nself_signed = true\n{EXTRA}[auth]");
    let with = |extra: &str| base.replace("{EXTRA}", extra);
    let c = GatewayConfig::from_toml(&with("")).unwrap();
    assert_eq!(c.client_certs, None);
    assert!(c.explain().contains("client certificates: not asked for"));

    let c = GatewayConfig::from_toml(&with("client_ca = \"c.pem\"\n")).unwrap();
    assert!(c.client_certs.as_ref().unwrap().required);
    let c = GatewayConfig::from_toml(&with(
        "client_ca = \"c.pem\"\nclient_auth = \"optional\"\nclient_crl = [\"c.crl\"]\nclient_revoked_serials = [\"01\"]\n",
    ))
    .unwrap();
    let certs = c.client_certs.as_ref().unwrap();
    assert!(!certs.required);
    assert_eq!(certs.crls.len(), 1);

    let err = gw_err(&with("client_auth = \"required\"\n"));
    assert!(
        err.contains("client_tls.client_auth") && err.contains("client_ca"),
        "{err}"
    );
    let err = gw_err(&with("client_ca = \"c.pem\"\nclient_auth = \"maybe\"\n"));
    assert!(
        err.contains("client_tls.client_auth") && err.contains("\"maybe\""),
        "{err}"
    );
    let err = gw_err(&with(
        "client_ca = \"c.pem\"\nclient_revoked_serials = [\"1:2\"]\n",
    ));
    assert!(
        err.contains("client_tls.client_revoked_serials[0]"),
        "{err}"
    );
    let err = gw_err(&with("client_crl = [\"c.crl\"]\n"));
    assert!(err.contains("client_tls.client_crl"), "{err}");
}

const AGENT: &str = r#"
gateway = "gw.example.com:4433"
ca = "ca.pem"
agent_id = "edge-1"
allow = ["10.0.0.0/8:22"]
"#;

#[test]
fn an_agent_certificate_is_a_credential_and_comes_with_its_key() {
    let c = AgentConfig::from_toml(&format!("{AGENT}cert = \"e.pem\"\nkey = \"e.key\"\n")).unwrap();
    assert!(c.client_cert.is_some());
    assert!(
        c.explain()
            .contains("credential: none (the client certificate only)")
    );
    assert!(
        c.explain()
            .contains("client certificate: cert=e.pem key=e.key")
    );
    let err = AgentConfig::from_toml(&format!("{AGENT}cert = \"e.pem\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("key") && err.contains("missing"), "{err}");
    // Neither a token nor a certificate: still refused.
    let err = AgentConfig::from_toml(AGENT).unwrap_err().to_string();
    assert!(err.contains("cert and key"), "{err}");
}
