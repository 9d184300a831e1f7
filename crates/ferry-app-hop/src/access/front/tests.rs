//! The async front glue against in-memory streams: all at once, one byte at a time, arbitrary
//! splits, garbage, credentials, deadlines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ferry_front::socks5::{self, METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// Writes `bytes` in chunks of the given sizes (cycled), then leaves the stream open.
fn feed(
    bytes: Vec<u8>,
    chunks: Vec<usize>,
) -> (DuplexStream, tokio::task::JoinHandle<DuplexStream>) {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut at = 0;
        let mut i = 0;
        while at < bytes.len() {
            let n = chunks
                .get(i % chunks.len().max(1))
                .copied()
                .unwrap_or(1)
                .max(1);
            let end = (at + n).min(bytes.len());
            if client.write_all(&bytes[at..end]).await.is_err() {
                break; // the server gave up early (refused the request)
            }
            tokio::task::yield_now().await;
            at = end;
            i += 1;
        }
        client
    });
    (server, task)
}

fn socks_wire(auth: Option<(&str, &str)>, target: &str, data: &[u8]) -> Vec<u8> {
    let mut w = Vec::new();
    match auth {
        Some((u, p)) => {
            socks5::client::greeting(&[METHOD_USERNAME_PASSWORD], &mut w).unwrap();
            socks5::client::auth(u, p, &mut w).unwrap();
        }
        None => socks5::client::greeting(&[METHOD_NO_AUTH], &mut w).unwrap(),
    }
    socks5::client::request(Command::Connect, &target.parse().unwrap(), &mut w).unwrap();
    w.extend_from_slice(data);
    w
}

#[tokio::test]
async fn socks5_all_at_once_keeps_the_bytes_after_the_request() {
    let creds = UserPass::new("alice", "s3cret");
    let (mut server, client) = feed(
        socks_wire(Some(("alice", "s3cret")), "example.com:443", b"tunnel"),
        vec![usize::MAX],
    );
    let mut req = socks5_request(&mut server, Some(&creds), DEADLINE)
        .await
        .unwrap();
    assert_eq!(req.command, Command::Connect);
    assert_eq!(req.target.to_string(), "example.com:443");
    assert_eq!(req.leftover, b"tunnel");
    req.reply(
        &mut server,
        ReplyCode::SUCCEEDED,
        &"192.0.2.1:9".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut client = client.await.unwrap();
    let mut got = [0u8; 4 + 10];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..4], [0x05, 0x02, 0x01, 0x00], "method, then auth ok");
    assert_eq!(&got[4..6], [0x05, 0x00], "request succeeded");
}

#[tokio::test]
async fn socks5_one_byte_at_a_time() {
    let (mut server, _client) = feed(socks_wire(None, "[2001:db8::1]:80", b"x"), vec![1]);
    let req = socks5_request(&mut server, None, DEADLINE).await.unwrap();
    assert_eq!(req.target.to_string(), "[2001:db8::1]:80");
    // The tunnel byte may still be in flight: whatever arrived is kept, nothing more.
    assert!(req.leftover.is_empty() || req.leftover == b"x");
}

#[tokio::test]
async fn socks5_wrong_password_and_missing_auth_are_refused() {
    let creds = UserPass::new("alice", "s3cret");
    let (mut server, client) = feed(
        socks_wire(Some(("alice", "nope")), "a.example:1", b""),
        vec![usize::MAX],
    );
    let e = socks5_request(&mut server, Some(&creds), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(e, FrontError::AuthFailed), "{e}");
    let mut client = client.await.unwrap();
    let mut got = [0u8; 4];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [0x05, 0x02, 0x01, 0x01]);

    // A client offering only "no auth" to a server that requires a password gets 05 FF.
    let (mut server, client) = feed(socks_wire(None, "a.example:1", b""), vec![usize::MAX]);
    let e = socks5_request(&mut server, Some(&creds), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(e, FrontError::Socks5(Socks5Error::NoAcceptableMethod)),
        "{e}"
    );
    let mut client = client.await.unwrap();
    let mut got = [0u8; 2];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [0x05, 0xFF]);
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_hits_the_deadline() {
    let (mut server, _client) = feed(vec![0x05], vec![1]);
    let e = socks5_request(&mut server, None, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(e, FrontError::Timeout(_)), "{e}");
    let (mut server, _client) = feed(b"CONNECT a.example:1 HTTP/1.1\r\n".to_vec(), vec![3]);
    let e = HttpFront::new(None)
        .read_request(&mut server, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(e, FrontError::Timeout(_)), "{e}");
}

async fn http(
    front: &HttpFront,
    wire: &[u8],
    chunks: Vec<usize>,
) -> (Result<HttpRequest, FrontError>, String) {
    let (mut server, client) = feed(wire.to_vec(), chunks);
    let r = front.read_request(&mut server, DEADLINE).await;
    if r.is_ok() {
        http_reply(&mut server, &Reply::Established).await.unwrap();
    }
    drop(server);
    let mut client = client.await.unwrap();
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    (r, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn http_connect_requests_credentials_and_limits() {
    let open = HttpFront::new(None);
    let (r, reply) = http(
        &open,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\nearly",
        vec![1],
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r.target.to_string(), "example.com:443");
    assert!(r.leftover.is_empty() || r.leftover.starts_with(b"e"));
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");

    let (r, _) = http(
        &open,
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\nearly",
        vec![usize::MAX],
    )
    .await;
    assert_eq!(r.unwrap().leftover, b"early");

    let (r, reply) = http(&open, b"GET / HTTP/1.1\r\n\r\n", vec![usize::MAX]).await;
    assert!(matches!(r, Err(FrontError::Http(_))));
    assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");

    let mut huge = b"CONNECT example.com:443 HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10_000));
    let (r, reply) = http(&open, &huge, vec![1000]).await;
    assert!(matches!(r, Err(FrontError::Http(_))));
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");

    let locked = HttpFront::new(Some(UserPass::new("alice", "s3cret")));
    let (r, reply) = http(
        &locked,
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        vec![usize::MAX],
    )
    .await;
    assert!(matches!(r, Err(FrontError::AuthFailed)));
    assert!(
        reply.starts_with("HTTP/1.1 407 ") && reply.contains("Proxy-Authenticate: Basic"),
        "{reply}"
    );
    // alice:s3cret
    let ok =
        b"CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n";
    let (r, reply) = http(&locked, ok, vec![7]).await;
    assert!(r.is_ok() && reply.starts_with("HTTP/1.1 200 "), "{reply}");
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn socks5_any_split_gives_the_same_request(chunks in prop::collection::vec(1usize..40, 1..8)) {
        let wire = socks_wire(Some(("u", "p")), "host.example:8080", b"");
        let creds = UserPass::new("u", "p");
        let target = block_on(async move {
            let (mut server, _client) = feed(wire, chunks);
            socks5_request(&mut server, Some(&creds), DEADLINE).await.map(|r| r.target.to_string())
        });
        prop_assert_eq!(target.unwrap(), "host.example:8080");
    }

    #[test]
    fn garbage_ends_in_an_error_never_a_hang(bytes in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        let outcome = block_on(async move {
            let (mut client, mut server) = tokio::io::duplex(1 << 16);
            client.write_all(&bytes).await.unwrap();
            drop(client); // EOF after the garbage
            let s = socks5_request(&mut server, None, DEADLINE).await.is_ok();
            let (mut client, mut server) = tokio::io::duplex(1 << 16);
            for c in bytes.chunks(chunk) {
                client.write_all(c).await.unwrap();
            }
            drop(client);
            let h = HttpFront::new(None).read_request(&mut server, DEADLINE).await.is_ok();
            (s, h)
        });
        // Random bytes are (almost) never a complete valid request; either way it returns.
        let _ = outcome;
    }
}
