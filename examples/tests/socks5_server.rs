//! Runs the `socks5-server` example's own code (`serve`, what its `main` calls) on loopback:
//! a raw client checks the bytes of every reply and of the relayed data, and real curl fetches
//! a page through it with a username and password.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_front::Address;
use ferry_front::socks5::Command as Socks5Command;
use ferry_front::socks5::{METHOD_NO_AUTH, METHOD_USERNAME_PASSWORD, ReplyCode, client};
use ferry_test_support::net::{dead_port, echo, http_ok};
use ferry_test_support::payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[allow(dead_code)] // its `main` is not called here
#[path = "../socks5-server.rs"]
mod socks5_server;

use socks5_server::UserPass;

async fn server(auth: Option<UserPass>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(socks5_server::serve(l, auth.map(Arc::new)));
    addr
}

fn alice() -> UserPass {
    UserPass {
        username: "alice".into(),
        password: "s3cret".into(),
    }
}

/// Sends `first` in one write, half-closes, and returns everything the server sent.
async fn exchange(server: SocketAddr, first: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server).await.unwrap();
    s.write_all(first).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    back
}

fn connect_request(target: SocketAddr) -> Vec<u8> {
    let mut out = Vec::new();
    client::request(Socks5Command::Connect, &Address::Ip(target), &mut out).unwrap();
    out
}

/// Splits a reply off `bytes`: its code and the rest.
fn reply(bytes: &[u8]) -> (ReplyCode, &[u8]) {
    let (r, n) = client::parse_reply(bytes).unwrap().complete().unwrap();
    (r.code, &bytes[n..])
}

#[tokio::test]
async fn connect_without_auth_relays_early_data_and_the_rest_exactly() {
    let socks = server(None).await;
    let data = payload(100_000, 9);
    // Greeting, request and data in one write: the server must answer both messages and keep
    // the bytes after the request for the target.
    let mut first = Vec::new();
    client::greeting(&[METHOD_NO_AUTH], &mut first).unwrap();
    first.extend(connect_request(echo().await));
    first.extend_from_slice(&data);
    let back = exchange(socks, &first).await;
    assert_eq!(&back[..2], [0x05, 0x00], "method selection: no auth");
    let (code, rest) = reply(&back[2..]);
    assert_eq!(code, ReplyCode::SUCCEEDED);
    assert_eq!(rest, &data[..], "the echoed bytes differ");
}

#[tokio::test]
async fn wrong_password_is_refused_and_a_client_without_auth_gets_no_method() {
    let socks = server(Some(alice())).await;
    let mut first = Vec::new();
    client::greeting(&[METHOD_USERNAME_PASSWORD], &mut first).unwrap();
    client::auth("alice", "guess", &mut first).unwrap();
    first.extend(connect_request(echo().await));
    let back = exchange(socks, &first).await;
    assert_eq!(
        back,
        [0x05, 0x02, 0x01, 0x01],
        "auth status 1 (failure), then close"
    );

    let mut first = Vec::new();
    client::greeting(&[METHOD_NO_AUTH], &mut first).unwrap();
    let back = exchange(socks, &first).await;
    assert_eq!(back, [0x05, 0xFF], "no acceptable method");
}

#[tokio::test]
async fn a_refused_target_is_answered_connection_refused() {
    let socks = server(None).await;
    let mut first = Vec::new();
    client::greeting(&[METHOD_NO_AUTH], &mut first).unwrap();
    first.extend(connect_request(dead_port().await));
    let back = exchange(socks, &first).await;
    assert_eq!(&back[..2], [0x05, 0x00]);
    let (code, rest) = reply(&back[2..]);
    assert_eq!(code, ReplyCode::CONNECTION_REFUSED);
    assert!(rest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_a_page_by_name_with_username_and_password() {
    let socks = server(Some(alice())).await;
    let web = http_ok("hello through socks5").await;
    // --socks5-hostname: curl sends the name (`localhost`), the example resolves and dials it.
    let url = format!("http://localhost:{}/", web.port());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--socks5-hostname"])
            .arg(socks.to_string())
            .args(["--proxy-user", "alice:s3cret", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello through socks5");
}
