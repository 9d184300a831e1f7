//! Certificates from `PrivateCa`, and refused certificates explained in plain words: each
//! mistake, presented by a real `TlsAcceptor`, reaches a real `TlsConnector` as a
//! `HandshakeError::Certificate` whose message names the problem and the fix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_tls::{
    AcceptorConfig, CertSource, CertificateFault, ConnectorConfig, DEFAULT_CA_VALIDITY,
    DEFAULT_SERVER_VALIDITY, HandshakeError, PemInput, PrivateCa, TlsAcceptor, TlsConnector,
    check_server_certificate,
};
use rustls::pki_types::UnixTime;
use tokio::net::TcpStream;

use crate::common::{Server, TempDir};

/// Certificates are checked against the real clock by rustls, so they are made with it.
#[allow(clippy::disallowed_methods)]
fn now() -> SystemTime {
    SystemTime::now()
}

fn unix_now() -> UnixTime {
    UnixTime::now()
}

/// A `TlsConnector` trusting the CA file `ca` handshakes with a server presenting `source`,
/// asking for `name`.
async fn handshake(
    source: CertSource,
    ca: &std::path::Path,
    name: &str,
) -> Result<(), HandshakeError> {
    let mut server = Server::start(TlsAcceptor::new(&AcceptorConfig::new(source)).unwrap()).await;
    let mut config = ConnectorConfig::new();
    config.add_ca(PemInput::file(ca));
    let connector = TlsConnector::new(&config).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let result = connector.connect(name, tcp).await.map(|_| ());
    // The server saw the handshake end either way.
    let _ = server.next().await;
    result
}

fn refusal(result: Result<(), HandshakeError>) -> (CertificateFault, String) {
    match result {
        Err(HandshakeError::Certificate(refused)) => {
            let text = refused.to_string();
            (refused.fault, text)
        }
        other => panic!("expected a certificate refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn issued_certificate_is_accepted_for_its_names_and_ips() {
    let dir = TempDir::new("issued");
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    let server = ca
        .issue_server(["gw.test", "127.0.0.1"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    for name in ["gw.test", "127.0.0.1"] {
        handshake(server.to_source(), &ca_file, name).await.unwrap();
    }
    assert!(check_server_certificate(&server.to_source(), unix_now()).is_empty());
}

#[tokio::test]
async fn reused_ca_issues_certificates_its_clients_trust() {
    let dir = TempDir::new("reuse");
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    let key_file = dir.write("ca.key", ca.key_pem());
    let again = PrivateCa::from_pem(&PemInput::file(&ca_file), &PemInput::file(&key_file)).unwrap();
    assert_eq!(again.cert_pem(), ca.cert_pem());
    let server = again
        .issue_server(["later.test"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    handshake(server.to_source(), &ca_file, "later.test")
        .await
        .unwrap();

    // A key that is not the CA's is refused before anything is issued.
    let other = PrivateCa::generate("other CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let wrong_key = dir.write("other.key", other.key_pem());
    let error =
        PrivateCa::from_pem(&PemInput::file(&ca_file), &PemInput::file(&wrong_key)).unwrap_err();
    assert!(
        matches!(error, ferry_tls::TlsConfigError::KeyMismatch { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn ca_certificate_as_server_certificate_is_explained() {
    let dir = TempDir::new("ca-leaf");
    // What `openssl req -x509` makes: a self-signed CA certificate, trusted as the CA and
    // presented as the server's certificate.
    let ca = PrivateCa::generate("localhost", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("gw.pem", ca.cert_pem());
    let source = CertSource::pem(ca.cert_pem(), ca.key_pem());
    let (fault, text) = refusal(handshake(source.clone(), &ca_file, "localhost").await);
    assert_eq!(fault, CertificateFault::CaCertificate);
    assert!(
        text.starts_with(
            "the server localhost presents a CA certificate (basicConstraints CA:TRUE)"
        ),
        "{text}"
    );
    assert!(
        text.contains("e.g. made with `ferry-gateway cert`"),
        "{text}"
    );

    // The server's own check finds it too (and that it names no host).
    let warnings = check_server_certificate(&source, unix_now());
    let faults: Vec<_> = warnings.iter().map(|w| w.fault.clone()).collect();
    assert_eq!(
        faults,
        [
            CertificateFault::CaCertificate,
            CertificateFault::NoSubjectAltName
        ]
    );
    assert!(warnings[0].to_string().contains("is a CA certificate"));
}

#[tokio::test]
async fn name_not_covered_names_what_the_certificate_covers() {
    let dir = TempDir::new("name");
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    let server = ca
        .issue_server(["other.test", "10.0.0.1"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let (fault, text) = refusal(handshake(server.to_source(), &ca_file, "localhost").await);
    assert_eq!(
        fault,
        CertificateFault::NameMismatch {
            expected: "localhost".into(),
            presented: vec!["other.test".into(), "10.0.0.1".into()],
        }
    );
    assert!(
        text.contains(
            "is not valid for \"localhost\" (it is valid for other.test, 10.0.0.1); connect \
             with a name it is valid for (--server-name), or reissue it for that name, e.g. \
             `ferry-gateway cert --name localhost`"
        ),
        "{text}"
    );

    let (_, by_ip) = refusal(handshake(server.to_source(), &ca_file, "127.0.0.1").await);
    assert!(
        by_ip.contains("`ferry-gateway cert --ip 127.0.0.1`"),
        "{by_ip}"
    );
}

#[tokio::test]
async fn expired_certificate_says_when() {
    let dir = TempDir::new("expired");
    let ca =
        PrivateCa::generate("test CA", UNIX_EPOCH, Duration::from_secs(u32::MAX.into())).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    // Valid for one day from 2020-01-01 00:00:00 UTC.
    let start = UNIX_EPOCH + Duration::from_secs(1_577_836_800);
    let server = ca
        .issue_server(["localhost"], start, Duration::from_secs(86_400))
        .unwrap();
    let (fault, text) = refusal(handshake(server.to_source(), &ca_file, "localhost").await);
    assert_eq!(
        fault,
        CertificateFault::Expired {
            not_after: Some(1_577_923_200)
        }
    );
    assert!(
        text.contains("the certificate of the server localhost expired on 2020-01-02 00:00:00 UTC; issue a new one"),
        "{text}"
    );
    let warnings = check_server_certificate(&server.to_source(), unix_now());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .to_string()
            .contains("expired on 2020-01-02 00:00:00 UTC: clients refuse it"),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn certificate_from_another_ca_names_the_trusted_file() {
    let dir = TempDir::new("issuer");
    let ca = PrivateCa::generate("test CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let stranger = PrivateCa::generate("stranger CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    let server = stranger
        .issue_server(["localhost"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let (fault, text) = refusal(handshake(server.to_source(), &ca_file, "localhost").await);
    assert_eq!(fault, CertificateFault::UnknownIssuer);
    assert!(
        text.contains(&format!(
            "the certificate of the server localhost is not signed by the CA in {}",
            ca_file.display()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn certificate_from_a_namesake_ca_names_the_trusted_file() {
    // Two CAs made alike: same name, other keys. webpki finds the trusted one as the issuer
    // by name and its signature does not verify.
    let dir = TempDir::new("namesake");
    let ca = PrivateCa::generate("Ferry private CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let namesake = PrivateCa::generate("Ferry private CA", now(), DEFAULT_CA_VALIDITY).unwrap();
    let ca_file = dir.write("ca.pem", ca.cert_pem());
    let server = namesake
        .issue_server(["localhost"], now(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let (fault, text) = refusal(handshake(server.to_source(), &ca_file, "localhost").await);
    assert_eq!(fault, CertificateFault::UnknownIssuer);
    assert!(text.contains("is not signed by the CA in"), "{text}");
}
