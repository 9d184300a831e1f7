//! The README's hand-run blocks (those after `<!-- runs in tests -->`), run as written, in
//! order, in one shell, with the programs of this build on PATH: the reverse proxy with a
//! reload and a check, a one-hop chain through SOCKS5, and the reverse tunnel with `curl -x`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

const MARK: &str = "<!-- runs in tests -->";

/// The `sh` blocks that follow the marker, in order.
fn blocks(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let start = rest.find("```sh\n").expect("a sh block after the marker") + 6;
        let end = rest[start..].find("```").unwrap() + start;
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[test]
fn readme_blocks_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert_eq!(blocks.len(), 3, "proxy, chain and tunnel blocks");
    // A scratch directory standing in for the repository root: the blocks write key, token
    // and certificate files into it and read the sample configs under examples/.
    let dir = std::env::temp_dir().join(format!("ferry-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(
        root.join("examples").canonicalize().unwrap(),
        dir.join("examples"),
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_ferry-proxy"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Whatever a block leaves running is stopped when the shell ends.
    let script = format!(
        "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n{}",
        blocks.join("\n")
    );
    let out = Command::new("timeout")
        .args(["120", "bash", "-c", &script])
        .current_dir(&dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    // The HTTP server's page through the proxy, the chain and the tunnel.
    assert_eq!(
        stdout
            .matches("<title>Directory listing for /</title>")
            .count(),
        3,
        "{context}"
    );
    assert!(stdout.contains("config ok"), "{context}");
    assert!(
        stdout.contains("ferry_proxy_connections_total{listener=\"listen\",end=\"closed\"}"),
        "{context}"
    );
    assert!(stdout.contains("deny 127.0.0.1:22: "), "{context}");
    assert!(
        stderr.contains("SIGHUP received"),
        "the reload ran: {context}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
