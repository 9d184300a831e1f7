//! `access` on real loopback sockets, driven by real clients: `curl --socks5-hostname`,
//! `curl -x` (HTTP CONNECT), a SOCKS5 UDP client, plain TCP and UDP listeners; routing rules,
//! failover between chains, and `trace`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ferry_chain::Status;
use ferry_chain::client::ClientConfig;
use ferry_front::Parsed;
use ferry_front::socks5::{self, Command, METHOD_NO_AUTH, ReplyCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Hops 1..=3 that allow loopback by name (`localhost`) and address.
async fn named_hops() -> Vec<HopHandle> {
    let mut hops = Vec::new();
    for n in 1..=3 {
        let mut c = config(n);
        c.allow =
            std::sync::Arc::new(ferry_allow::Allowlist::parse("localhost, 127.0.0.0/8").unwrap());
        hops.push(start_hop(c).await);
    }
    hops
}

/// A one-shot HTTP server answering every request with `body`.
async fn http_dest(body: &'static str) -> SocketAddr {
    http_dest_on("127.0.0.1:0", body).await
}

/// [`http_dest`] bound on `bind`.
async fn http_dest_on(bind: &str, body: &'static str) -> SocketAddr {
    let l = TcpListener::bind(bind).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

async fn curl(args: &[String]) -> (bool, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .await
        .expect("curl is installed (scripts/test.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn curl_through_socks5_and_http_connect_over_three_hops() {
    let hops = named_hops().await;
    let keys = key_file(3);
    let dest = http_dest("hello through three hops").await;
    let toml = format!(
        "[keys]\nfile = {:?}\n{}\n\
         [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\nusername = \"alice\"\npassword = \"s3cret\"\n\
         [[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:0\"\nusername = \"alice\"\npassword = \"s3cret\"\n",
        keys.display().to_string(),
        chain_toml(
            "main",
            1,
            &[(hops[0].addr, 1), (hops[1].addr, 2), (hops[2].addr, 3)]
        ),
    );
    let a = start_access(&toml).await;
    let url = format!("http://localhost:{}/", dest.port());

    // SOCKS5, the name resolved by the last hop.
    let (ok, out) = curl(&[
        "--socks5-hostname".into(),
        a.addrs[0].to_string(),
        url.clone(),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "hello through three hops");
    // SOCKS5 with username/password.
    let proxy = format!("socks5h://alice:s3cret@{}", a.addrs[1]);
    let (ok, out) = curl(&["-x".into(), proxy, url.clone()]).await;
    assert!(ok, "{out}");
    assert_eq!(out, "hello through three hops");
    let wrong = format!("socks5h://alice:wrong@{}", a.addrs[1]);
    let (ok, _) = curl(&["-x".into(), wrong, url.clone()]).await;
    assert!(!ok, "wrong SOCKS5 password accepted");
    // HTTP CONNECT.
    let (ok, out) = curl(&[
        "-p".into(),
        "-x".into(),
        format!("http://{}", a.addrs[2]),
        url.clone(),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "hello through three hops");
    // HTTP CONNECT with Basic credentials, and without them (407).
    let proxy = format!("http://{}", a.addrs[3]);
    let (ok, out) = curl(&[
        "-p".into(),
        "-x".into(),
        proxy.clone(),
        "--proxy-user".into(),
        "alice:s3cret".into(),
        url.clone(),
    ])
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "hello through three hops");
    let (ok, out) = curl(&["-p".into(), "-x".into(), proxy, url.clone()]).await;
    assert!(!ok && out.contains("407"), "{out}");

    let report = a.stop().await;
    assert_eq!(report.relayed, 4, "{report:?}");
    assert_eq!(report.failed, 2, "{report:?}");
    let _ = std::fs::remove_file(keys);
}

/// curl's own SOCKS5 client with address targets (interop): `--socks5` resolves locally and
/// sends an IPv6 (ATYP 4) or IPv4 (ATYP 1) address; `--socks5-hostname` with an IPv6 literal
/// in the URL. The access front and the hop carry each address type end to end.
#[tokio::test]
async fn curl_socks5_reaches_ipv6_and_ipv4_address_targets() {
    let mut c = config(1);
    c.allow = std::sync::Arc::new(ferry_allow::Allowlist::parse("127.0.0.0/8, ::1/128").unwrap());
    let hop = start_hop(c).await;
    let keys = key_file(1);
    let v6 = http_dest_on("[::1]:0", "over ipv6").await;
    let v4 = http_dest_on("127.0.0.1:0", "over ipv4").await;
    let toml = format!(
        "[keys]\nfile = {:?}\n{}\n[[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n",
        keys.display().to_string(),
        chain_toml("one", 1, &[(hop.addr, 1)]),
    );
    let a = start_access(&toml).await;
    let socks = a.addrs[0].to_string();
    for (flag, url, body) in [
        (
            "--socks5",
            format!("http://[::1]:{}/", v6.port()),
            "over ipv6",
        ),
        (
            "--socks5",
            format!("http://127.0.0.1:{}/", v4.port()),
            "over ipv4",
        ),
        (
            "--socks5-hostname",
            format!("http://[::1]:{}/", v6.port()),
            "over ipv6",
        ),
    ] {
        let (ok, out) = curl(&[flag.into(), socks.clone(), url.clone()]).await;
        assert!(ok && out == body, "{flag} {url}: {out}");
    }
    let report = a.stop().await;
    assert_eq!(report.relayed, 3, "{report:?}");
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn routes_send_direct_block_or_over_a_chain() {
    let hops = named_hops().await;
    let keys = key_file(3);
    let direct = http_dest("direct").await;
    let chained = http_dest("chained").await;
    let toml = format!(
        "[keys]\nfile = {:?}\n{}\n\
         [[route]]\ndestinations = [\"127.0.0.1:{}\"]\nvia = \"direct\"\n\
         [[route]]\ndestinations = [\"*.blocked.test\"]\nvia = \"block\"\n\
         [[route]]\ndestinations = [\"localhost\"]\nvia = \"one\"\n\
         [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n",
        keys.display().to_string(),
        chain_toml("one", 1, &[(hops[0].addr, 1)]),
        direct.port(),
    );
    let a = start_access(&toml).await;
    let socks = a.addrs[0].to_string();
    let (ok, out) = curl(&[
        "--socks5-hostname".into(),
        socks.clone(),
        format!("http://127.0.0.1:{}/", direct.port()),
    ])
    .await;
    assert!(ok && out == "direct", "{out}");
    let (ok, out) = curl(&[
        "--socks5-hostname".into(),
        socks.clone(),
        format!("http://localhost:{}/", chained.port()),
    ])
    .await;
    assert!(ok && out == "chained", "{out}");
    let (ok, out) = curl(&[
        "--socks5-hostname".into(),
        socks.clone(),
        "http://www.blocked.test/".into(),
    ])
    .await;
    assert!(!ok, "{out}");
    // No rule matches 127.0.0.1:<chained>: the default is the chain, whose hop allows it.
    let (ok, out) = curl(&[
        "--socks5-hostname".into(),
        socks,
        format!("http://127.0.0.1:{}/", chained.port()),
    ])
    .await;
    assert!(ok && out == "chained", "{out}");
    let report = a.stop().await;
    assert_eq!((report.relayed, report.blocked), (3, 1), "{report:?}");
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn failover_to_the_next_chain_when_a_hop_reports_an_error() {
    let hops = named_hops().await;
    let keys = key_file(3);
    let dest = echo_dest().await;
    let dead = dead_addr().await;
    // "broken": hop 1 is alive, but hop 2 is dead (hop 1 reports it). Heavier weight, so it is
    // always tried first; "unreachable": hop 1 itself is dead. "good" works.
    let toml = format!(
        "default_via = [\"broken\", \"unreachable\", \"good\"]\n[keys]\nfile = {:?}\n{}{}{}\n\
         [[listener]]\nmode = \"tcp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{}\"\n",
        keys.display().to_string(),
        chain_toml("broken", 1000, &[(hops[0].addr, 1), (dead, 2)]),
        chain_toml("unreachable", 1, &[(dead, 1)]),
        chain_toml("good", 1, &[(hops[1].addr, 2), (hops[2].addr, 3)]),
        dest.addr,
    );
    let a = start_access(&toml).await;
    for i in 0..5u8 {
        let mut s = TcpStream::connect(a.addrs[0]).await.unwrap();
        let sent = pattern(10_000, i);
        s.write_all(&sent).await.unwrap();
        s.shutdown().await.unwrap();
        assert!(read_all(&mut s).await == sent, "connection {i}");
    }
    assert_eq!(dest.count(), 5);
    let report = a.stop().await;
    assert_eq!(report.relayed, 5, "{report:?}");
    // Every connection tried "broken" first (weight), then "unreachable", then "good".
    assert_eq!(report.failovers, 10, "{report:?}");
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn every_chain_failing_is_reported_to_the_client() {
    let hops = named_hops().await;
    let keys = key_file(3);
    let dead = dead_addr().await;
    let toml = format!(
        "[keys]\nfile = {:?}\n{}\n[[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:0\"\n",
        keys.display().to_string(),
        chain_toml("only", 1, &[(hops[0].addr, 1), (dead, 2)]),
    );
    let a = start_access(&toml).await;
    let mut s = TcpStream::connect(a.addrs[0]).await.unwrap();
    s.write_all(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let reply = String::from_utf8(read_all(&mut s).await).unwrap();
    assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");
    let report = a.stop().await;
    assert_eq!((report.failed, report.failovers), (1, 1), "{report:?}");
    let _ = std::fs::remove_file(keys);
}

async fn socks5_udp_associate(proxy: SocketAddr) -> (TcpStream, SocketAddr) {
    let mut c = TcpStream::connect(proxy).await.unwrap();
    let mut out = Vec::new();
    socks5::client::greeting(&[METHOD_NO_AUTH], &mut out).unwrap();
    let any = ferry_front::Address::Ip(SocketAddr::from(([0, 0, 0, 0], 0)));
    socks5::client::request(Command::UdpAssociate, &any, &mut out).unwrap();
    c.write_all(&out).await.unwrap();
    let mut buf = Vec::new();
    loop {
        c.read_buf(&mut buf).await.unwrap();
        if buf.len() < 2 {
            continue;
        }
        if let Parsed::Complete { value, .. } = socks5::client::parse_reply(&buf[2..]).unwrap() {
            assert_eq!(value.code, ReplyCode::SUCCEEDED);
            return (c, value.bound.socket_addr().unwrap());
        }
    }
}

#[tokio::test]
async fn udp_over_three_hops_through_socks5_associate_and_a_udp_listener() {
    let mut hops = Vec::new();
    for n in 1..=3 {
        hops.push(udp_hop(n).await);
    }
    let keys = key_file(3);
    let echo = udp_echo().await;
    let toml = format!(
        "[keys]\nfile = {:?}\n{}\n\
         [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nmode = \"udp\"\nbind = \"127.0.0.1:0\"\ndestination = \"{echo}\"\n",
        keys.display().to_string(),
        chain_toml(
            "main",
            1,
            &[(hops[0].addr, 1), (hops[1].addr, 2), (hops[2].addr, 3)]
        ),
    );
    let a = start_access(&toml).await;

    // SOCKS5 UDP ASSOCIATE.
    let (_control, relay) = socks5_udp_associate(a.addrs[0]).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 65_536];
    for i in 0..3u8 {
        let mut dgram = Vec::new();
        socks5::encode_udp_header(&ferry_front::Address::Ip(echo), &mut dgram).unwrap();
        dgram.extend_from_slice(&pattern(500, i));
        sock.send_to(&dgram, relay).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("a reply through the association")
            .unwrap();
        let header = socks5::decode_udp(&buf[..n]).unwrap();
        assert_eq!(header.target, ferry_front::Address::Ip(echo));
        let mut expect = b"echo:".to_vec();
        expect.extend_from_slice(&pattern(500, i));
        assert!(buf[header.payload_offset..n] == expect[..], "datagram {i}");
    }

    // The plain UDP listener.
    let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    plain.send_to(b"plain", a.addrs[1]).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), plain.recv_from(&mut buf))
        .await
        .expect("a reply through the udp listener")
        .unwrap();
    assert_eq!(&buf[..n], b"echo:plain");
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn trace_reports_each_hop_and_the_first_failure() {
    let hops = named_hops().await;
    let dest = echo_dest().await;
    let c = chain(&[
        (hops[0].addr, key(1)),
        (hops[1].addr, key(2)),
        (hops[2].addr, key(3)),
    ]);
    let t = ferry_app_hop::trace(
        &c,
        &ferry_chain::Address::try_from(dest.addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        t.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![Some(Status::Ok); 3]
    );
    assert!(t.windows(2).all(|w| w[0].rtt <= w[1].rtt), "{t:?}");
    assert!(t[0].to_string().starts_with("hop 1 127.0.0.1:"), "{}", t[0]);

    let dead = dead_addr().await;
    let c = chain(&[
        (hops[0].addr, key(1)),
        (dead, key(2)),
        (hops[2].addr, key(3)),
    ]);
    let t = ferry_app_hop::trace(
        &c,
        &ferry_chain::Address::try_from(dest.addr).unwrap(),
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        t.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![Some(Status::Refused), None, None]
    );
}

/// Row A1: a CONNECT head trickled one byte at a time is closed when the whole-head deadline
/// expires, although bytes keep arriving, and nothing is dialled.
#[tokio::test]
async fn a_trickled_connect_head_is_closed_at_the_total_deadline() {
    let h = hop(1).await;
    let keys = key_file(1);
    let dest = echo_dest().await;
    let toml = format!(
        "handshake_timeout = \"1s\"\n[keys]\nfile = {:?}\n{}\n\
         [[route]]\ndestinations = [\"127.0.0.1:{}\"]\nvia = \"direct\"\n\
         [[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:0\"\n",
        keys.display().to_string(),
        chain_toml("one", 1, &[(h.addr, 1)]),
        dest.addr.port(),
    );
    let a = start_access(&toml).await;
    let mut head = format!(
        "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nX-Padding: ",
        dest.addr
    )
    .into_bytes();
    head.resize(196, b'p');
    head.extend_from_slice(b"\r\n\r\n");
    let mut s = TcpStream::connect(a.addrs[0]).await.unwrap();
    // One byte every 50 ms: every read is well inside the deadline, the head is not.
    let t = ferry_test_support::net::trickle(&mut s, &head, Duration::from_millis(50)).await;
    assert!(t.closed_early, "{t:?}");
    assert!(t.sent < head.len(), "{t:?}");
    assert_eq!(dest.count(), 0, "something was dialled");
    let report = a.stop().await;
    assert_eq!((report.failed, report.relayed), (1, 0), "{report:?}");
    let _ = std::fs::remove_file(keys);
}
