//! TLS with the `ferry-proxy` binary: `--tls-self-signed` end to end, certificate errors (exit
//! 64, one line naming the file), flag conflicts, `check` on a TLS config, SIGHUP reload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferry_tls::{ConnectorConfig, HandshakeInfo, PemInput, SelfSigned, TlsConnector};
use support::{BIN, echo_upstream, sigterm, spawn_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-cli-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// TLS through the proxy at `addr`: handshake, the upstream's tag, one echo.
async fn through(connector: &TlsConnector, addr: SocketAddr, name: &str) -> (HandshakeInfo, u8) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut tls, info) = connector.connect(name, tcp).await.unwrap();
    let mut tag = [0u8; 1];
    tls.read_exact(&mut tag).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    (info, tag[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_flag_works_end_to_end_and_warns() {
    let up = echo_upstream(b'S');
    let p = spawn_proxy(
        "",
        &format!("--listen 127.0.0.1:0 --upstream {up} --tls-self-signed"),
    );
    let warning = p.startup.iter().find(|l| l.contains("SELF-SIGNED"));
    assert!(
        warning.is_some(),
        "no self-signed warning in {:?}",
        p.startup
    );
    let mut config = ConnectorConfig::new();
    config.insecure_skip_verify();
    let client = TlsConnector::new(&config).unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let (info, tag) = through(&client, p.addr, name).await;
        assert_eq!(tag, b'S');
        assert!(info.peer_certificate.is_some());
    }
    sigterm(&p.child);
    let mut child = p.child;
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn bad_pem_files_exit_64_with_one_line_naming_the_file() {
    let dir = temp_dir("bad-pem");
    let (a, b) = (
        SelfSigned::generate(["localhost"]).unwrap(),
        SelfSigned::generate(["localhost"]).unwrap(),
    );
    let good_cert = write(&dir, "good.pem", a.cert_pem());
    let good_key = write(&dir, "good.key", a.key_pem());
    let other_key = write(&dir, "other.key", b.key_pem());
    let empty = write(&dir, "empty.pem", "");
    let garbage = write(&dir, "garbage.pem", "this is not PEM\n");
    let encrypted =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encrypted-pkcs8.key");
    let missing = dir.join("missing.pem");
    let up = echo_upstream(b'X').to_string();
    let cases: [(&Path, &Path, &Path, &str); 6] = [
        (&empty, &good_key, &empty, "is empty"),
        (&garbage, &good_key, &garbage, "no certificate"),
        (&good_cert, &empty, &empty, "is empty"),
        (&good_cert, &other_key, &other_key, "does not match"),
        (&good_cert, &encrypted, &encrypted, "encrypted"),
        (&missing, &good_key, &missing, "cannot read"),
    ];
    for (cert, key, named, reason) in cases {
        let out = run(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{err}");
        assert_eq!(
            err.lines().count(),
            1,
            "more than one line (or something was bound):\n{err}"
        );
        assert!(
            err.contains(named.to_str().unwrap()),
            "file not named: {err}"
        );
        assert!(err.contains(reason), "{reason:?} not in {err}");
        assert!(err.contains("--tls-cert/--tls-key"), "{err}");
    }

    // The same through a config file names the key; `check` reports it too.
    let config = write(
        &dir,
        "bad.toml",
        format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\ncert = {:?}\nkey = {:?}\n\
             [pool.p]\nupstreams = [\"{up}\"]\n",
            good_cert.to_str().unwrap(),
            other_key.to_str().unwrap()
        ),
    );
    for args in [
        vec!["--config", config.to_str().unwrap()],
        vec!["check", config.to_str().unwrap()],
    ] {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("listener[0].tls"), "{err}");
        assert!(err.contains("other.key"), "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_flags_conflict_properly() {
    let up = "127.0.0.1:9";
    for (args, needle) in [
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                up,
                "--tls-self-signed",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                up,
                "--tls-cert",
                "c",
            ],
            "--tls-key",
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                up,
                "--tls-key",
                "k",
            ],
            "--tls-cert",
        ),
        (vec!["--config", "x.toml", "--tls-self-signed"], "--listen"),
    ] {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--tls-self-signed") && text.contains("SIGHUP"),
        "{text}"
    );
}

#[test]
fn check_explains_tls_settings() {
    let dir = temp_dir("check");
    let cert = SelfSigned::generate(["localhost"]).unwrap();
    let c = write(&dir, "c.pem", cert.cert_pem());
    let k = write(&dir, "c.key", cert.key_pem());
    let config = write(
        &dir,
        "tls.toml",
        format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\nroutes = {{ \"*.example.com\" = \"p\" }}\n\
             [listener.tls]\ncert = {:?}\nkey = {:?}\nalpn = [\"h2\"]\n\
             [pool.p]\nupstreams = [\"127.0.0.1:9\"]\n[pool.p.tls]\ninsecure_skip_verify = true\n",
            c.to_str().unwrap(),
            k.to_str().unwrap()
        ),
    );
    let out = run(&["check", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "tls: cert=",
        "alpn=[h2]",
        "session_cache=20000",
        "tickets=per-process",
        "handshake_timeout=10s",
        "*.example.com -> p",
        "verify=OFF",
        "splice=false",
        "config ok",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_certificates_and_keeps_live_connections() {
    let dir = temp_dir("sighup");
    let (old, new) = (
        SelfSigned::generate(["localhost"]).unwrap(),
        SelfSigned::generate(["localhost"]).unwrap(),
    );
    let cert = write(&dir, "c.pem", old.cert_pem());
    let key = write(&dir, "c.key", old.key_pem());
    let up = echo_upstream(b'H');
    let p = spawn_proxy(
        "",
        &format!(
            "--listen 127.0.0.1:0 --upstream {up} --tls-cert {} --tls-key {}",
            cert.display(),
            key.display()
        ),
    );
    let mut config = ConnectorConfig::new();
    config
        .add_ca(PemInput::memory("old", old.cert_pem()))
        .add_ca(PemInput::memory("new", new.cert_pem()))
        .session_cache_size(0);
    let client = TlsConnector::new(&config).unwrap();
    let tcp = TcpStream::connect(p.addr).await.unwrap();
    let (mut live, info) = client.connect("localhost", tcp).await.unwrap();
    assert_eq!(info.peer_certificate.as_ref(), Some(old.cert_der()));

    write(&dir, "c.pem", new.cert_pem());
    write(&dir, "c.key", new.key_pem());
    support::signal(&p.child, rustix::process::Signal::HUP);
    let line = p.wait_for_log("tls certificates reloaded");
    assert!(
        line.contains("reloaded=1") && line.contains("failed=0"),
        "{line}"
    );

    let (info, tag) = through(&client, p.addr, "localhost").await;
    assert_eq!(tag, b'H');
    assert_eq!(info.peer_certificate.as_ref(), Some(new.cert_der()));
    let mut b = [0u8; 1];
    live.read_exact(&mut b).await.unwrap();
    live.write_all(b"live").await.unwrap();
    let mut back = [0u8; 4];
    live.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"live");

    sigterm(&p.child);
    drop(live);
    let mut child = p.child;
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}
