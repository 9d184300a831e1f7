//! A real third-party SOCKS5 client (PySocks, Debian's `python3-socks`) at its default
//! settings through `ferry-hop access` and a hop: UDP ASSOCIATE (PySocks sends the domain `0`
//! with port 0 as its hint, which a strict parser refused) and CONNECT to a domain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};

#[path = "support/echo.rs"]
mod echo;
#[path = "support/hop.rs"]
mod hop;
#[path = "support/program.rs"]
mod program;

use hop::{TempFile, keys, spawn};

/// Debian's Python, which has Debian's `python3-socks` (scripts/test.sh installs it).
const PYTHON: &str = "/usr/bin/python3";

/// A UDP destination answering `echo:` + each datagram, on a thread.
fn udp_echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from);
        }
    });
    addr
}

/// Runs a PySocks script; its stdout, or a panic with its stderr.
fn pysocks(script: &str) -> String {
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("/usr/bin/python3 must be installed (python3-socks)");
    assert!(
        out.status.success(),
        "pysocks failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pysocks_udp_associate_and_connect_through_a_chain() {
    let k = keys(1);
    let hop = spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--key-file",
            &k.path(),
            "--allow",
            // Addresses on loopback, and the name `localhost` (its addresses are checked
            // against the loopback rule after the hop resolves it).
            "127.0.0.0/8,localhost",
            "--udp",
        ],
        1,
    );
    let cfg = TempFile::new(
        "toml",
        &format!(
            "[keys]\nfile = {:?}\n\n[[chain]]\nname = \"main\"\nhops = [{{ address = \"{}\", key_id = 1 }}]\n\n\
             [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n",
            k.path(),
            hop.addrs[0]
        ),
    );
    let access = spawn(&["access", "--config", &cfg.path()], 1);
    let proxy = access.addrs[0];

    // UDP: PySocks associates on its first sendto, then wraps every datagram.
    let dest = udp_echo();
    let got = pysocks(&format!(
        "import socket, socks\n\
         s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.set_proxy(socks.SOCKS5, '127.0.0.1', {port})\n\
         s.settimeout(10)\n\
         for i in range(3):\n\
         \x20   s.sendto(b'ping%d' % i, ('127.0.0.1', {dport}))\n\
         \x20   data, src = s.recvfrom(2048)\n\
         \x20   print(data.decode(), src[1])\n",
        port = proxy.port(),
        dport = dest.port()
    ));
    let want: String = (0..3)
        .map(|i| format!("echo:ping{i} {}\n", dest.port()))
        .collect();
    assert_eq!(got, want);
    access.wait_for_log("udp association");

    // CONNECT by name (remote resolution), through the same chain.
    let tcp = echo::echo();
    let got = pysocks(&format!(
        "import socks\n\
         s = socks.socksocket()\n\
         s.set_proxy(socks.SOCKS5, '127.0.0.1', {port}, rdns=True)\n\
         s.settimeout(10)\n\
         s.connect(('localhost', {dport}))\n\
         s.sendall(b'hello')\n\
         s.shutdown(1)\n\
         print(s.recv(100).decode())\n",
        port = proxy.port(),
        dport = tcp.port()
    ));
    assert_eq!(got, "hello\n");
    assert!(access.stop());
    assert!(hop.stop());
}
