//! Session resumption: tickets, the stateful cache, shared ticket keys, reloads.

use std::sync::Arc;

use ferry_tls::{AcceptorConfig, SharedTicketer, Tickets, TlsAcceptor, TlsVersion};
use rustls::{HandshakeKind, SupportedProtocolVersion};

use crate::common::{ANY, Server, TLS12, TLS13, TempDir, TestCa, client_config, connect};

struct Setup {
    ca: TestCa,
    config: AcceptorConfig,
}

fn setup(cache: usize, tickets: Tickets) -> Setup {
    let ca = TestCa::new("resumption CA");
    let mut config = AcceptorConfig::new(ca.leaf(&["localhost"]).source());
    config.session_cache_size(cache).tickets(tickets);
    Setup { ca, config }
}

/// Connect twice with one client config (one client session store) to the given servers;
/// return whether each server and each client saw a resumed handshake.
async fn twice(
    first: &mut Server,
    second: &mut Server,
    ca_pem: &str,
    versions: &[&'static SupportedProtocolVersion],
) -> [(bool, bool); 2] {
    let client = Arc::new(client_config(&[ca_pem], versions));
    let mut out = [(false, false); 2];
    for (slot, server) in out.iter_mut().zip([first, second]) {
        let tls = connect(server.addr, &client, "localhost").await.unwrap();
        let info = server.next_ok().await;
        let client_kind = tls.get_ref().1.handshake_kind();
        *slot = (info.resumed, client_kind == Some(HandshakeKind::Resumed));
    }
    out
}

async fn resumes_on_one_acceptor(
    cache: usize,
    tickets: Tickets,
    versions: &[&'static SupportedProtocolVersion],
) -> bool {
    let s = setup(cache, tickets);
    let acceptor = TlsAcceptor::new(&s.config).unwrap();
    let mut a = Server::start(acceptor.clone()).await;
    let mut b = Server::start(acceptor).await;
    let [first, second] = twice(&mut a, &mut b, &s.ca.pem(), versions).await;
    assert_eq!(first, (false, false), "first handshake must be full");
    assert_eq!(
        second.0, second.1,
        "server and client disagree on resumption"
    );
    second.0
}

#[tokio::test]
async fn tls13_tickets_resume() {
    assert!(resumes_on_one_acceptor(0, Tickets::PerProcess, TLS13).await);
}

#[tokio::test]
async fn tls12_tickets_resume() {
    assert!(resumes_on_one_acceptor(0, Tickets::PerProcess, TLS12).await);
}

#[tokio::test]
async fn tls13_stateful_cache_alone_resumes() {
    assert!(resumes_on_one_acceptor(100, Tickets::Off, TLS13).await);
}

#[tokio::test]
async fn tls12_stateful_cache_alone_resumes() {
    assert!(resumes_on_one_acceptor(100, Tickets::Off, TLS12).await);
}

#[tokio::test]
async fn default_config_resumes() {
    let ca = TestCa::new("default CA");
    let config = AcceptorConfig::new(ca.leaf(&["localhost"]).source());
    let acceptor = TlsAcceptor::new(&config).unwrap();
    let mut server = Server::start(acceptor).await;
    let client = Arc::new(client_config(&[&ca.pem()], ANY));
    connect(server.addr, &client, "localhost").await.unwrap();
    assert!(!server.next_ok().await.resumed);
    connect(server.addr, &client, "localhost").await.unwrap();
    let info = server.next_ok().await;
    assert!(info.resumed);
    assert_eq!(info.version, TlsVersion::Tls13);
}

#[tokio::test]
async fn no_cache_and_no_tickets_never_resume() {
    for versions in [TLS13, TLS12] {
        assert!(!resumes_on_one_acceptor(0, Tickets::Off, versions).await);
    }
}

fn key_file(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    SharedTicketer::write_new_key_file(&path).unwrap();
    path
}

/// Two acceptors (two "instances", no shared cache) with the given ticket settings.
async fn across_instances(
    tickets_a: Tickets,
    tickets_b: Tickets,
    versions: &[&'static SupportedProtocolVersion],
) -> bool {
    let ca = TestCa::new("shared CA");
    let leaf = ca.leaf(&["localhost"]);
    let build = |tickets: Tickets| {
        let mut config = AcceptorConfig::new(leaf.source());
        config.session_cache_size(0).tickets(tickets);
        TlsAcceptor::new(&config).unwrap()
    };
    let mut a = Server::start(build(tickets_a)).await;
    let mut b = Server::start(build(tickets_b)).await;
    let [first, second] = twice(&mut a, &mut b, &ca.pem(), versions).await;
    assert_eq!(first, (false, false));
    assert_eq!(second.0, second.1);
    second.0
}

#[tokio::test]
async fn shared_ticket_key_file_resumes_across_acceptors() {
    let dir = TempDir::new("shared-key");
    let key = key_file(&dir, "ticket.key");
    for versions in [TLS13, TLS12] {
        assert!(
            across_instances(
                Tickets::shared_key_file(&key),
                Tickets::shared_key_file(&key),
                versions
            )
            .await,
            "no resumption across instances sharing a key ({versions:?})"
        );
    }
}

#[tokio::test]
async fn different_ticket_keys_do_not_resume_across_acceptors() {
    let dir = TempDir::new("other-key");
    let (key_a, key_b) = (key_file(&dir, "a.key"), key_file(&dir, "b.key"));
    assert!(
        !across_instances(
            Tickets::shared_key_file(&key_a),
            Tickets::shared_key_file(&key_b),
            TLS13
        )
        .await
    );
    assert!(!across_instances(Tickets::PerProcess, Tickets::PerProcess, TLS13).await);
}

#[tokio::test]
async fn resumption_survives_reload() {
    for (cache, tickets) in [(0, Tickets::PerProcess), (100, Tickets::Off)] {
        let s = setup(cache, tickets);
        let acceptor = TlsAcceptor::new(&s.config).unwrap();
        let mut server = Server::start(acceptor.clone()).await;
        let client = Arc::new(client_config(&[&s.ca.pem()], TLS13));
        connect(server.addr, &client, "localhost").await.unwrap();
        assert!(!server.next_ok().await.resumed);
        acceptor.reload(&s.config).unwrap();
        connect(server.addr, &client, "localhost").await.unwrap();
        assert!(server.next_ok().await.resumed, "cache={cache}");
    }
}
