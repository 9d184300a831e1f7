//! TLS between hops with the `ferry-hop` binary: `--tls-cert`/`--tls-key` on a hop's listener
//! and `--next-hop-tls-ca` on the hop before it carry bytes exactly through real processes; a
//! next hop whose certificate the CA does not sign is reported as that hop, unreachable, with
//! nothing forwarded; the flags' errors name the flag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use ferry_tls::SelfSigned;

#[path = "support/echo.rs"]
mod echo;
#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use echo::echo_counting as echo;
use hop::{TempFile, access_config, hop, keys, run, spawn, trace};

/// A self-signed certificate for 127.0.0.1 as files: (cert, key).
fn cert_files() -> (TempFile, TempFile) {
    let c = SelfSigned::generate(["127.0.0.1", "localhost"]).unwrap();
    (
        TempFile::new("pem", c.cert_pem()),
        TempFile::new("key", c.key_pem()),
    )
}

#[test]
fn a_tls_hop_in_the_middle_carries_bytes_exactly_both_ways() {
    let k = keys(3);
    let (cert, key) = cert_files();
    let (dest, seen) = echo();
    let h3 = hop(&k, &[]);
    let h2 = hop(&k, &["--tls-cert", &cert.path(), "--tls-key", &key.path()]);
    let h1 = hop(&k, &["--next-hop-tls-ca", &cert.path()]);
    let cfg = access_config(&k, &[h1.addr(), h2.addr(), h3.addr()], dest);
    let a = spawn(&["access", "--config", &cfg.path()], 1);

    let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut c = TcpStream::connect(a.addr()).unwrap();
    let writer = {
        let mut c = c.try_clone().unwrap();
        let sent = sent.clone();
        std::thread::spawn(move || {
            c.write_all(&sent).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == sent, "{} bytes back of {}", back.len(), sent.len());
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // Hop 1 -> hop 2 is TLS (copy path); hop 3 has plain sockets on both sides (splice).
    // Hop 1 relays the later hops' records and statuses too, so only its mode is checked.
    let l1 = h1.wait_for_log("ferry::access");
    assert!(
        l1.contains("status=\"ok\"") && l1.contains("spliced=false"),
        "{l1}"
    );
    let l2 = h2.wait_for_log("ferry::access");
    assert!(l2.contains("hop=2") && l2.contains("spliced=false"), "{l2}");
    let l3 = h3.wait_for_log("ferry::access");
    assert!(
        l3.contains(&format!("next={dest}"))
            && l3.contains("bytes_up=1000000")
            && l3.contains("bytes_down=1000000")
            && l3.contains("spliced=true"),
        "{l3}"
    );
}

#[test]
fn a_next_hop_the_ca_does_not_sign_is_named_and_nothing_is_forwarded() {
    let k = keys(2);
    let (cert, key) = cert_files();
    let (other_ca, _other_key) = cert_files();
    let (dest, seen) = echo();
    let h2 = hop(&k, &["--tls-cert", &cert.path(), "--tls-key", &key.path()]);
    let h1 = hop(&k, &["--next-hop-tls-ca", &other_ca.path()]);
    let cfg = access_config(&k, &[h1.addr(), h2.addr()], dest);

    let out = trace(&cfg, dest);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("hop 1 {}: unreachable", h1.addr())),
        "{text}"
    );
    assert!(
        text.contains(&format!("hop 2 {}: no answer", h2.addr())),
        "{text}"
    );
    let why = h1.wait_for_log("tls to the next hop failed");
    assert!(why.contains(&format!("next={}", h2.addr())), "{why}");
    let refused = h2.wait_for_log("ferry::access");
    assert!(
        refused.contains("end=\"tls_failed\"") || refused.contains("end=tls_failed"),
        "{refused}"
    );

    // Through an access listener: the client gets no byte back, the log names hop 2.
    let a = spawn(&["access", "--config", &cfg.path()], 1);
    let mut c = TcpStream::connect(a.addr()).unwrap();
    c.write_all(b"must not arrive").unwrap();
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    assert!(back.is_empty(), "{back:?}");
    let line = a.wait_for_log("ferry::access");
    assert!(line.contains("hop 2 is unreachable"), "{line}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "the destination was reached"
    );
}

#[test]
fn tls_flag_errors_name_the_flag() {
    let k = keys(1);
    let (cert, _key) = cert_files();
    let base = ["serve", "--listen", "127.0.0.1:0", "--key-file"];
    let kp = k.path();
    let cp = cert.path();
    let cases: [(Vec<&str>, &str); 3] = [
        (vec!["--tls-cert", &cp], "--tls-key"),
        (
            vec!["--tls-cert", &cp, "--tls-key", "/nonexistent/hop.key"],
            "`--tls-cert`",
        ),
        (
            vec!["--next-hop-tls-ca", "/nonexistent/ca.pem"],
            "`--tls-ca`",
        ),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.push(&kp);
        args.extend_from_slice(&extra);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
