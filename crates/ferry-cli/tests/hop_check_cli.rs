//! `ferry-hop check serve|access FILE`: a good file is explained with every default and exits
//! 0 without printing key material; each kind of bad file exits 64 naming the key or file.
//! `--log-format json`: every stderr line is one JSON object, and the access-log line carries
//! the same fields as in text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use ferry_tls::SelfSigned;

#[path = "support/echo.rs"]
mod echo;
#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use echo::echo;
use hop::{BIN, TempFile, keys, run, stderr_of, trace};
use program::Program;

fn check(kind: &str, file: &TempFile) -> (Option<i32>, String, String) {
    let out = run(&["check", kind, &file.path()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr_of(&out),
    )
}

#[test]
fn a_good_serve_file_is_explained_with_its_defaults_and_no_key_material() {
    let k = keys(2);
    let c = SelfSigned::generate(["127.0.0.1"]).unwrap();
    let (cert, key) = (
        TempFile::new("pem", c.cert_pem()),
        TempFile::new("key", c.key_pem()),
    );
    let cfg = TempFile::new(
        "toml",
        &format!(
            "listen = \"127.0.0.1:7000\"\nallow = [\"*.example.com:443\"]\nper_client_rate = 0\n\
             metrics = \"127.0.0.1:9100\"\n[keys]\nfile = {:?}\n[tls]\ncert = {:?}\nkey = {:?}\n",
            k.path(),
            cert.path(),
            key.path()
        ),
    );
    let (code, out, err) = check("serve", &cfg);
    assert_eq!(code, Some(0), "{out}{err}");
    for want in [
        "serve: listen=127.0.0.1:7000 udp=false metrics=127.0.0.1:9100",
        &format!("keys: file {} (key ids 1, 2)", k.path()),
        "allow: *.example.com:443",
        "timeouts: handshake=10s connect=5s idle=5m drain=30s",
        "max_connections=10000 max_handshakes=1024 per_client_handshakes=64 per_client_connections=1024 per_client_rate=unlimited",
        "replay: window=30s capacity=524288",
        "udp flows: max=4096 idle_timeout=1m",
        &format!("tls: cert={}", cert.path()),
        "next_hop_tls: off",
        "listen and udp need a restart",
        "config ok",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(
        !out.contains(&"01".repeat(32)) && !out.contains(&"02".repeat(32)),
        "{out}"
    );
}

#[test]
fn a_good_access_file_is_explained_without_keys_or_passwords() {
    let k = keys(1);
    let cfg = TempFile::new(
        "toml",
        &format!(
            "[keys]\nfile = {:?}\n[[chain]]\nname = \"eu\"\nweight = 3\nhops = [{{ address = \"127.0.0.1:7000\", key_id = 1 }}]\n\
             [[listener]]\nname = \"socks\"\nmode = \"socks5\"\nbind = \"127.0.0.1:1080\"\nusername = \"u\"\npassword = \"hunter22\"\n\
             [[route]]\ndestinations = [\"10.0.0.0/8\"]\nvia = \"direct\"\n",
            k.path()
        ),
    );
    let (code, out, err) = check("access", &cfg);
    assert_eq!(code, Some(0), "{out}{err}");
    for want in [
        "access: max_connections=10000 metrics=off",
        "timeouts: handshake=10s connect=10s idle=5m drain=30s",
        "chain eu: weight=3 hops: 127.0.0.1:7000 (key id 1); plain TCP to hop 1",
        "listener socks: bind=127.0.0.1:1080 mode=socks5 credentials=username \"u\" and a password",
        "route[0]: 10.0.0.0/8 -> direct",
        "default route: chains eu",
        "config ok",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(
        !out.contains("hunter22") && !out.contains(&"01".repeat(32)),
        "{out}"
    );
}

#[test]
fn each_kind_of_bad_file_exits_64_naming_the_key_or_file() {
    let k = keys(1);
    let keys_toml = format!("[keys]\nfile = {:?}\n", k.path());
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "serve",
            "listen = \"127.0.0.1:0\"\nbogus = 1\n".to_owned(),
            vec!["bogus".into()],
        ),
        ("serve", "listen = [\n".to_owned(), vec!["TOML".into()]),
        (
            "serve",
            "listen = \"127.0.0.1:0\"\n[keys]\nfile = \"/nonexistent/hop.keys\"\n".to_owned(),
            vec!["`keys`".into(), "/nonexistent/hop.keys".into()],
        ),
        (
            "serve",
            format!(
                "listen = \"127.0.0.1:0\"\nallow = [\"127.0.0.0/8\", \"*.*bad:x\"]\n{keys_toml}"
            ),
            vec!["`allow[1]`".into()],
        ),
        (
            "serve",
            format!(
                "listen = \"127.0.0.1:0\"\n[tls]\ncert = \"/nonexistent/hop.pem\"\nkey = {:?}\n{keys_toml}",
                k.path()
            ),
            vec!["`tls`".into(), "/nonexistent/hop.pem".into()],
        ),
        (
            "access",
            format!(
                "{keys_toml}[[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\nuser = \"x\"\n"
            ),
            vec!["user".into()],
        ),
        (
            "access",
            format!(
                "{keys_toml}[[route]]\ndestinations = [\"[bad\"]\nvia = \"direct\"\n\
                 [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n"
            ),
            vec!["`route[0].destinations[0]`".into()],
        ),
        ("access", keys_toml, vec!["`listener`".into()]),
    ];
    for (kind, text, wants) in cases {
        let file = TempFile::new("toml", &text);
        let (code, out, err) = check(kind, &file);
        assert_eq!(code, Some(64), "{kind} {text:?}: {out}{err}");
        assert!(err.starts_with("ferry-hop: "), "{err}");
        for want in &wants {
            assert!(
                err.contains(want.as_str()),
                "{want:?} missing for {text:?}: {err}"
            );
        }
        assert!(!out.contains("config ok"));
    }
    // A file that does not exist is named too.
    let out = run(&["check", "serve", "/nonexistent/serve.toml"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr_of(&out).contains("/nonexistent/serve.toml"));
}

/// The field names of a text access-log line (`name=value` after the message).
fn text_fields(line: &str) -> BTreeSet<String> {
    let at = line.find("connection ").unwrap() + "connection ".len();
    line[at..]
        .split(' ')
        .filter_map(|t| t.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

#[test]
fn json_logs_are_one_object_per_line_with_the_same_access_fields() {
    let k = keys(1);
    let dest = echo();
    let kf = k.path();
    let args = |json: bool| {
        let mut a = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            &kf,
            "--allow",
            "127.0.0.0/8",
        ];
        if json {
            a.extend(["--log-format", "json"]);
        }
        a
    };
    let text = hop::spawn(&args(false), 1);
    let json = Program::spawn(BIN, &args(true));
    let mut lines = Vec::new();
    let addr = loop {
        let line = json.next_line();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        lines.push(line);
        if v["fields"]["message"] == "listening" {
            break v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    for (hop_addr, _) in [(text.addr(), "text"), (addr, "json")] {
        let cfg = TempFile::new(
            "toml",
            &format!(
                "[keys]\nfile = {kf:?}\n[[chain]]\nname = \"main\"\nhops = [{{ address = \"{hop_addr}\", key_id = 1 }}]\n"
            ),
        );
        assert!(trace(&cfg, dest).status.success());
    }
    let text_line = text.wait_for_log("ferry::access");
    let access = loop {
        let line = json.next_line();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        lines.push(line);
        if v["target"] == "ferry::access" {
            break v;
        }
    };
    let mut json_fields: BTreeSet<String> = access["fields"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(json_fields.remove("message"));
    assert_eq!(
        json_fields,
        text_fields(&text_line),
        "{access}\n{text_line}"
    );
    assert!(json_fields.contains("next") && json_fields.contains("end"));
    // Every line up to the end of the run, the shutdown lines included.
    let status = Command::new("kill")
        .args(["-TERM", &json.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        let line = json.next_line();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        if v["fields"]["message"] == "stopped" {
            break;
        }
    }
    assert!(!lines.is_empty());
    assert!(text.stop());
}
