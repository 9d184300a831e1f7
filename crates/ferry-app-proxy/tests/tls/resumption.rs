//! Session resumption through the proxy: tickets, the stateful cache, and a shared ticket key
//! across two proxy instances.

use std::sync::Arc;

use ferry_tls::rustls::client::Resumption;
use ferry_tls::rustls::{self, ClientConfig, RootCertStore};
use ferry_tls::{SelfSigned, SharedTicketer, TlsConnector, TlsVersion};

use crate::common::{
    TempDir, cert_lines, connector, localhost_cert, start_toml, tagged_echo, tls_connect, toml_path,
};

/// A TLS 1.2-only client trusting `cert`, with a session store.
fn tls12_connector(cert: &SelfSigned) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert_der().clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(ferry_tls::provider(ferry_tls::KeyExchange::default()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.resumption = Resumption::in_memory_sessions(16);
    TlsConnector::from_rustls(Arc::new(config))
}

async fn second_handshake_resumes(tls_extra: &str) -> bool {
    resumes(tls_extra, TlsVersion::Tls13).await
}

/// Two handshakes through one proxy with one client session store; whether the second resumed.
async fn resumes(tls_extra: &str, version: TlsVersion) -> bool {
    let up = tagged_echo(b'R').await;
    let dir = TempDir::new("resume");
    let cert = localhost_cert();
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}{tls_extra}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "server", &cert)
    ))
    .await;
    // One connector: one client session store.
    let client = match version {
        TlsVersion::Tls12 => tls12_connector(&cert),
        _ => connector(&[&cert], 16),
    };
    let (_first, info, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert!(!info.resumed, "first handshake must be full");
    assert_eq!(info.version, version);
    let (_second, info, tag) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(tag, b'R');
    drop((_first, _second));
    let r = p.stop().await;
    assert_eq!(r.tls_handshakes, 2);
    assert_eq!(
        r.tls_resumed,
        u64::from(info.resumed),
        "client and proxy disagree"
    );
    info.resumed
}

#[tokio::test]
async fn resumes_with_tickets_alone() {
    assert!(second_handshake_resumes("session_cache = 0\n").await);
}

#[tokio::test]
async fn resumes_with_the_session_cache_alone() {
    assert!(second_handshake_resumes("tickets = \"off\"\n").await);
}

#[tokio::test]
async fn tls12_resumes_with_tickets_alone() {
    assert!(resumes("session_cache = 0\n", TlsVersion::Tls12).await);
}

#[tokio::test]
async fn tls12_resumes_with_the_session_cache_alone() {
    assert!(resumes("tickets = \"off\"\n", TlsVersion::Tls12).await);
}

#[tokio::test]
async fn tls12_never_resumes_without_cache_and_tickets() {
    assert!(!resumes("tickets = \"off\"\nsession_cache = 0\n", TlsVersion::Tls12).await);
}

#[tokio::test]
async fn resumes_with_defaults() {
    assert!(second_handshake_resumes("").await);
}

#[tokio::test]
async fn no_cache_and_no_tickets_never_resume() {
    assert!(!second_handshake_resumes("tickets = \"off\"\nsession_cache = 0\n").await);
}

#[tokio::test]
async fn shared_ticket_key_file_resumes_across_proxy_instances() {
    let up = tagged_echo(b'S').await;
    let dir = TempDir::new("shared");
    let key = dir.path().join("ticket.key");
    SharedTicketer::write_new_key_file(&key).unwrap();
    let cert = localhost_cert();
    let text = format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\
         session_cache = 0\nticket_key_file = {}\n[pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "server", &cert),
        toml_path(&key)
    );
    let (a, b) = (start_toml(&text).await, start_toml(&text).await);
    let client = connector(&[&cert], 16);
    let (_first, info, _) = tls_connect(&client, a.addr(), "localhost").await;
    assert!(!info.resumed);
    let (_second, info, _) = tls_connect(&client, b.addr(), "localhost").await;
    assert!(
        info.resumed,
        "instance b did not accept instance a's ticket"
    );
    drop((_first, _second));
    assert_eq!(a.stop().await.tls_resumed, 0);
    assert_eq!(b.stop().await.tls_resumed, 1);
}
