//! Client certificates (mTLS) between agent and gateway: the gateway's TLS layer checks the
//! chain (a `SharedClientVerifier`), the gateway hands the chain to the `AgentVerifier`
//! (`verify_with_certificates`), which matches the certificate's agent name against the id;
//! `revalidate` checks the held chain against a new policy. Real quinn, real rustls.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_tls::{
    ClientCertPolicy, DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, IssuedCert, PemInput,
    PrivateCa, RevokedSerials, SharedClientVerifier,
};
use ferry_tunnel::{AgentId, AgentRejected, AgentVerifier, Gateway, RejectReason};
use rustls::pki_types::{CertificateDer, UnixTime};

use crate::common::*;

/// Certificates are checked against the real clock by rustls, so they are made with it.
#[allow(clippy::disallowed_methods)]
fn now() -> SystemTime {
    SystemTime::now()
}

const DAY: Duration = Duration::from_secs(86_400);

/// Certificate only: the chain must pass the shared policy and name the agent.
struct ByCertificate(SharedClientVerifier);

impl AgentVerifier for ByCertificate {
    fn verify(&self, _: &AgentId, _: &str, _: u64) -> Result<(), AgentRejected> {
        // The gateway always calls verify_with_certificates.
        Err(AgentRejected::BadCredential)
    }

    fn verify_with_certificates(
        &self,
        agent_id: &AgentId,
        _credential: &str,
        certificates: &[CertificateDer<'static>],
        now_unix: u64,
    ) -> Result<(), AgentRejected> {
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix));
        match self.0.check(certificates, now) {
            Ok(Some(identity)) if identity.agent_name() == Ok(agent_id.as_str()) => Ok(()),
            _ => Err(AgentRejected::BadCredential),
        }
    }
}

struct Setup {
    pki: Pki,
    ca: PrivateCa,
    shared: SharedClientVerifier,
    gw: GatewayHandle,
}

fn policy(ca: &PrivateCa) -> ClientCertPolicy {
    ClientCertPolicy::new(vec![PemInput::memory("agent CA", ca.cert_pem())])
}

async fn setup() -> Setup {
    let pki = Pki::new();
    let ca = PrivateCa::generate("agent CA", now() - DAY, DEFAULT_CA_VALIDITY).unwrap();
    let shared = SharedClientVerifier::new("an agent", Some(policy(&ca).build().unwrap()));
    let provider = ferry_tls::provider(ferry_tls::KeyExchange::PostQuantum);
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(shared.clone()))
        .with_single_cert(vec![pki.cert.cert_der().clone()], pki.cert.key_der())
        .unwrap();
    let gateway = Gateway::new(fast_gateway_config(), ByCertificate(shared.clone()));
    let endpoint = gateway.bind("127.0.0.1:0".parse().unwrap(), tls).unwrap();
    let gw = run_bound(gateway, endpoint);
    Setup {
        pki,
        ca,
        shared,
        gw,
    }
}

fn client(ca: &PrivateCa, name: &str) -> IssuedCert {
    ca.issue_client(name, now() - DAY, DEFAULT_SERVER_VALIDITY)
        .unwrap()
}

fn agent_with(s: &Setup, agent: &str, cert: Option<&IssuedCert>) -> AgentHandle {
    let mut config = agent_config(&s.pki, s.gw.addr, agent, "unused", "127.0.0.1");
    config.client_cert = cert.map(|c| c.to_source().certified_key().unwrap());
    start_agent(config)
}

#[tokio::test]
async fn an_agent_without_a_certificate_is_refused_and_told_why() {
    let s = setup().await;
    let mut agent = agent_with(&s, "edge-1", None);
    let status = agent.wait_for(|st| st.last_error.is_some()).await;
    let error = status.last_error.unwrap();
    assert!(
        error.contains("requires a TLS client certificate"),
        "{error}"
    );
    assert_eq!(s.gw.gateway.connected_agents(), 0);
    agent.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_and_told_why() {
    let s = setup().await;
    let stranger = PrivateCa::generate("stranger CA", now() - DAY, DEFAULT_CA_VALIDITY).unwrap();
    let cert = client(&stranger, "edge-1");
    let mut agent = agent_with(&s, "edge-1", Some(&cert));
    let status = agent.wait_for(|st| st.last_error.is_some()).await;
    let error = status.last_error.unwrap();
    assert!(
        error.contains("refused this agent's TLS client certificate: unknown CA"),
        "{error}"
    );
    assert_eq!(s.gw.gateway.connected_agents(), 0);
    agent.stop().await;
}

#[tokio::test]
async fn a_certificate_for_another_agent_is_a_bad_credential() {
    let s = setup().await;
    let cert = client(&s.ca, "edge-2");
    let mut agent = agent_with(&s, "edge-1", Some(&cert));
    let status = agent.wait_for(|st| st.rejections > 0).await;
    assert_eq!(status.last_rejection, Some(RejectReason::BadCredential));
    assert!(!s.gw.gateway.is_connected(&id("edge-1")));
    assert!(!s.gw.gateway.is_connected(&id("edge-2")));
    agent.stop().await;
}

#[tokio::test]
async fn a_valid_certificate_connects_carries_a_tunnel_and_is_cut_when_revoked() {
    let s = setup().await;
    let (cert, other) = (client(&s.ca, "edge-1"), client(&s.ca, "edge-2"));
    let mut agent = agent_with(&s, "edge-1", Some(&cert));
    let mut kept = agent_with(&s, "edge-2", Some(&other));
    agent.wait_for(|st| st.connected).await;
    kept.wait_for(|st| st.connected).await;

    let echo = echo_server().await;
    let tunnel =
        s.gw.gateway
            .open(
                &id("edge-1"),
                echo.try_into().unwrap(),
                "192.0.2.1:1".parse().unwrap(),
            )
            .await
            .unwrap();
    let data = payload(64 * 1024, 7);
    assert_eq!(round_trip(tunnel, &data).await, data);

    // The serial is revoked: the held chain fails the new policy at revalidation.
    let mut revoking = policy(&s.ca);
    revoking.revoked_serials(RevokedSerials::parse([cert.serial().to_string()]).unwrap());
    s.shared.store(Some(revoking.build().unwrap()));
    let done = s.gw.gateway.revalidate();
    assert_eq!(done.revoked, vec![id("edge-1")]);
    assert_eq!(done.checked, 2);
    assert!(s.gw.gateway.is_connected(&id("edge-2")));

    // And it cannot come back: a full handshake is refused by the TLS layer (certificate
    // revoked); a resumed session (the agent resumes by default) skips that check and is
    // refused by the verifier (bad credential).
    let status = agent
        .wait_for(|st| {
            st.rejections > 0
                || st
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("certificate revoked"))
        })
        .await;
    assert!(!status.connected);
    assert!(
        status.last_rejection == Some(RejectReason::BadCredential) || status.last_error.is_some(),
        "{status:?}"
    );
    assert!(!s.gw.gateway.is_connected(&id("edge-1")));
    agent.stop().await;
    kept.stop().await;
}
