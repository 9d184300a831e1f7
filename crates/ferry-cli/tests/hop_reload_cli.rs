//! `ferry-hop serve` and `ferry-hop access` on SIGHUP, as real processes on loopback: a good
//! file applies to new connections while a live 8 MiB transfer goes on byte-exact, a removed
//! key is refused, changed SOCKS5 credentials apply, a bad file or a changed `listen` keeps the
//! running config and is counted in `ferry_config_reloads_total{result="error"}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

#[path = "support/echo.rs"]
mod echo;
#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use echo::echo;
use ferry_tls::SelfSigned;
use hop::{Running, TempFile, keys, spawn, stderr_of, trace};

const HALF: usize = 4 * 1024 * 1024;

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: ferry\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn reloads(h: &Running, result: &str) -> String {
    let m = get(h.metrics_addr(), "/metrics");
    m.lines()
        .find(|l| {
            l.starts_with(&format!(
                "ferry_config_reloads_total{{result=\"{result}\"}}"
            ))
        })
        .unwrap_or("")
        .to_owned()
}

fn serve_toml(keys: &TempFile, listen: &str, allow: &[SocketAddr]) -> String {
    let allow: Vec<String> = allow.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "listen = \"{listen}\"\nallow = [{}]\n[keys]\nfile = {:?}\n",
        allow.join(", "),
        keys.path()
    )
}

/// An access config: chain `main` over `hop` with `key_id`, and `listeners` (TOML).
fn access_toml(keys: &TempFile, hop: SocketAddr, key_id: u16, listeners: &str) -> String {
    format!(
        "[keys]\nfile = {:?}\n[[chain]]\nname = \"main\"\nhops = [{{ address = \"{hop}\", key_id = {key_id} }}]\n{listeners}",
        keys.path()
    )
}

fn tcp_listener(dest: SocketAddr) -> String {
    format!("[[listener]]\nmode = \"tcp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{dest}\"\n")
}

fn pattern(len: usize, offset: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

/// Echo round trip of a few bytes; `None` when the far side closes instead.
fn ping(c: &mut TcpStream) -> Option<Vec<u8>> {
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"ping").ok()?;
    let mut back = [0u8; 4];
    c.read_exact(&mut back).ok()?;
    Some(back.to_vec())
}

fn ping_new(addr: SocketAddr) -> Option<Vec<u8>> {
    ping(&mut TcpStream::connect(addr).unwrap())
}

/// Moves 8 MiB through `c` (an echo at the far end): the first half, then `middle` (the
/// reload) while the connection is live, then the second half. Returns what came back.
fn transfer_around(mut c: TcpStream, middle: impl FnOnce()) -> Vec<u8> {
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = c.try_clone().unwrap();
    let (go_tx, go) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        w.write_all(&pattern(HALF, 0)).unwrap();
        go.recv().unwrap();
        w.write_all(&pattern(HALF, HALF)).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = vec![0u8; HALF];
    c.read_exact(&mut back).unwrap();
    middle();
    go_tx.send(()).unwrap();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

#[test]
fn serve_reload_mid_transfer_keeps_it_and_new_connections_see_the_new_allowlist() {
    let k = keys(1);
    let (a, b) = (echo(), echo());
    let cfg = TempFile::new("toml", &serve_toml(&k, "127.0.0.1:0", &[a]));
    let h = spawn(
        &["serve", "--config", &cfg.path(), "--metrics", "127.0.0.1:0"],
        1,
    );
    let acc = TempFile::new(
        "toml",
        &access_toml(&k, h.addr(), 1, &(tcp_listener(a) + &tcp_listener(b))),
    );
    let ac = spawn(&["access", "--config", &acc.path()], 2);
    let (to_a, to_b) = (ac.addrs[0], ac.addrs[1]);
    assert_eq!(ping_new(to_b), None, "b is not allowed yet");

    let live = TcpStream::connect(to_a).unwrap();
    let back = transfer_around(live, || {
        std::fs::write(&cfg.0, serve_toml(&k, "127.0.0.1:0", &[b])).unwrap();
        let line = h.reload();
        assert!(line.contains("config reloaded"), "{line}");
        assert!(line.contains("allowlist"), "{line}");
    });
    assert_eq!(back.len(), 2 * HALF);
    assert!(
        back == pattern(2 * HALF, 0),
        "the live transfer is byte-exact"
    );

    assert_eq!(
        ping_new(to_b).as_deref(),
        Some(&b"ping"[..]),
        "b is allowed now"
    );
    assert_eq!(ping_new(to_a), None, "a is no longer allowed");
    assert_eq!(
        reloads(&h, "ok"),
        r#"ferry_config_reloads_total{result="ok"} 1"#
    );
    assert!(ac.stop());
    assert!(h.stop(), "the hop ran on and stopped cleanly");
}

#[test]
fn serve_refuses_records_sealed_with_a_key_removed_from_the_key_file() {
    let hop_keys = keys(2);
    let client_keys = keys(2);
    let dest = echo();
    // Flags only: the reload re-reads the key file the flags name.
    let h = hop::hop(&hop_keys, &[]);
    let with_key = |id: u16| TempFile::new("toml", &access_toml(&client_keys, h.addr(), id, ""));
    let (one, two) = (with_key(1), with_key(2));
    assert!(trace(&one, dest).status.success());
    assert!(trace(&two, dest).status.success());

    std::fs::write(&hop_keys.0, format!("2 {}\n", "02".repeat(32))).unwrap();
    let line = h.reload();
    assert!(
        line.contains("config reloaded") && line.contains("keys"),
        "{line}"
    );
    let out = trace(&one, dest);
    assert!(
        !out.status.success(),
        "key 1 must be refused: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = trace(&two, dest);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(h.stop());
}

/// A SOCKS5 CONNECT to `dest` with username/password; `Err` when the credentials are refused.
fn socks(addr: SocketAddr, user: &str, pass: &str, dest: SocketAddr) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&[5, 1, 2]).unwrap();
    let mut r = [0u8; 2];
    s.read_exact(&mut r).unwrap();
    assert_eq!(r, [5, 2], "username/password asked for");
    let mut auth = vec![1, u8::try_from(user.len()).unwrap()];
    auth.extend_from_slice(user.as_bytes());
    auth.push(u8::try_from(pass.len()).unwrap());
    auth.extend_from_slice(pass.as_bytes());
    s.write_all(&auth).unwrap();
    if s.read_exact(&mut r).is_err() || r != [1, 0] {
        return Err(format!("credentials refused: {r:?}"));
    }
    let SocketAddr::V4(d) = dest else {
        panic!("IPv4 destination")
    };
    let mut req = vec![5, 1, 0, 1];
    req.extend_from_slice(&d.ip().octets());
    req.extend_from_slice(&d.port().to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).map_err(|e| e.to_string())?;
    if reply[1] != 0 {
        return Err(format!("connect refused: {}", reply[1]));
    }
    Ok(s)
}

fn socks_listener(password: &str) -> String {
    format!(
        "[[listener]]\nname = \"socks\"\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\nusername = \"u\"\npassword = \"{password}\"\n"
    )
}

#[test]
fn access_reload_mid_transfer_switches_socks5_credentials_for_new_connections() {
    let k = keys(1);
    let dest = echo();
    let h = hop::hop(&k, &[]);
    let acc = TempFile::new(
        "toml",
        &access_toml(&k, h.addr(), 1, &socks_listener("old")),
    );
    let ac = spawn(
        &[
            "access",
            "--config",
            &acc.path(),
            "--metrics",
            "127.0.0.1:0",
        ],
        1,
    );
    let live = socks(ac.addr(), "u", "old", dest).unwrap();
    let back = transfer_around(live, || {
        std::fs::write(&acc.0, access_toml(&k, h.addr(), 1, &socks_listener("new"))).unwrap();
        let line = ac.reload();
        assert!(line.contains("config reloaded"), "{line}");
        assert!(line.contains("listener[0] credentials"), "{line}");
    });
    assert!(
        back == pattern(2 * HALF, 0),
        "the live transfer is byte-exact"
    );

    assert!(
        socks(ac.addr(), "u", "old", dest).is_err(),
        "old password refused"
    );
    let mut c = socks(ac.addr(), "u", "new", dest).unwrap();
    assert_eq!(ping(&mut c).as_deref(), Some(&b"ping"[..]));
    drop(c);
    assert_eq!(
        reloads(&ac, "ok"),
        r#"ferry_config_reloads_total{result="ok"} 1"#
    );
    assert!(ac.stop());
    assert!(h.stop());
}

#[test]
fn a_bad_serve_file_keeps_the_running_config_and_counts_an_error() {
    let k = keys(1);
    let dest = echo();
    let cfg = TempFile::new("toml", &serve_toml(&k, "127.0.0.1:0", &[dest]));
    let h = spawn(
        &["serve", "--config", &cfg.path(), "--metrics", "127.0.0.1:0"],
        1,
    );
    let acc = TempFile::new("toml", &access_toml(&k, h.addr(), 1, ""));
    assert!(trace(&acc, dest).status.success());
    // A valid allowlist up to an invalid pattern: none of it may apply.
    std::fs::write(
        &cfg.0,
        serve_toml(&k, "127.0.0.1:0", &[])
            .replace("allow = []", "allow = [\"10.0.0.0/8\", \"*.*bad:x\"]"),
    )
    .unwrap();
    let line = h.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(line.contains("allow[1]"), "{line}");
    assert!(
        trace(&acc, dest).status.success(),
        "the old allowlist still serves"
    );
    assert_eq!(
        reloads(&h, "error"),
        r#"ferry_config_reloads_total{result="error"} 1"#
    );
    assert!(h.stop());
}

#[test]
fn a_bad_access_file_keeps_the_running_config_and_counts_an_error() {
    let k = keys(1);
    let dest = echo();
    let h = hop::hop(&k, &[]);
    let acc = TempFile::new("toml", &access_toml(&k, h.addr(), 1, &tcp_listener(dest)));
    let ac = spawn(
        &[
            "access",
            "--config",
            &acc.path(),
            "--metrics",
            "127.0.0.1:0",
        ],
        1,
    );
    assert_eq!(ping_new(ac.addr()).as_deref(), Some(&b"ping"[..]));
    std::fs::write(&acc.0, access_toml(&k, h.addr(), 9, &tcp_listener(dest))).unwrap();
    let line = ac.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(line.contains("chain[0].hops[0].key_id"), "{line}");
    assert_eq!(ping_new(ac.addr()).as_deref(), Some(&b"ping"[..]));
    assert_eq!(
        reloads(&ac, "error"),
        r#"ferry_config_reloads_total{result="error"} 1"#
    );
    assert!(ac.stop());
    assert!(h.stop());
}

#[test]
fn a_changed_listen_is_refused_and_the_old_listener_serves_on() {
    let k = keys(1);
    let dest = echo();
    let cfg = TempFile::new("toml", &serve_toml(&k, "127.0.0.1:0", &[dest]));
    let h = spawn(
        &["serve", "--config", &cfg.path(), "--metrics", "127.0.0.1:0"],
        1,
    );
    std::fs::write(&cfg.0, serve_toml(&k, "127.0.0.2:7000", &[dest])).unwrap();
    let line = h.reload();
    assert!(line.contains("config reload failed"), "{line}");
    assert!(
        line.contains("`listen`") && line.contains("restart"),
        "{line}"
    );
    let acc = TempFile::new("toml", &access_toml(&k, h.addr(), 1, ""));
    assert!(trace(&acc, dest).status.success());
    assert_eq!(
        reloads(&h, "error"),
        r#"ferry_config_reloads_total{result="error"} 1"#
    );
    assert_eq!(reloads(&h, "ok"), "");
    assert!(h.stop());
}

#[test]
fn serve_with_tls_flags_picks_up_a_renewed_certificate_on_sighup() {
    let k = keys(1);
    let dest = echo();
    let old = SelfSigned::generate(["127.0.0.1"]).unwrap();
    let new = SelfSigned::generate(["127.0.0.1"]).unwrap();
    let (cert, key) = (
        TempFile::new("pem", old.cert_pem()),
        TempFile::new("key", old.key_pem()),
    );
    let h = hop::hop(&k, &["--tls-cert", &cert.path(), "--tls-key", &key.path()]);
    // The client trusts only the renewed certificate.
    let ca = TempFile::new("pem", new.cert_pem());
    let acc = TempFile::new(
        "toml",
        &access_toml(&k, h.addr(), 1, &tcp_listener(dest))
            .replace("hops = [", &format!("tls_ca = [{:?}]\nhops = [", ca.path())),
    );
    let ac = spawn(&["access", "--config", &acc.path()], 1);
    assert_eq!(
        ping_new(ac.addr()),
        None,
        "the old certificate is not trusted"
    );
    std::fs::write(&cert.0, new.cert_pem()).unwrap();
    std::fs::write(&key.0, new.key_pem()).unwrap();
    let line = h.reload();
    assert!(
        line.contains("config reloaded") && line.contains("tls certificate"),
        "{line}"
    );
    assert_eq!(ping_new(ac.addr()).as_deref(), Some(&b"ping"[..]));
    assert!(ac.stop());
    assert!(h.stop());
}
