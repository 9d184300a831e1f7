//! `--log-format json`: every line the real `ferry-proxy` writes is one JSON object, and its
//! access-log line carries the same fields as the text line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use support::{BIN, echo_upstream, sigterm};

/// Runs the proxy with `format`, sends one line through it, stops it, and returns every stderr
/// line it wrote.
fn one_connection(format: &str) -> Vec<String> {
    let up = echo_upstream(b'J');
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--upstream", &up.to_string()])
        .args(["--log", "info", "--log-format", format])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("proxy ended before listening").unwrap();
        seen.push(line.clone());
        if !line.contains("listening") {
            continue;
        }
        let text = if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            v["fields"]["addr"].as_str().unwrap().to_owned()
        } else {
            let at = line.find("addr=").unwrap() + 5;
            line[at..].split(' ').next().unwrap().to_owned()
        };
        break text.parse().unwrap();
    };
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"hello").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"Jhello");
    // The access line is written when the connection ends; wait for it, then stop.
    loop {
        let line = lines.next().expect("no access line").unwrap();
        seen.push(line.clone());
        if line.contains("ferry::access") {
            break;
        }
    }
    sigterm(&child);
    for line in lines {
        seen.push(line.unwrap());
    }
    assert!(child.wait().unwrap().success());
    seen
}

/// The field names of a text access line: every `name=value` token after the target.
fn text_fields(line: &str) -> BTreeSet<String> {
    let rest = &line[line.find("ferry::access:").unwrap() + "ferry::access:".len()..];
    rest.split_whitespace()
        .filter_map(|t| t.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

#[test]
fn json_lines_parse_and_access_fields_match_text() {
    let json = one_connection("json");
    assert!(json.len() >= 4, "{json:?}");
    let mut access = None;
    for line in &json {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        if v["target"] == "ferry::access" {
            access = Some(v);
        }
    }
    let access = access.expect("an access-log line");
    assert_eq!(access["fields"]["bytes_up"], 5, "{access}");
    assert_eq!(access["fields"]["bytes_down"], 6, "{access}");
    assert_eq!(access["fields"]["end"], "closed", "{access}");
    let json_fields: BTreeSet<String> = access["fields"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "message")
        .cloned()
        .collect();

    let text = one_connection("text");
    let line = text.iter().find(|l| l.contains("ferry::access")).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err());
    assert_eq!(
        json_fields,
        text_fields(line),
        "json: {access}\ntext: {line}"
    );
}

/// The first stderr lines of the proxy started with `args`, up to and including `listening`.
/// Then stderr is closed before the proxy is stopped: it must still drain and exit 0 (a log
/// line it cannot write is dropped, never a panic).
fn startup_lines(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--log", "info"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("listening");
        seen.push(line);
        if done {
            break;
        }
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    seen
}

#[test]
fn log_format_in_the_config_file_applies_and_the_flag_overrides_it() {
    let up = echo_upstream(b'C');
    let dir = std::env::temp_dir().join(format!("ferry-json-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.toml");
    std::fs::write(
        &file,
        format!(
            "log_format = \"json\"\n[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
             [pool.p]\nupstreams = [\"{up}\"]\n"
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let from_file = startup_lines(&["--config", path]);
    assert!(!from_file.is_empty());
    for line in &from_file {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    let overridden = startup_lines(&["--config", path, "--log-format", "text"]);
    assert!(
        overridden
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "{overridden:?}"
    );
    // `check` shows the setting with the rest of the config.
    let out = Command::new(BIN).args(["check", path]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("log_format=json"));
    let _ = std::fs::remove_dir_all(&dir);
}
