//! Client certificates (mTLS) through the programs: agents authenticated by certificate
//! (`auth.agent_auth`), with revocation by serial and by CRL and a reload that revokes a
//! connected agent; the client front with `[client_tls] client_ca` and real curl.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use ferry_app_tunnel::config::{AgentConfig, GatewayConfig};
use ferry_tls::{DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, IssuedCert, PrivateCa};
use ferry_tunnel::RejectReason;
use tokio::process::Command;

use crate::accept_proxy::{access_log, logged};
use crate::harness::{
    AgentHandle, CLIENT_TOKEN, Files, connect_agents, echo_server, http_server, round_trip,
    start_agent, start_gateway, tunnel,
};

const DAY: Duration = Duration::from_secs(86_400);

/// rustls checks certificates against the real clock, so they are made with it.
#[allow(clippy::disallowed_methods)]
fn wall() -> SystemTime {
    SystemTime::now()
}

/// An agent CA (`agent-ca.pem`) in `files`, and certificates it issues.
struct AgentCa {
    ca: PrivateCa,
}

impl AgentCa {
    fn new(files: &Files) -> Self {
        let ca = PrivateCa::generate("e2e agent CA", wall() - DAY, DEFAULT_CA_VALIDITY).unwrap();
        std::fs::write(files.path("agent-ca.pem"), ca.cert_pem()).unwrap();
        Self { ca }
    }

    /// Issues a certificate for `name`, written as `<file>.crt` / `<file>.key`.
    fn issue(&self, files: &Files, name: &str, file: &str) -> IssuedCert {
        write(files, file, self.issue_unwritten(name))
    }

    fn issue_unwritten(&self, name: &str) -> IssuedCert {
        self.ca
            .issue_client(name, wall() - DAY, DEFAULT_SERVER_VALIDITY)
            .unwrap()
    }
}

fn write(files: &Files, file: &str, cert: IssuedCert) -> IssuedCert {
    std::fs::write(files.path(&format!("{file}.crt")), cert.chain_pem()).unwrap();
    std::fs::write(files.path(&format!("{file}.key")), cert.key_pem()).unwrap();
    cert
}

/// The gateway config with `[auth]` keys `auth` (after `tokens`).
fn gateway(files: &Files, auth: &str) -> GatewayConfig {
    files.gateway_config("127.0.0.1:0", auth)
}

/// Agent `id` presenting `<cert>.crt` (no token), or only its token without `cert`.
fn agent(files: &Files, gw: SocketAddr, id: &str, cert: Option<&str>) -> AgentConfig {
    let credential = match cert {
        Some(file) => format!(
            "cert = \"{}\"\nkey = \"{}\"",
            files.path(&format!("{file}.crt")),
            files.path(&format!("{file}.key"))
        ),
        None => format!("token_file = \"{}\"", files.path(&format!("{id}.token"))),
    };
    AgentConfig::from_toml(&format!(
        r#"
        gateway = "{gw}"
        server_name = "localhost"
        ca = "{}"
        agent_id = "{id}"
        allow = ["127.0.0.1"]
        reconnect_min = "100ms"
        reconnect_max = "400ms"
        {credential}
        "#,
        files.path("gw.pem"),
    ))
    .unwrap()
}

async fn refused_with(agent: &mut AgentHandle, text: &str) -> String {
    let status = agent
        .wait_for(|s| s.last_error.as_deref().is_some_and(|e| e.contains(text)))
        .await;
    assert!(!status.connected);
    status.last_error.unwrap()
}

const CERT_ONLY: &str = "agent_auth = \"certificate\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_need_a_certificate_from_the_ca_for_their_own_id() {
    let files = Files::new(3);
    let ca = AgentCa::new(&files);
    ca.issue(&files, "edge-0", "edge-0");
    ca.issue(&files, "edge-0", "edge-0-for-edge-2");
    let stranger = PrivateCa::generate("stranger CA", wall() - DAY, DEFAULT_CA_VALIDITY).unwrap();
    write(
        &files,
        "stranger",
        stranger
            .issue_client("edge-1", wall() - DAY, DEFAULT_SERVER_VALIDITY)
            .unwrap(),
    );
    let config = gateway(
        &files,
        &format!("{CERT_ONLY}\nagent_ca = \"{}\"", files.path("agent-ca.pem")),
    );
    let gw = start_gateway(&config).await;
    let log = access_log();

    // Valid: connects (with no token at all) and carries a tunnel.
    let mut good = start_agent(&agent(&files, gw.agents, "edge-0", Some("edge-0"))).await;
    good.wait_for(|s| s.connected).await;
    let echo = echo_server().await;
    assert_eq!(
        round_trip(tunnel(gw.client, echo).await, b"through mtls").await,
        b"through mtls"
    );

    // No certificate (a token is not enough in this mode).
    let mut none = start_agent(&agent(&files, gw.agents, "edge-1", None)).await;
    let error = refused_with(&mut none, "requires a TLS client certificate").await;
    assert!(error.contains("--tls-cert/--tls-key"), "{error}");
    none.stop().await;

    // Another CA's certificate: refused by the TLS layer, the gateway log says why.
    let mut foreign = start_agent(&agent(&files, gw.agents, "edge-1", Some("stranger"))).await;
    refused_with(
        &mut foreign,
        "refused this agent's TLS client certificate: unknown CA",
    )
    .await;
    foreign.stop().await;
    let line = logged(
        &log,
        &[
            "client certificate refused",
            "CN=edge-1",
            "is not signed by the CA in auth.agent_ca",
        ],
    )
    .await;
    assert!(line.contains("the certificate of an agent"), "{line}");

    // A valid certificate for another agent id: `check` warns, the gateway says bad credential.
    let borrowed_config = agent(&files, gw.agents, "edge-2", Some("edge-0-for-edge-2"));
    let out = ferry_app_tunnel::agent::check(&borrowed_config, |_| None)
        .await
        .unwrap();
    assert!(
        out.contains(
            "warning: the certificate names the agent \"edge-0\", not agent_id \"edge-2\""
        ),
        "{out}"
    );
    let out =
        ferry_app_tunnel::agent::check(&agent(&files, gw.agents, "edge-0", Some("edge-0")), |_| {
            None
        })
        .await
        .unwrap();
    assert!(
        out.contains("loaded: cert ") && out.contains(": for agent edge-0 (CN=edge-0, serial "),
        "{out}"
    );
    assert!(
        out.contains("loaded: no token (the client certificate is the credential)"),
        "{out}"
    );
    let mut borrowed = start_agent(&agent(
        &files,
        gw.agents,
        "edge-2",
        Some("edge-0-for-edge-2"),
    ))
    .await;
    let status = borrowed.wait_for(|s| s.rejections > 0).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    assert!(!gw.tunnel.is_connected(&"edge-2".parse().unwrap()));
    borrowed.stop().await;
    let line = logged(
        &log,
        &[
            "agent certificate refused",
            "is for the agent \"edge-0\", not \"edge-2\"",
        ],
    )
    .await;
    assert!(line.contains("edge-2"), "{line}");

    connect_agents(&gw.tunnel, 1).await;
    good.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificates_are_refused_by_serial_and_by_crl() {
    let files = Files::new(2);
    let ca = AgentCa::new(&files);
    let by_serial = ca.issue(&files, "edge-0", "edge-0");
    let by_crl = ca.issue(&files, "edge-1", "edge-1");
    let crl = ca
        .ca
        .crl_pem(
            std::slice::from_ref(by_crl.serial()),
            wall() - DAY,
            30 * DAY,
            1,
        )
        .unwrap();
    std::fs::write(files.path("agent-ca.crl"), crl).unwrap();
    // As `openssl x509 -serial` prints it.
    let serial = by_serial
        .serial()
        .to_string()
        .replace(':', "")
        .to_uppercase();
    let config = gateway(
        &files,
        &format!(
            "{CERT_ONLY}\nagent_ca = \"{}\"\nagent_crl = [\"{}\"]\nagent_revoked_serials = [\"{serial}\"]",
            files.path("agent-ca.pem"),
            files.path("agent-ca.crl"),
        ),
    );
    let check = ferry_app_tunnel::gateway::check(&config).unwrap();
    assert!(
        check.contains("agent auth: certificate certificates: ca="),
        "{check}"
    );
    let gw = start_gateway(&config).await;

    let mut a = start_agent(&agent(&files, gw.agents, "edge-0", Some("edge-0"))).await;
    refused_with(&mut a, "certificate revoked").await;
    let mut b = start_agent(&agent(&files, gw.agents, "edge-1", Some("edge-1"))).await;
    refused_with(&mut b, "certificate revoked").await;
    assert_eq!(gw.tunnel.connected_agents(), 0);
    a.stop().await;
    b.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_a_new_serial_list_disconnects_the_agent_and_keeps_it_out() {
    let files = Files::new(2);
    let ca = AgentCa::new(&files);
    let revoked = ca.issue(&files, "edge-0", "edge-0");
    ca.issue(&files, "edge-1", "edge-1");
    let auth = format!("{CERT_ONLY}\nagent_ca = \"{}\"", files.path("agent-ca.pem"));
    let gw = start_gateway(&gateway(&files, &auth)).await;
    let mut gone = start_agent(&agent(&files, gw.agents, "edge-0", Some("edge-0"))).await;
    let mut kept = start_agent(&agent(&files, gw.agents, "edge-1", Some("edge-1"))).await;
    gone.wait_for(|s| s.connected).await;
    kept.wait_for(|s| s.connected).await;

    let done = gw
        .reloader
        .reload(gateway(
            &files,
            &format!("{auth}\nagent_revoked_serials = [\"{}\"]", revoked.serial()),
        ))
        .unwrap();
    assert!(
        done.applied
            .iter()
            .any(|a| a == "agents disconnected (credential revoked): edge-0"),
        "{done:?}"
    );
    assert!(
        done.applied
            .iter()
            .any(|a| a.starts_with("agent certificates")),
        "{done:?}"
    );
    assert!(!gw.tunnel.is_connected(&"edge-0".parse().unwrap()));
    assert!(gw.tunnel.is_connected(&"edge-1".parse().unwrap()));
    // It comes back and is refused: by the TLS layer on a full handshake, by the verifier on
    // a resumed session.
    let before = gone.status.borrow().rejections;
    let status = gone
        .wait_for(|s| {
            s.rejections > before
                || s.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("certificate revoked"))
        })
        .await;
    assert!(!status.connected);
    assert!(!gw.tunnel.is_connected(&"edge-0".parse().unwrap()));
    gone.stop().await;
    kept.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_certificate_need_both() {
    let files = Files::new(2);
    let ca = AgentCa::new(&files);
    ca.issue(&files, "edge-0", "edge-0");
    ca.issue(&files, "edge-1", "edge-1");
    // edge-1's token file holds edge-0's token.
    std::fs::copy(files.path("edge-0.token"), files.path("edge-1.token")).unwrap();
    let gw = start_gateway(&gateway(
        &files,
        &format!(
            "agent_auth = \"token+certificate\"\nagent_ca = \"{}\"",
            files.path("agent-ca.pem")
        ),
    ))
    .await;
    let with_token = |id: &str| {
        AgentConfig::from_toml(&format!(
            r#"
            gateway = "{}"
            server_name = "localhost"
            ca = "{}"
            agent_id = "{id}"
            allow = ["127.0.0.1"]
            reconnect_min = "100ms"
            reconnect_max = "400ms"
            cert = "{}"
            key = "{}"
            token_file = "{}"
            "#,
            gw.agents,
            files.path("gw.pem"),
            files.path(&format!("{id}.crt")),
            files.path(&format!("{id}.key")),
            files.path(&format!("{id}.token")),
        ))
        .unwrap()
    };
    let mut both = start_agent(&with_token("edge-0")).await;
    both.wait_for(|s| s.connected).await;
    let mut wrong_token = start_agent(&with_token("edge-1")).await;
    let status = wrong_token.wait_for(|s| s.rejections > 0).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    // A certificate without a token.
    let mut no_token = start_agent(&agent(&files, gw.agents, "edge-1", Some("edge-1"))).await;
    let status = no_token.wait_for(|s| s.rejections > 0).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    connect_agents(&gw.tunnel, 1).await;
    for a in [both, wrong_token, no_token] {
        a.stop().await;
    }
    gw.stop().await;
}

/// Runs curl through the HTTPS client front (`-p`: a CONNECT tunnel) to `target`, presenting
/// `cert` (`<cert>.crt`/`.key`) when given; returns whether it succeeded, stdout, stderr.
async fn curl(
    files: &Files,
    front: SocketAddr,
    target: SocketAddr,
    cert: Option<&str>,
) -> (bool, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "-p"])
        .arg("-x")
        .arg(format!(
            "https://edge-0:{CLIENT_TOKEN}@127.0.0.1:{}",
            front.port()
        ))
        .arg("--proxy-cacert")
        .arg(files.path("gw.pem"));
    if let Some(file) = cert {
        cmd.arg("--proxy-cert")
            .arg(files.path(&format!("{file}.crt")))
            .arg("--proxy-key")
            .arg(files.path(&format!("{file}.key")));
    }
    let out = cmd
        .arg(format!("http://{target}/"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl must be installed (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_a_client_certificate_gets_through_the_front_and_others_do_not() {
    let files = Files::new(1);
    let ca = AgentCa::new(&files);
    ca.issue(&files, "curl-client", "client");
    let revoked = ca.issue(&files, "old-client", "revoked");
    let client_tls = |serials: &str| {
        GatewayConfig::from_toml(&format!(
            r#"
            listen = "127.0.0.1:0"
            agent_listen = "127.0.0.1:0"
            allow = ["127.0.0.1"]
            [tls]
            cert = "{gw_pem}"
            key = "{gw_key}"
            [client_tls]
            cert = "{gw_pem}"
            key = "{gw_key}"
            client_ca = "{ca}"
            client_revoked_serials = [{serials}]
            [auth]
            tokens = "{tokens}"
            "#,
            gw_pem = files.path("gw.pem"),
            gw_key = files.path("gw.key"),
            ca = files.path("agent-ca.pem"),
            tokens = files.path("tokens"),
        ))
        .unwrap()
    };
    let config = client_tls(&format!("\"{}\"", revoked.serial()));
    let check = ferry_app_tunnel::gateway::check(&config).unwrap();
    assert!(check.contains("client certificates: ca="), "{check}");
    let gw = start_gateway(&config).await;
    let mut agent = start_agent(&files.agent_config(gw.agents, "edge-0", "")).await;
    agent.wait_for(|s| s.connected).await;
    let http = http_server().await;
    let log = access_log();

    let (ok, out, err) = curl(&files, gw.client, http, Some("client")).await;
    assert!(ok, "curl with a valid certificate failed: {err}");
    assert_eq!(out, "hello");
    logged(
        &log,
        &[
            "tunnel",
            "client_cert=\"CN=curl-client, serial",
            "status=200",
        ],
    )
    .await;

    let (ok, _, err) = curl(&files, gw.client, http, None).await;
    assert!(!ok, "curl without a certificate got through");
    logged(&log, &["tls_handshake_failed", "peer sent no certificates"]).await;
    let _ = err;

    let (ok, _, _) = curl(&files, gw.client, http, Some("revoked")).await;
    assert!(!ok, "curl with a revoked certificate got through");
    logged(
        &log,
        &[
            "client certificate refused",
            "CN=old-client",
            "is in the revoked serial list",
        ],
    )
    .await;
    assert_eq!(gw.front.stats().replies(200), 1);

    // A reload that lifts the revocation lets it through.
    gw.reloader.reload(client_tls("")).unwrap();
    let (ok, out, err) = curl(&files, gw.client, http, Some("revoked")).await;
    assert!(ok, "{err}");
    assert_eq!(out, "hello");

    agent.stop().await;
    gw.stop().await;
}
