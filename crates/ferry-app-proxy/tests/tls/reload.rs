//! Certificate reload while connections are live.

use crate::common::{
    TempDir, connector, echo, localhost_cert, start_toml, tagged_echo, tls_connect, toml_path,
};

#[tokio::test]
async fn live_connection_survives_reload_and_new_handshakes_see_the_new_cert() {
    let up = tagged_echo(b'L').await;
    let dir = TempDir::new("reload");
    let (old, new) = (localhost_cert(), localhost_cert());
    let (cert, key) = dir.write_cert("server", &old);
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\ncert = {}\nkey = {}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        toml_path(&cert),
        toml_path(&key)
    ))
    .await;
    // No resumption: every handshake shows the current certificate.
    let client = connector(&[&old, &new], 0);
    let (mut live, info, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(info.peer_certificate.as_ref(), Some(old.cert_der()));

    // Files replaced on disk, then the reload (what SIGHUP does in the binary).
    dir.write_cert("server", &new);
    let outcome = p.reloader.reload_tls();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.reloaded, 1);
    echo(&mut live, b"still relayed after the reload").await;

    let (mut fresh, info, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(info.peer_certificate.as_ref(), Some(new.cert_der()));
    echo(&mut fresh, b"new connection").await;
    echo(&mut live, b"old connection, still fine").await;

    // A broken file: the reload fails, names the key, and the current certificate stays.
    std::fs::write(&key, "not a key").unwrap();
    let outcome = p.reloader.reload_tls();
    assert_eq!(outcome.reloaded, 0);
    let msg = outcome.failed[0].to_string();
    assert!(msg.contains("listener[0].tls"), "{msg}");
    let (_c, info, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(info.peer_certificate.as_ref(), Some(new.cert_der()));
    drop((live, fresh, _c));
    p.stop().await;
}

#[tokio::test]
async fn self_signed_listener_keeps_its_certificate_across_reloads() {
    let up = tagged_echo(b'Z').await;
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\nself_signed = true\n\
         [pool.p]\nupstreams = [\"{up}\"]\n"
    ))
    .await;
    let client = insecure();
    let (_a, before, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(p.reloader.reload_tls().reloaded, 1);
    let (_b, after, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert!(before.peer_certificate.is_some());
    assert_eq!(before.peer_certificate, after.peer_certificate);
    drop((_a, _b));
    p.stop().await;
}

fn insecure() -> ferry_tls::TlsConnector {
    let mut c = ferry_tls::ConnectorConfig::new();
    c.insecure_skip_verify().session_cache_size(0);
    ferry_tls::TlsConnector::new(&c).unwrap()
}
