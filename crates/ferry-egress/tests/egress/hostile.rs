//! Proxies that misbehave, played by the test on loopback: garbage, oversized and trickled
//! replies, silence, early closes, refusals, bytes after the reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferry_egress::{ConnectConfig, EgressError, EgressProxy, connect_via};
use ferry_front::Address;
use ferry_front::socks5::Socks5Error;
use ferry_test_support::net::{dead_port, trickle};
use ferry_test_support::resolve::Scripted;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the fake proxy does with a connection.
#[derive(Clone)]
enum Script {
    /// Reads the request head (through its empty line), then writes these bytes at once.
    HttpReply(&'static [u8]),
    /// Reads the request head, writes these bytes and closes.
    HttpThenClose(&'static [u8]),
    /// Reads the request head, then writes these bytes one at a time.
    HttpTrickle(&'static [u8]),
    /// Reads each SOCKS5 client message in turn (`lens`: its length), answering each with
    /// the matching reply.
    Socks(Vec<(usize, &'static [u8])>),
    /// Accepts and never answers.
    Silent,
}

/// A fake proxy for one connection; the handle gives back what the client sent.
async fn fake(script: Script) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        match script {
            Script::HttpReply(reply) => {
                read_head(&mut s, &mut got).await;
                let _ = s.write_all(reply).await;
            }
            Script::HttpThenClose(reply) => {
                read_head(&mut s, &mut got).await;
                let _ = s.write_all(reply).await;
                return got;
            }
            Script::HttpTrickle(reply) => {
                read_head(&mut s, &mut got).await;
                let _ = trickle(&mut s, reply, Duration::from_millis(1)).await;
                return got;
            }
            Script::Socks(steps) => {
                for (len, reply) in steps {
                    let mut msg = vec![0u8; len];
                    if s.read_exact(&mut msg).await.is_err() {
                        return got;
                    }
                    got.extend_from_slice(&msg);
                    if s.write_all(reply).await.is_err() {
                        return got;
                    }
                }
            }
            Script::Silent => {}
        }
        // Hold the connection until the client is done with it.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        got
    });
    (addr, task)
}

async fn read_head(s: &mut TcpStream, got: &mut Vec<u8>) {
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if s.read_exact(&mut b).await.is_err() {
            return;
        }
        got.push(b[0]);
    }
}

fn target() -> Address {
    "gw.example:443".parse().unwrap()
}

fn http(addr: SocketAddr) -> EgressProxy {
    EgressProxy::parse(&format!("http://{addr}")).unwrap()
}

fn socks(addr: SocketAddr) -> EgressProxy {
    EgressProxy::parse(&format!("socks5h://{addr}")).unwrap()
}

async fn via(proxy: &EgressProxy) -> Result<ferry_egress::ProxiedStream, EgressError> {
    connect_via(proxy, &target(), &ConnectConfig::default()).await
}

#[tokio::test]
async fn the_connect_request_is_what_ferry_front_writes_with_basic_credentials() {
    let (addr, sent) = fake(Script::HttpReply(b"HTTP/1.1 200 OK\r\n\r\n")).await;
    let proxy = EgressProxy::parse(&format!("http://agent:s3cret@{addr}")).unwrap();
    let stream = via(&proxy).await.unwrap();
    drop(stream);
    assert_eq!(
        sent.await.unwrap(),
        b"CONNECT gw.example:443 HTTP/1.1\r\nHost: gw.example:443\r\n\
          Proxy-Authorization: Basic YWdlbnQ6czNjcmV0\r\n\r\n"
    );
}

#[tokio::test]
async fn bytes_after_the_http_reply_are_read_first() {
    let (addr, _) = fake(Script::HttpReply(
        b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n\x16\x03\x01early",
    ))
    .await;
    let mut stream = via(&http(addr)).await.unwrap();
    assert_eq!(stream.prefix(), b"\x16\x03\x01early");
    let mut early = [0u8; 8];
    stream.read_exact(&mut early).await.unwrap();
    assert_eq!(&early, b"\x16\x03\x01early");
}

#[tokio::test]
async fn bytes_after_the_socks5_reply_are_read_first() {
    let (addr, _) = fake(Script::Socks(vec![
        (3, b"\x05\x00"),
        (
            4 + 1 + 10 + 2,
            b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38banner",
        ),
    ]))
    .await;
    let mut stream = via(&socks(addr)).await.unwrap();
    let mut early = [0u8; 6];
    stream.read_exact(&mut early).await.unwrap();
    assert_eq!(&early, b"banner");
}

#[tokio::test]
async fn a_reply_trickled_one_byte_at_a_time_within_the_deadline_opens_the_tunnel() {
    let (addr, _) = fake(Script::HttpTrickle(
        b"HTTP/1.1 200 Connection established\r\nX-Slow: yes\r\n\r\n",
    ))
    .await;
    let stream = via(&http(addr)).await.unwrap();
    assert!(stream.prefix().is_empty());
}

#[tokio::test]
async fn garbage_instead_of_an_http_reply_is_not_http() {
    let (addr, _) = fake(Script::HttpReply(b"\x00\x01garbage\r\n\r\n")).await;
    let err = via(&http(addr)).await.unwrap_err();
    assert!(matches!(err, EgressError::NotHttp { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the egress proxy http://{addr} did not answer CONNECT with an HTTP response")
    );
}

#[tokio::test]
async fn an_oversized_reply_head_stops_at_the_limit() {
    static HUGE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..100 {
            v.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        v.extend_from_slice(b"\r\n");
        v
    });
    let (addr, _) = fake(Script::HttpReply(HUGE.as_slice())).await;
    let cfg = ConnectConfig::default().with_max_head(1024);
    let err = connect_via(&http(addr), &target(), &cfg).await.unwrap_err();
    assert!(
        matches!(err, EgressError::HeadTooLarge { max: 1024, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_proxy_that_never_answers_hits_the_handshake_deadline() {
    let (addr, _) = fake(Script::Silent).await;
    let cfg = ConnectConfig::default().with_handshake_timeout(Duration::from_millis(200));
    let err = connect_via(&http(addr), &target(), &cfg).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the egress proxy http://{addr} did not open a tunnel to gw.example:443 within 200ms"
        )
    );
    let (addr, _) = fake(Script::Silent).await;
    let err = connect_via(&socks(addr), &target(), &cfg)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EgressError::HandshakeTimeout { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_proxy_name_that_never_resolves_hits_the_connect_deadline() {
    let resolver = Arc::new(Scripted::never_answering());
    let cfg = ConnectConfig::default()
        .with_resolver(resolver.clone())
        .with_connect_timeout(Duration::from_millis(200));
    let proxy = EgressProxy::parse("http://proxy.test:3128").unwrap();
    let err = connect_via(&proxy, &target(), &cfg).await.unwrap_err();
    assert!(matches!(err, EgressError::ConnectTimeout { .. }), "{err:?}");
    assert_eq!(resolver.names(), ["proxy.test"]);
}

#[tokio::test]
async fn an_unreachable_proxy_names_the_address_tried() {
    let dead = dead_port().await;
    let resolver = Arc::new(Scripted::new([&["127.0.0.1"]]));
    let cfg = ConnectConfig::default().with_resolver(resolver);
    let proxy = EgressProxy::parse(&format!("http://proxy.test:{}", dead.port())).unwrap();
    let err = connect_via(&proxy, &target(), &cfg).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "could not connect to the egress proxy http://proxy.test:{} at {dead}",
            dead.port()
        )
    );
    let unknown = Arc::new(Scripted::new([&[]]));
    let cfg = ConnectConfig::default().with_resolver(unknown);
    let err = connect_via(&proxy, &target(), &cfg).await.unwrap_err();
    assert!(matches!(err, EgressError::ResolveProxy { .. }), "{err:?}");
}

#[tokio::test]
async fn a_proxy_closing_inside_its_reply_is_reported_with_the_bytes_seen() {
    let (addr, _) = fake(Script::HttpThenClose(b"HTTP/1.1 200 Conn")).await;
    let err = via(&http(addr)).await.unwrap_err();
    assert!(
        matches!(err, EgressError::Closed { read: 17, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the egress proxy http://{addr} closed the connection during the handshake, after \
             17 bytes of its reply"
        )
    );
}

#[tokio::test]
async fn a_407_offering_another_scheme_says_only_basic_is_supported() {
    let (addr, _) = fake(Script::HttpReply(
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\n\
          Content-Length: 0\r\n\r\n",
    ))
    .await;
    let err = via(&http(addr)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the egress proxy http://{addr} requires authentication (407, offers Negotiate, only \
             Basic is supported) and no credentials are configured: put user:password@ in the \
             proxy URL"
        )
    );
}

#[tokio::test]
async fn a_refusal_reason_that_is_not_plain_text_is_left_out() {
    let (addr, _) = fake(Script::HttpReply(
        // U+202E (right-to-left override) in UTF-8: obs-text to HTTP, trouble in a log.
        b"HTTP/1.1 502 Bad Gateway \xe2\x80\xae\r\nContent-Length: 0\r\n\r\n",
    ))
    .await;
    let err = via(&http(addr)).await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(
        err.to_string(),
        format!("the egress proxy http://{addr} refused CONNECT to gw.example:443 with 502")
    );
}

#[tokio::test]
async fn an_http_proxy_named_socks5_is_not_a_socks5_server() {
    let (addr, _) = fake(Script::Socks(vec![(
        2,
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
    )]))
    .await;
    let err = via(&socks(addr)).await.unwrap_err();
    let EgressError::NotSocks5 { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*source, Socks5Error::ServerVersion(b'H'));
}

#[tokio::test]
async fn a_socks5_method_that_was_not_offered_is_refused() {
    let (addr, _) = fake(Script::Socks(vec![(3, b"\x05\x02")])).await;
    let err = via(&socks(addr)).await.unwrap_err();
    assert!(
        matches!(err, EgressError::UnexpectedMethod { method: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn socks5_auth_failure_and_method_refusal_are_typed() {
    let (addr, sent) = fake(Script::Socks(vec![
        (4, b"\x05\x02"),
        (3 + 5 + 2, b"\x01\x01"),
    ]))
    .await;
    let proxy = EgressProxy::parse(&format!("socks5h://alice:pw@{addr}")).unwrap();
    let err = via(&proxy).await.unwrap_err();
    assert!(
        matches!(err, EgressError::Socks5AuthRejected { .. }),
        "{err:?}"
    );
    // Both methods offered, then RFC 1929 `01 05 alice 02 pw`.
    assert_eq!(sent.await.unwrap(), b"\x05\x02\x00\x02\x01\x05alice\x02pw");

    let (addr, _) = fake(Script::Socks(vec![(4, b"\x05\xff")])).await;
    let proxy = EgressProxy::parse(&format!("socks5h://alice:pw@{addr}")).unwrap();
    let err = via(&proxy).await.unwrap_err();
    assert!(
        matches!(err, EgressError::NoAcceptableMethod { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_socks5_exchange_trickled_one_byte_at_a_time_opens_the_tunnel() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut greeting = [0u8; 3];
        s.read_exact(&mut greeting).await.unwrap();
        for b in b"\x05\x00" {
            s.write_all(&[*b]).await.unwrap();
        }
        let mut request = [0u8; 4 + 1 + 10 + 2];
        s.read_exact(&mut request).await.unwrap();
        // The reply, then tunnel bytes, one at a time.
        let _ = trickle(
            &mut s,
            b"\x05\x00\x00\x03\x09localhost\x01\xbbafter",
            Duration::from_millis(1),
        )
        .await;
    });
    let mut stream = via(&socks(addr)).await.unwrap();
    let mut after = [0u8; 5];
    stream.read_exact(&mut after).await.unwrap();
    assert_eq!(&after, b"after");
}
