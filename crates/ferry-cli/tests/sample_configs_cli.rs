//! The sample configs in `examples/config/` are valid as they stand: each program's `check`
//! (run from the repository root, as examples/README.md says) loads the file and every file it
//! names (the sample keys, tokens, certificate, JWT key, peer credential shipped in
//! `examples/config/sample/`), exits 0 and prints `config ok`, with the values the comments
//! describe and without any secret. The shipped sample files are marked as samples, and the
//! sample tokens named in the token file's comments are the ones it holds the hashes of.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PROXY: &str = env!("CARGO_BIN_EXE_ferry-proxy");
const HOP: &str = env!("CARGO_BIN_EXE_ferry-hop");
const GATEWAY: &str = env!("CARGO_BIN_EXE_ferry-gateway");
const AGENT: &str = env!("CARGO_BIN_EXE_ferry-agent");

/// The sample token secrets (published on purpose: they are samples).
const AGENT_TOKEN: &str = "fy1_SAMPLE-agent-token-of-edge-1-NOT-A-SECRET";
const CLIENT_TOKEN: &str = "fy1_SAMPLE-client-token-of-edge-1-NOT-A-SECRET";

/// The repository root: the sample configs' relative paths are relative to it.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join("examples/config/sample").join(name)).unwrap()
}

/// Runs `bin args` in the repository root; asserts exit 0, an empty stderr and `config ok` as
/// the last line; returns stdout.
fn check_ok(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{bin} {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout.lines().last(), Some("config ok"), "{stdout}");
    assert!(
        stderr.is_empty(),
        "{bin} {args:?} wrote to stderr:\n{stderr}"
    );
    stdout
}

fn assert_has(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "{e:?} not in:\n{text}");
    }
}

/// None of `secrets` (keys, tokens, passwords) appears in `text`.
fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret ({s:?}) is printed:\n{text}");
    }
}

/// The 64-digit hex keys of a sample key file.
fn hex_keys(file: &str) -> Vec<String> {
    sample(file)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn proxy_sample_checks_with_tls_two_pools_limits_and_health() {
    let out = check_ok(PROXY, &["check", "examples/config/proxy.toml"]);
    assert_has(
        &out,
        &[
            "log_format=text",
            "listener web-tls: bind=127.0.0.1:8443 pool=web",
            "cert=examples/config/sample/sample-localhost.pem",
            "alpn=[h2, http/1.1]",
            "api.localhost -> api; otherwise -> web",
            "per_client_connections=64 max_connections=5000",
            "listener web-plain: bind=127.0.0.1:8080",
            "action=reply \"HTTP/1.1 429 Too Many Requests",
            "pool web: policy=least_connections upstreams=[127.0.0.1:9000, 127.0.0.1:9001]",
            "pool web health: every 5s timeout 2s rise=2 fall=3",
            "pool api: policy=weighted upstreams=[127.0.0.1:9010 (weight 3), 127.0.0.1:9011]",
            "send_proxy=v2",
            "pool api health: every 10s timeout 1s",
            "certificates loaded",
        ],
    );
}

#[test]
fn hop_serve_sample_checks_without_printing_its_key() {
    let out = check_ok(HOP, &["check", "serve", "examples/config/hop-serve.toml"]);
    assert_has(
        &out,
        &[
            "127.0.0.1:7000",
            "examples/config/sample/hop.keys",
            "*.example.com:443",
            "hop2.example.net:7000",
            "127.0.0.1:9101",
        ],
    );
    let keys = hex_keys("hop.keys");
    assert_eq!(keys.len(), 1);
    assert_no_secret(&out, &keys.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn access_sample_checks_with_two_chains_two_fronts_and_routes_without_secrets() {
    let out = check_ok(HOP, &["check", "access", "examples/config/access.toml"]);
    assert_has(
        &out,
        &[
            "chain local: weight=1 hops: 127.0.0.1:7000 (key id 1)",
            "chain remote: weight=2 hops: hop1.example.net:7000 (key id 2) -> hop2.example.net:7000 (key id 3)",
            "listener socks: bind=127.0.0.1:1080 mode=socks5 credentials=username \"alice\"",
            "listener http: bind=127.0.0.1:3128 mode=http credentials=username \"alice\"",
            "-> direct",
            "*.ads.example -> block",
            "*.example.org:443 -> chains remote, local",
            "default route: chains local",
            "metrics=127.0.0.1:9102",
        ],
    );
    let keys = hex_keys("client.keys");
    assert_eq!(keys.len(), 3);
    let mut secrets: Vec<&str> = keys.iter().map(String::as_str).collect();
    secrets.push("change-me");
    assert_no_secret(&out, &secrets);
}

#[test]
fn gateway_sample_checks_with_tokens_jwt_key_limits_and_timeouts() {
    let out = check_ok(GATEWAY, &["check", "examples/config/gateway.toml"]);
    assert_has(
        &out,
        &[
            "listen: 127.0.0.1:8080",
            "agent_listen: 127.0.0.1:4433",
            "metrics: 127.0.0.1:9090",
            "tokens=examples/config/sample/tokens",
            "examples/config/sample/jwt.pub",
            "sample-2026",
            "max_tunnels=16384 max_tunnels_per_client=256 max_tunnels_per_agent=1024",
            "header=10s open=10s idle=5m half_close=30s drain=30s agent_keep_alive=10s agent_idle=30s",
            "cluster: off",
            "accept_proxy: off (the TCP peer is the client)",
        ],
    );
    assert_no_secret(&out, &[AGENT_TOKEN, CLIENT_TOKEN]);
}

#[test]
fn gateway_sample_accept_proxy_line_checks_once_uncommented() {
    let text = std::fs::read_to_string(root().join("examples/config/gateway.toml")).unwrap();
    let line = "# accept_proxy = { trusted = [\"10.0.0.0/8\"], versions";
    assert!(text.contains(line), "the sample shows accept_proxy");
    let uncommented = text.replacen(line, &line[2..], 1);
    let dir = std::env::temp_dir().join(format!("ferry-sample-ap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(&file, uncommented).unwrap();
    let out = check_ok(GATEWAY, &["check", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_has(
        &out,
        &[
            "accept_proxy: PROXY header required from trusted=[10.0.0.0/8] versions=v1,v2 timeout=5s",
        ],
    );
}

#[test]
fn agent_sample_checks_and_loads_its_token_and_ca() {
    let out = check_ok(AGENT, &["check", "examples/config/agent.toml"]);
    assert_has(
        &out,
        &[
            "gateway: 127.0.0.1:4433 server_name=localhost",
            "agent_id: edge-1",
            "credential: token_file examples/config/sample/edge-1.token",
            "loaded: ca examples/config/sample/sample-localhost.pem: 1 certificate",
            "metrics: 127.0.0.1:9091",
        ],
    );
    assert_no_secret(&out, &[AGENT_TOKEN]);
}

#[test]
fn both_cluster_samples_check_each_with_its_own_addresses() {
    let secret = sample("peer.secret");
    for (file, listen, peer) in [
        ("cluster-gateway-a.toml", "127.0.0.1:8081", "127.0.0.1:7443"),
        ("cluster-gateway-b.toml", "127.0.0.1:8082", "127.0.0.1:7444"),
    ] {
        let out = check_ok(GATEWAY, &["check", &format!("examples/config/{file}")]);
        assert_has(
            &out,
            &[
                &format!("listen: {listen}"),
                "cluster: registry=memcached://localhost:11211, host names resolved when \
                 connecting and again when connecting fails",
                &format!("peer_listen={peer} advertise={peer}"),
                "peer_credential_file=examples/config/sample/peer.secret",
                "ttl=30s heartbeat=10s",
            ],
        );
        assert_no_secret(&out, &[secret.trim()]);
    }
}

#[test]
fn every_shipped_sample_file_says_it_is_a_sample() {
    let dir = root().join("examples/config/sample");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("SAMPLE"),
            "{} does not say it is a sample",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} sample files");
}

#[test]
fn sample_tokens_match_the_sample_token_file() {
    use ring::digest::{SHA256, digest};
    let hash = |t: &str| -> String {
        digest(&SHA256, t.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(sample("edge-1.token").trim(), AGENT_TOKEN);
    let tokens = sample("tokens");
    let entries: Vec<Vec<&str>> = tokens
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        entries,
        [
            vec!["agent", "edge-1", &format!("sha256:{}", hash(AGENT_TOKEN))],
            vec![
                "client",
                "edge-1",
                &format!("sha256:{}", hash(CLIENT_TOKEN))
            ],
        ]
    );
}
