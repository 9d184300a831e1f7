//! The agent explains why it refuses the gateway's certificate, in `AgentStatus::last_error`
//! (also logged): a CA certificate as the gateway's, a name not covered, an expired
//! certificate, a certificate from another CA. Real gateway, real agent, real QUIC.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_tls::{DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, PrivateCa};
use ferry_tunnel::Gateway;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::{
    Pki, agent_config, both_transports, fast_gateway_config, start_agent, start_gateway_serving,
    verify,
};

/// Certificates are checked against the real clock by rustls, so they are made with it.
#[allow(clippy::disallowed_methods)]
fn now() -> SystemTime {
    SystemTime::now()
}

/// A `Pki` whose gateway presents `chain_pem` / `key_pem` and whose agents trust `ca_pem`.
fn pki(chain_pem: &str, key_pem: &str, ca_pem: &str) -> (Pki, rustls::ServerConfig) {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = ferry_tls::provider(ferry_tls::KeyExchange::default());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let pki = Pki {
        cert: ferry_tls::SelfSigned::generate(["unused"]).unwrap(),
        roots: Arc::new(roots),
    };
    (pki, server)
}

/// The agent's `last_error` when it connects as `localhost` (or `server_name`) to a gateway
/// presenting `server`, trusting `pki`'s roots.
async fn agent_error(pki: &Pki, server: rustls::ServerConfig, server_name: &str) -> String {
    let gateway = Gateway::new(fast_gateway_config(), verify);
    let gw =
        start_gateway_serving(gateway, "127.0.0.1:0".parse().unwrap(), || server.clone()).await;
    let mut config = agent_config(pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    config.server_name = server_name.to_owned();
    config.roots_source = Some("--tls-ca ca.pem".to_owned());
    let mut agent = start_agent(config);
    let status = agent.wait_for(|s| s.last_error.is_some()).await;
    assert!(!status.connected);
    assert_eq!(gw.gateway.connected_agents(), 0);
    agent.stop().await;
    gw.stop().await;
    status.last_error.unwrap()
}

both_transports! {
#[tokio::test]
async fn ca_certificate_as_the_gateways_certificate() {
    // What `openssl req -x509` makes: a CA certificate, used as the gateway's and trusted.
    let ca = PrivateCa::generate("localhost", now(), DEFAULT_CA_VALIDITY).unwrap();
    let (pki, server) = pki(ca.cert_pem(), ca.key_pem(), ca.cert_pem());
    let error = agent_error(&pki, server, "localhost").await;
    assert!(
        error.starts_with("the gateway at 127.0.0.1:")
            && error.contains(
                "presents a CA certificate (basicConstraints CA:TRUE) as its own certificate"
            )
            && error.contains("`ferry-gateway cert`"),
        "{error}"
    );
}
}

both_transports! {
#[tokio::test]
async fn gateway_certificate_for_other_names() {
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let cert = ca
        .issue_server(["gw.test", "10.1.2.3"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let (pki, server) = pki(cert.chain_pem(), cert.key_pem(), ca.cert_pem());
    let error = agent_error(&pki, server, "localhost").await;
    assert!(
        error.contains("is not valid for \"localhost\" (it is valid for gw.test, 10.1.2.3)")
            && error.contains("--server-name"),
        "{error}"
    );
}
}

both_transports! {
#[tokio::test]
async fn expired_gateway_certificate() {
    let ca =
        PrivateCa::generate("test CA", UNIX_EPOCH, Duration::from_secs(u32::MAX.into())).unwrap();
    // 2021-01-01 00:00:00 UTC, for one hour.
    let start = UNIX_EPOCH + Duration::from_secs(1_609_459_200);
    let cert = ca
        .issue_server(["localhost"], start, Duration::from_secs(3600))
        .unwrap();
    let (pki, server) = pki(cert.chain_pem(), cert.key_pem(), ca.cert_pem());
    let error = agent_error(&pki, server, "localhost").await;
    assert!(
        error.contains("expired on 2021-01-01 01:00:00 UTC; issue a new one"),
        "{error}"
    );
}
}

both_transports! {
#[tokio::test]
async fn gateway_certificate_from_another_ca() {
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let stranger = PrivateCa::generate("stranger CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let cert = stranger
        .issue_server(["localhost"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let (pki, server) = pki(cert.chain_pem(), cert.key_pem(), ca.cert_pem());
    let error = agent_error(&pki, server, "localhost").await;
    assert!(
        error.contains("is not signed by the CA in --tls-ca ca.pem"),
        "{error}"
    );
}
}
