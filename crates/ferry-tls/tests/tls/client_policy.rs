//! Client-certificate policies: CAs, CRLs, revoked serials, the agent name rule, a policy
//! swapped while the acceptor runs, and resumed sessions checked again.

use std::time::{Duration, SystemTime};

use ferry_tls::{
    AcceptorConfig, CertIdentity, ClientAuth, ClientCertFault, ClientCertPolicy, ConnectorConfig,
    DEFAULT_CA_VALIDITY, DEFAULT_SERVER_VALIDITY, HandshakeError, IdentityError, IssuedCert,
    PemInput, PrivateCa, RevokedSerials, SharedClientVerifier, TlsAcceptor, TlsConfigError,
    TlsConnector,
};
use rustls::pki_types::{CertificateDer, UnixTime};

const DAY: Duration = Duration::from_secs(86_400);

/// rustls checks certificates against the real clock, so they are made with it.
#[allow(clippy::disallowed_methods)]
fn wall() -> SystemTime {
    SystemTime::now()
}

fn ca(name: &str) -> PrivateCa {
    PrivateCa::generate(name, wall() - DAY, DEFAULT_CA_VALIDITY).unwrap()
}

fn client(ca: &PrivateCa, name: &str) -> IssuedCert {
    ca.issue_client(name, wall() - DAY, DEFAULT_SERVER_VALIDITY)
        .unwrap()
}

fn chain(cert: &IssuedCert) -> Vec<CertificateDer<'static>> {
    vec![cert.leaf_der().clone()]
}

fn policy(ca: &PrivateCa) -> ClientCertPolicy {
    ClientCertPolicy::new(vec![PemInput::memory("agent CA", ca.cert_pem())])
}

fn now() -> UnixTime {
    UnixTime::now()
}

fn fault(policy: &ClientCertPolicy, cert: &[CertificateDer<'_>]) -> ClientCertFault {
    policy
        .build()
        .unwrap()
        .check(cert, now())
        .unwrap_err()
        .fault
}

#[test]
fn a_certificate_from_the_ca_passes_and_names_its_agent() {
    let ca = ca("agent CA");
    let cert = client(&ca, "edge-1");
    let identity = policy(&ca)
        .build()
        .unwrap()
        .check(&chain(&cert), now())
        .unwrap()
        .unwrap();
    assert_eq!(identity.agent_name(), Ok("edge-1"));
    assert_eq!(&identity.serial, cert.serial());
    assert_eq!(identity.subject, "CN=edge-1");
}

#[test]
fn another_ca_expired_and_server_certificates_are_refused_in_plain_words() {
    let ca = ca("agent CA");
    let stranger = client(&self::ca("stranger CA"), "edge-1");
    let refused = policy(&ca)
        .trusted_as("auth.agent_ca ca.pem")
        .build()
        .unwrap()
        .check(&chain(&stranger), now())
        .unwrap_err()
        .with_peer("the agent edge-1 at 192.0.2.7:4000");
    assert_eq!(refused.fault, ClientCertFault::UnknownIssuer);
    let text = refused.to_string();
    assert!(
        text.starts_with(
            "the certificate of the agent edge-1 at 192.0.2.7:4000 (CN=edge-1, serial "
        ),
        "{text}"
    );
    assert!(
        text.contains("is not signed by the CA in auth.agent_ca ca.pem"),
        "{text}"
    );

    let old = ca.issue_client("edge-1", wall() - 10 * DAY, DAY).unwrap();
    assert!(matches!(
        fault(&policy(&ca), &chain(&old)),
        ClientCertFault::Expired { not_after: Some(_) }
    ));

    let server = ca
        .issue_server(["edge-1"], wall() - DAY, DEFAULT_SERVER_VALIDITY)
        .unwrap();
    assert_eq!(
        fault(&policy(&ca), &chain(&server)),
        ClientCertFault::NotForClients
    );
}

#[test]
fn missing_certificates_are_refused_only_when_required() {
    let ca = ca("agent CA");
    assert_eq!(fault(&policy(&ca), &[]), ClientCertFault::Missing);
    let optional = policy(&ca).required(false).build().unwrap();
    assert_eq!(optional.check(&[], now()), Ok(None));
    // Optional still means checked when given.
    let stranger = client(&self::ca("stranger CA"), "edge-1");
    assert!(optional.check(&chain(&stranger), now()).is_err());
}

#[test]
fn a_listed_serial_is_refused_whatever_the_form_it_is_written_in() {
    let ca = ca("agent CA");
    let (revoked, kept) = (client(&ca, "edge-1"), client(&ca, "edge-2"));
    // As `openssl x509 -serial` prints it: upper case, no colons.
    let text = revoked.serial().to_string().replace(':', "").to_uppercase();
    let mut p = policy(&ca);
    p.revoked_serials(RevokedSerials::parse([text]).unwrap());
    let checker = p.build().unwrap();
    let refused = checker.check(&chain(&revoked), now()).unwrap_err();
    assert_eq!(
        refused.fault,
        ClientCertFault::RevokedSerial(revoked.serial().clone())
    );
    assert!(
        refused
            .to_string()
            .contains("is in the revoked serial list")
    );
    assert!(checker.check(&chain(&kept), now()).is_ok());
}

#[test]
fn a_crl_revokes_what_it_lists_and_leaves_the_rest() {
    let ca = ca("agent CA");
    let (revoked, kept) = (client(&ca, "edge-1"), client(&ca, "edge-2"));
    let crl = ca
        .crl_pem(
            std::slice::from_ref(revoked.serial()),
            wall() - DAY,
            30 * DAY,
            1,
        )
        .unwrap();
    let mut p = policy(&ca);
    p.crl(PemInput::memory("agent CRL", crl));
    let checker = p.build().unwrap();
    assert_eq!(
        checker.check(&chain(&revoked), now()).unwrap_err().fault,
        ClientCertFault::RevokedByCrl
    );
    assert!(checker.check(&chain(&kept), now()).is_ok());
}

#[test]
fn with_a_crl_a_ca_without_one_is_refused_as_unknown_status() {
    let (ca, other) = (ca("agent CA"), ca("second CA"));
    let crl = ca.crl_pem(&[], wall() - DAY, 30 * DAY, 1).unwrap();
    let mut p = ClientCertPolicy::new(vec![
        PemInput::memory("agent CA", ca.cert_pem()),
        PemInput::memory("second CA", other.cert_pem()),
    ]);
    p.crl(PemInput::memory("agent CRL", crl));
    let checker = p.build().unwrap();
    assert!(checker.check(&chain(&client(&ca, "edge-1")), now()).is_ok());
    assert_eq!(
        checker
            .check(&chain(&client(&other, "edge-2")), now())
            .unwrap_err()
            .fault,
        ClientCertFault::RevocationUnknown
    );
}

#[test]
fn bad_crl_files_are_named() {
    let ca = ca("agent CA");
    let mut p = policy(&ca);
    p.crl(PemInput::memory("agent CRL", ca.cert_pem()));
    assert!(matches!(p.build(), Err(TlsConfigError::NoCrl { .. })));
    let mut p = policy(&ca);
    p.crl(PemInput::memory(
        "agent CRL",
        vec![0x30, 0x03, 0x02, 0x01, 0x00],
    ));
    let err = p.build().unwrap_err();
    assert!(matches!(err, TlsConfigError::BadCrl { .. }), "{err:?}");
    assert!(err.to_string().starts_with("in-memory agent CRL: unusable"));
}

#[test]
fn the_agent_name_is_the_one_dns_subject_alt_name() {
    let ca = ca("agent CA");
    let server = ca
        .issue_server(["a.example", "b.example"], wall(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let identity = CertIdentity::parse(server.leaf_der()).unwrap();
    assert!(matches!(
        identity.agent_name(),
        Err(IdentityError::SeveralAgentNames { .. })
    ));
    let ip_only = ca
        .issue_server(["127.0.0.1"], wall(), DEFAULT_SERVER_VALIDITY)
        .unwrap();
    let identity = CertIdentity::parse(ip_only.leaf_der()).unwrap();
    let err = identity.agent_name().unwrap_err();
    assert!(matches!(err, IdentityError::NoAgentName { .. }));
    assert!(err.to_string().contains("the common name is not used"));
    assert_eq!(
        CertIdentity::parse(&CertificateDer::from(vec![0x30, 0x00])),
        Err(IdentityError::Unparseable)
    );
    assert!(ca.issue_client("has space", wall(), DAY).is_err());
    assert!(ca.issue_client("", wall(), DAY).is_err());
}

/// A TLS server with a shared policy, and clients with or without a certificate, over
/// in-memory pipes (real rustls on both ends).
struct Pair {
    acceptor: TlsAcceptor,
    verifier: SharedClientVerifier,
    server_ca: PrivateCa,
}

impl Pair {
    fn new(checker: Option<ferry_tls::ClientCertChecker>) -> Self {
        let server_ca = ca("server CA");
        let leaf = server_ca
            .issue_server(["localhost"], wall() - DAY, DEFAULT_SERVER_VALIDITY)
            .unwrap();
        let verifier = SharedClientVerifier::new("a client", checker);
        let mut config = AcceptorConfig::new(leaf.to_source());
        config.client_auth(ClientAuth::Shared(verifier.clone()));
        Self {
            acceptor: TlsAcceptor::new(&config).unwrap(),
            verifier,
            server_ca,
        }
    }

    fn connector(&self, cert: Option<&IssuedCert>) -> TlsConnector {
        let mut c = ConnectorConfig::new();
        c.add_ca(PemInput::memory("server CA", self.server_ca.cert_pem()));
        if let Some(cert) = cert {
            c.client_cert(cert.to_source());
        }
        TlsConnector::new(&c).unwrap()
    }

    /// The server's outcome of one handshake with `connector`.
    async fn handshake(
        &self,
        connector: &TlsConnector,
    ) -> Result<ferry_tls::HandshakeInfo, HandshakeError> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let client = async {
            // TLS 1.3 clients finish before the server has checked them; read until the
            // server speaks or closes so that tickets (or the alert) arrive.
            if let Ok((mut stream, _)) = connector.connect("localhost", client_io).await {
                let mut byte = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut byte).await;
            }
        };
        let server = async {
            let result = self.acceptor.accept(server_io).await;
            // Close (drop) the server side, so that the client's read ends.
            result.map(|(_stream, info)| info)
        };
        let (result, ()) = tokio::join!(server, client);
        result
    }
}

#[tokio::test]
async fn the_shared_policy_applies_to_the_next_handshake() {
    let ca = ca("client CA");
    let (good, other) = (client(&ca, "c1"), client(&self::ca("stranger"), "c1"));
    let pair = Pair::new(None);
    // No policy: no certificate asked for, a client without one gets through.
    let info = pair.handshake(&pair.connector(None)).await.unwrap();
    assert_eq!(info.peer_certificate, None);

    pair.verifier.store(Some(policy(&ca).build().unwrap()));
    let none = pair.handshake(&pair.connector(None)).await;
    assert!(
        matches!(
            none,
            Err(HandshakeError::Tls(rustls::Error::NoCertificatesPresented))
        ),
        "{none:?}"
    );
    let stranger = pair.handshake(&pair.connector(Some(&other))).await;
    assert!(
        matches!(
            stranger,
            Err(HandshakeError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            )))
        ),
        "{stranger:?}"
    );
    let info = pair.handshake(&pair.connector(Some(&good))).await.unwrap();
    assert_eq!(info.peer_certificate.as_ref(), Some(good.leaf_der()));

    let mut revoking = policy(&ca);
    revoking.revoked_serials([good.serial().clone()].into_iter().collect());
    pair.verifier.store(Some(revoking.build().unwrap()));
    let revoked = pair.handshake(&pair.connector(Some(&good))).await;
    assert!(
        matches!(
            revoked,
            Err(HandshakeError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            )))
        ),
        "{revoked:?}"
    );
}

#[tokio::test]
async fn a_resumed_session_is_checked_against_the_policy_in_force() {
    let ca = ca("client CA");
    let good = client(&ca, "c1");
    let pair = Pair::new(Some(policy(&ca).build().unwrap()));
    let connector = pair.connector(Some(&good));
    let first = pair.handshake(&connector).await.unwrap();
    assert!(!first.resumed);
    let second = pair.handshake(&connector).await.unwrap();
    assert!(second.resumed, "the test needs a resumed session");

    let mut revoking = policy(&ca);
    revoking.revoked_serials([good.serial().clone()].into_iter().collect());
    pair.verifier.store(Some(revoking.build().unwrap()));
    match pair.handshake(&connector).await {
        Err(HandshakeError::ClientCertificate(refused)) => {
            assert_eq!(
                refused.fault,
                ClientCertFault::RevokedSerial(good.serial().clone())
            );
            assert!(
                refused
                    .to_string()
                    .starts_with("the certificate of a client (CN=c1")
            );
        }
        other => panic!("a revoked certificate resumed: {other:?}"),
    }
}
