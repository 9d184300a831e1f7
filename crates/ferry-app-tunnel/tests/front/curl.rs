//! Real `curl -p -x http://AGENT:TOKEN@front` (and over TLS to the front) to a local HTTP server.

use std::process::Stdio;

use ferry_auth::Role;
use tokio::process::Command;

use crate::harness::{NOW, TOKEN, http_server, start, start_with_tls};

async fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-p"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl is installed (scripts/test.sh installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn curl_through_the_front_with_a_token_and_a_jwt() {
    let f = start(|_, _| {}).await;
    let http = http_server().await;
    let url = format!("http://{http}/");
    let proxy = format!("http://edge-1:{TOKEN}@{}", f.addr);
    let (ok, body, err) = curl(&["-x", &proxy, &url]).await;
    assert!(ok, "curl failed: {err}");
    assert_eq!(body, "hello");

    let jwt = f.jwt.token(Role::Client, "edge-1", NOW);
    let proxy = format!("http://edge-1:{jwt}@{}", f.addr);
    let (ok, body, err) = curl(&["-x", &proxy, &url]).await;
    assert!(ok, "curl failed: {err}");
    assert_eq!(body, "hello");

    // Wrong password: curl reports the 407 from the proxy.
    let proxy = format!("http://edge-1:nope@{}", f.addr);
    let (ok, _, err) = curl(&["-x", &proxy, &url]).await;
    assert!(!ok);
    assert!(err.contains("407"), "{err}");
    assert_eq!(f.front.stats().replies(200), 2);
    f.stop().await;
}

#[tokio::test]
async fn curl_through_a_tls_front() {
    let cert = ferry_tls::SelfSigned::generate(["127.0.0.1"]).unwrap();
    let acceptor =
        ferry_tls::TlsAcceptor::new(&ferry_tls::AcceptorConfig::new(cert.to_source())).unwrap();
    let f = start_with_tls(|_, _| {}, Some(acceptor)).await;
    let ca = std::env::temp_dir().join(format!("ferry-front-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let http = http_server().await;
    let proxy = format!("https://edge-1:{TOKEN}@{}", f.addr);
    let (ok, body, err) = curl(&[
        "--proxy-cacert",
        ca.to_str().unwrap(),
        "-x",
        &proxy,
        &format!("http://{http}/"),
    ])
    .await;
    std::fs::remove_file(&ca).unwrap();
    assert!(ok, "curl failed: {err}");
    assert_eq!(body, "hello");
    f.stop().await;
}
