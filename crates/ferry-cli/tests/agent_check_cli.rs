//! `ferry-agent check FILE`: a good file prints the config with every default filled in (never
//! the secret) and exits 0; each kind of bad file exits 64 naming the key or file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/program.rs"]
mod program;
#[path = "support/tunnel.rs"]
mod tunnel;
#[path = "support/tunnel_env.rs"]
mod tunnel_env;

use std::path::Path;
use std::process::Output;

use tunnel_env::*;

const SECRET: &str = "s3cret-agent-token-value";

fn check(dir: &Path, text: &str) -> Output {
    let file = dir.join("agent.toml");
    std::fs::write(&file, text).unwrap();
    run(AGENT, &["check", file.to_str().unwrap()])
}

/// A config with `token_file` and `ca` in `dir`, `extra` appended.
fn file(dir: &Path, ca: &str, extra: &str) -> String {
    format!(
        "gateway = \"127.0.0.1:4433\"\nca = {ca:?}\nagent_id = \"edge-1\"\n\
         token_file = {:?}\nallow = [\"10.0.0.0/8:22\", \"*.internal:443\"]\n{extra}",
        dir.join("agent.token").display().to_string()
    )
}

/// Exit 64 and one stderr line naming every one of `needles`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("ferry-agent: "), "{err}");
    for needle in needles {
        assert!(lines[0].contains(needle), "{needle:?} not in {err}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn a_good_file_is_explained_with_every_default() {
    let dir = scratch("check-good");
    let (cert, _key) = certificate(&dir);
    std::fs::write(dir.join("agent.token"), format!("{SECRET}\n")).unwrap();
    let out = check(&dir, &file(&dir, &cert, ""));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "gateway: 127.0.0.1:4433 server_name=127.0.0.1",
        "agent_id: edge-1",
        "credential: token_file ",
        "allow: 10.0.0.0/8:22, *.internal:443 (allow_special_addresses=false",
        "connect_timeout=5s keep_alive=10s idle_timeout=30s",
        "reconnect_min=1s reconnect_max=1m",
        "metrics: off",
        "loaded: gateway 127.0.0.1:4433: an IP address, nothing to resolve",
        "read (the secret is not shown)",
        "1 certificate",
        "SIGHUP reloads this file",
        "config ok",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(!text.contains(SECRET), "the secret was printed:\n{text}");

    // A name that does not resolve is reported, not refused.
    let named = file(&dir, &cert, "").replace("127.0.0.1:4433", "gw.ferry-test.invalid:4433");
    let out = check(&dir, &named);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("loaded: gateway gw.ferry-test.invalid:4433: d"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_kind_of_bad_file_exits_64_naming_the_key_or_file() {
    let dir = scratch("check-bad");
    let (cert, _key) = certificate(&dir);
    std::fs::write(dir.join("agent.token"), SECRET).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let garbage = garbage.display().to_string();

    // Unknown key.
    assert_refused(&check(&dir, &file(&dir, &cert, "bogus = 1\n")), &["bogus"]);
    // Token file missing.
    let missing = file(&dir, &cert, "").replace("agent.token", "nonexistent.token");
    assert_refused(&check(&dir, &missing), &["nonexistent.token"]);
    // Token variable not set.
    let env =
        file(&dir, &cert, "").replace("token_file", "token_env = \"FERRY_TEST_UNSET_VAR\"\n#");
    assert_refused(&check(&dir, &env), &["token_env", "FERRY_TEST_UNSET_VAR"]);
    // CA unusable, or missing.
    assert_refused(
        &check(&dir, &file(&dir, &garbage, "")),
        &["`ca`", "garbage.pem"],
    );
    assert_refused(
        &check(&dir, &file(&dir, "/nonexistent/ca.pem", "")),
        &["/nonexistent/ca.pem"],
    );
    // Allowlist pattern.
    let bad_allow = file(&dir, &cert, "").replace("\"*.internal:443\"", "\"10.0.0.0/33\"");
    assert_refused(&check(&dir, &bad_allow), &["allow[1]"]);
    // Agent id.
    let bad_id = file(&dir, &cert, "").replace("edge-1", "edge 1");
    assert_refused(&check(&dir, &bad_id), &["agent_id"]);
    // Gateway address syntax.
    let bad_gateway = file(&dir, &cert, "").replace("127.0.0.1:4433", "127.0.0.1");
    assert_refused(&check(&dir, &bad_gateway), &["gateway"]);
    // The file itself.
    let out = run(AGENT, &["check", "/nonexistent/agent.toml"]);
    assert_refused(&out, &["/nonexistent/agent.toml"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check FILE` with `HTTPS_PROXY` / `NO_PROXY` in the process environment, as the agent
/// would read them: which proxy the gateway takes and why, never the password; a name the
/// proxy resolves is not looked up; `transport = "quic"` with a proxy exits 64 naming
/// `transport`.
#[test]
fn check_names_the_egress_proxy_and_where_it_came_from_without_its_password() {
    let dir = scratch("check-proxy");
    let (cert, _key) = certificate(&dir);
    std::fs::write(dir.join("agent.token"), SECRET).unwrap();
    let check_env = |text: &str, env: &[(&str, &str)]| {
        let file = dir.join("agent.toml");
        std::fs::write(&file, text).unwrap();
        let mut cmd = std::process::Command::new(AGENT);
        cmd.args(["check", file.to_str().unwrap()])
            .stdin(std::process::Stdio::null());
        for var in [
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    };
    let named = file(&dir, &cert, "").replace("127.0.0.1:4433", "gw.ferry-test.invalid:4433");
    let out = check_env(
        &named,
        &[("HTTPS_PROXY", "http://agent-7:hunter2@127.0.0.1:3128")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "loaded: gateway gw.ferry-test.invalid:4433: not resolved here: the egress proxy is asked for it by name",
        "loaded: egress proxy: http://agent-7:***@127.0.0.1:3128 (from environment variable HTTPS_PROXY) for the gateway gw.ferry-test.invalid:4433",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(!text.contains("hunter2"), "{text}");

    let configured = file(
        &dir,
        &cert,
        "proxy = \"socks5h://u:hunter2@127.0.0.1:1080\"\n",
    );
    let out = check_env(&configured, &[("NO_PROXY", "10.0.0.0/8,127.0.0.1")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("loaded: egress proxy: socks5h://u:***@127.0.0.1:1080 (from configuration) bypassed for the gateway 127.0.0.1:4433: no_proxy entry 127.0.0.1 (from environment variable NO_PROXY) matches it; reached directly"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    let quic = file(&dir, &cert, "transport = \"quic\"\n");
    let out = check_env(&quic, &[("https_proxy", "http://u:hunter2@127.0.0.1:3128")]);
    assert_refused(
        &out,
        &[
            "`transport`",
            "\"quic\" cannot reach the gateway through the egress proxy http://u:***@127.0.0.1:3128 (from environment variable https_proxy)",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
    let bad = file(&dir, &cert, "");
    let out = check_env(&bad, &[("ALL_PROXY", "https://u:hunter2@p:1")]);
    assert_refused(&out, &["`proxy`", "environment variable ALL_PROXY"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
    let _ = std::fs::remove_dir_all(&dir);
}
