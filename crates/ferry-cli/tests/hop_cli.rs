//! `ferry-hop` as a program: `serve`, `access` and `trace` run as real processes on loopback,
//! errors as one readable line with a usage exit code, metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

#[path = "support/echo.rs"]
mod echo;
#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use echo::echo;
use hop::{TempFile, access_config, field, keys, run, spawn, spawn_env, stderr_of, trace};

#[test]
fn two_hops_and_an_access_listener_relay_and_trace_reports_each_hop() {
    let k = keys(2);
    let dest = echo();
    let h1 = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            &k.path(),
            "--allow",
            "127.0.0.0/8",
        ],
        1,
    );
    let h2 = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            &k.path(),
            "--allow",
            "127.0.0.0/8",
        ],
        1,
    );
    let cfg = access_config(&k, &[h1.addrs[0], h2.addrs[0]], dest);
    let a = spawn(&["access", "--config", &cfg.path()], 1);

    let mut c = TcpStream::connect(a.addrs[0]).unwrap();
    c.write_all(b"through two hops").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"through two hops");
    let line = a.wait_for_log("ferry::access");
    assert!(
        line.contains("via=main") && line.contains("bytes_up=16"),
        "{line}"
    );
    let line = h2.wait_for_log("ferry::access");
    assert!(
        line.contains(&format!("next={dest}")) && line.contains("status=\"ok\""),
        "{line}"
    );

    let out = trace(&cfg, dest);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr_of(&out));
    assert!(
        text.contains(&format!("hop 1 {}: ok in", h1.addrs[0])),
        "{text}"
    );
    assert!(
        text.contains(&format!("hop 2 {}: ok in", h2.addrs[0])),
        "{text}"
    );

    assert!(a.stop());
    assert!(h1.stop());
    assert!(h2.stop());
}

#[test]
fn without_an_allowlist_a_hop_denies_everything_and_says_so() {
    let k = keys(1);
    let dest = echo();
    let h = spawn(
        &["serve", "--listen", "127.0.0.1:0", "--key-file", &k.path()],
        1,
    );
    assert!(
        h.startup
            .iter()
            .any(|l| l.contains("denies every next address")),
        "{:?}",
        h.startup
    );
    let cfg = access_config(&k, &[h.addrs[0]], dest);
    let out = trace(&cfg, dest);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("denied by policy"), "{text}");
    assert!(h.stop());
}

#[test]
fn keys_from_an_environment_variable() {
    let k = keys(1);
    let text = std::fs::read_to_string(&k.0).unwrap();
    let dest = echo();
    let h = spawn_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-env",
            "FERRY_TEST_HOP_KEYS",
            "--allow",
            "127.0.0.0/8",
        ],
        &[("FERRY_TEST_HOP_KEYS", &text)],
        1,
    );
    let addr = h.addr();
    let cfg = access_config(&k, &[addr], dest);
    let out = trace(&cfg, dest);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(h.stop());
}

#[test]
fn errors_are_one_line_with_the_usage_exit_code() {
    let k = keys(1);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()],
            "`--key-file`: required",
        ),
        (
            vec![
                "serve".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--key-file".into(),
                "/nonexistent/keys".into(),
            ],
            "cannot read key file /nonexistent/keys",
        ),
        (
            vec![
                "serve".into(),
                "--listen".into(),
                "nowhere".into(),
                "--key-file".into(),
                k.path(),
            ],
            "invalid value for `--listen`",
        ),
        (
            vec![
                "serve".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--key-file".into(),
                k.path(),
                "--allow".into(),
                "*.ex*ample.com".into(),
            ],
            "invalid value for `--allow`",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("ferry-hop: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }

    // A bad key file names the file, never the key.
    let bad = TempFile::new("keys", "1 zz\n");
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--key-file",
        &bad.path(),
    ]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains(&bad.path()), "{err}");

    // Config files: unknown keys and bad values name the key.
    let cfg = TempFile::new(
        "toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nallow_all = true\n[keys]\nfile = {:?}\n",
            k.path()
        ),
    );
    let out = run(&["serve", "--config", &cfg.path()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("allow_all"), "{err}");
    let cfg = TempFile::new(
        "toml",
        &format!(
            "[keys]\nfile = {:?}\n[[chain]]\nname = \"c\"\nhops = [{{ address = \"127.0.0.1:1\", key_id = 9 }}]\n[[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n",
            k.path()
        ),
    );
    let out = run(&["access", "--config", &cfg.path()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("`chain[0].hops[0].key_id`") && err.contains("no key with id 9"),
        "{err}"
    );
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_count_hop_connections() {
    let k = keys(1);
    let dest = echo();
    let h = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            &k.path(),
            "--allow",
            "127.0.0.0/8",
            "--metrics",
            "127.0.0.1:0",
        ],
        1,
    );
    let line = h
        .startup
        .iter()
        .find(|l| l.contains("metrics_addr="))
        .expect("metrics address logged")
        .clone();
    let admin: SocketAddr = field(&line, "metrics_addr").parse().unwrap();
    let cfg = access_config(&k, &[h.addrs[0]], dest);
    let out = trace(&cfg, dest);
    assert!(out.status.success());
    h.wait_for_log("ferry::access");
    let m = get(admin, "/metrics");
    assert!(
        m.contains("ferry_hop_connections_total{mode=\"serve\",listener=\"serve\""),
        "{m}"
    );
    assert!(get(admin, "/healthz").starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(h.stop());
}
