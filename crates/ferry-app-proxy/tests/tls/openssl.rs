//! `openssl s_client -sess_out` then `-sess_in` reports "Reused" through the proxy (OpenSSL as
//! an independent client implementation), for TLS 1.3 and TLS 1.2.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::common::{TempDir, cert_lines, localhost_cert, start_toml};

/// An upstream that greets and closes, so that `s_client -ign_eof` ends by itself.
async fn greeter() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = s.write_all(b"hello from upstream\n").await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Runs `openssl s_client` against `addr`; returns its stdout.
async fn s_client(addr: SocketAddr, session: &Path, first: bool, extra: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-servername", "localhost", "-ign_eof"])
        .arg(if first { "-sess_out" } else { "-sess_in" })
        .arg(session)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("openssl s_client did not finish")
        .expect("openssl is not installed (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("hello from upstream"),
        "no upstream greeting; stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn reused(version_flag: &str, protocol: &str) {
    let up = greeter().await;
    let dir = TempDir::new("openssl");
    let cert = localhost_cert();
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "server", &cert)
    ))
    .await;
    let session = dir.path().join("session.pem");
    let first = s_client(p.addr(), &session, true, &[version_flag]).await;
    assert!(
        first.contains(&format!("New, {protocol}")),
        "first:\n{first}"
    );
    assert!(session.exists(), "s_client wrote no session");
    let second = s_client(p.addr(), &session, false, &[version_flag]).await;
    assert!(
        second.contains(&format!("Reused, {protocol}")),
        "second:\n{second}"
    );
    let r = p.stop().await;
    assert_eq!((r.tls_handshakes, r.tls_resumed), (2, 1));
}

#[tokio::test]
async fn openssl_session_is_reused_tls13() {
    reused("-tls1_3", "TLSv1.3").await;
}

#[tokio::test]
async fn openssl_session_is_reused_tls12() {
    reused("-tls1_2", "TLSv1.2").await;
}
