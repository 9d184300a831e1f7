//! `ferry-gateway check FILE`: loads everything the gateway would (token file, JWT keys,
//! certificates, allowlist, cluster credential) without binding, prints the config with every
//! default and no secret, exits 0; each kind of bad file exits 64 naming the key or file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;

use tunnel::{GATEWAY, certificate, new_token, run, scratch};

fn check(config: &Path) -> Output {
    run(GATEWAY, &["check", config.to_str().unwrap()])
}

/// Exit 64 and one stderr line naming `needle`.
fn assert_refused(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ferry-gateway: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn good_file_prints_every_default_without_secrets_and_binds_nothing() {
    let dir = scratch("check-good");
    let (cert, key) = certificate(&dir, "gw");
    let tokens = dir.join("tokens");
    let token = new_token("client", "edge-1", &tokens);
    let secret = "peer-secret-0123456789abcdef";
    let peer_secret = dir.join("peer.secret");
    std::fs::write(&peer_secret, secret).unwrap();
    // Held: check must not try to bind it.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{}\"\nagent_listen = \"127.0.0.1:0\"\nallow = [\"*.internal:443\"]\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\n[auth]\ntokens = {tokens:?}\n\
             [cluster]\nregistry = \"memory\"\npeer_listen = \"127.0.0.1:0\"\n\
             advertise = \"127.0.0.1:0\"\npeer_ca = {cert:?}\npeer_credential_file = {peer_secret:?}\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let out = check(&config);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "allow: *.internal:443",
        "client_tls: off",
        "revoked_client_tunnels=keep",
        "leeway=1m",
        "max_tunnels=16384 max_tunnels_per_client=256 max_tunnels_per_agent=1024",
        "auth_failures=burst 10, then 1 every 6s",
        "header=10s open=10s idle=5m half_close=30s drain=30s agent_keep_alive=10s agent_idle=30s",
        "cluster: registry=memory",
        "ttl=30s heartbeat=10s",
        "SIGHUP reloads this file",
        "config ok",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(
        !text.contains(secret),
        "the peer secret is printed:\n{text}"
    );
    assert!(!text.contains(&token));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_kind_of_bad_file_exits_64_naming_the_key_or_file() {
    let dir = scratch("check-bad");
    let (cert, key) = certificate(&dir, "gw");
    let tokens = dir.join("tokens");
    new_token("agent", "edge-1", &tokens);
    let bad_key = dir.join("bad-jwt.pub");
    std::fs::write(
        &bad_key,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let missing = dir.join("missing-tokens");
    let missing_cert = dir.join("missing.pem");
    let file = |allow: &str, tls: (&Path, &Path), auth: &str, extra: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\nagent_listen = \"127.0.0.1:0\"\nallow = [{allow}]\n{extra}\n\
             [tls]\ncert = {:?}\nkey = {:?}\n[auth]\n{auth}\n",
            tls.0, tls.1
        )
    };
    let tokens_line = format!("tokens = {tokens:?}");
    let cases = [
        (
            "unknown key",
            file("\"127.0.0.1\"", (&cert, &key), &tokens_line, "bogus = 1"),
            "bogus".to_owned(),
        ),
        (
            "missing token file",
            file(
                "\"127.0.0.1\"",
                (&cert, &key),
                &format!("tokens = {missing:?}"),
                "",
            ),
            missing.display().to_string(),
        ),
        (
            "bad allowlist pattern",
            file(
                "\"127.0.0.1\", \"*.bad*:443\"",
                (&cert, &key),
                &tokens_line,
                "",
            ),
            "allow[1]".to_owned(),
        ),
        (
            "unreadable certificate",
            file("\"127.0.0.1\"", (&missing_cert, &key), &tokens_line, ""),
            missing_cert.display().to_string(),
        ),
        (
            "bad JWT key",
            file(
                "\"127.0.0.1\"",
                (&cert, &key),
                &format!("jwt_keys = [{{ path = {bad_key:?} }}]"),
                "",
            ),
            "auth.jwt_keys[0]".to_owned(),
        ),
    ];
    for (what, text, needle) in cases {
        let config = dir.join("gateway.toml");
        std::fs::write(&config, text).unwrap();
        let out = check(&config);
        assert!(out.stdout.is_empty(), "{what}: printed a config");
        assert_refused(&out, &needle);
    }
    // The config file itself missing.
    assert_refused(&check(&dir.join("nope.toml")), "nope.toml");
    let _ = std::fs::remove_dir_all(&dir);
}
