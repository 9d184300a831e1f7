//! Through real third-party proxies: tinyproxy (HTTP CONNECT), danted and microsocks (SOCKS5).

use std::sync::Arc;

use ferry_egress::{ConnectConfig, EgressError, EgressPolicy, EgressProxy, Source, connect_via};
use ferry_front::Address;
use ferry_front::socks5::ReplyCode;
use ferry_test_support::net::{banner_echo, dead_port, echo, round_trip};
use ferry_test_support::payload;
use ferry_test_support::resolve::Scripted;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use ferry_test_support::daemons::{danted, microsocks, tinyproxy};

fn proxy(url: &str) -> EgressProxy {
    EgressProxy::parse(url).unwrap()
}

/// A payload through the tunnel comes back byte for byte (written and read concurrently, the
/// connection left open: these proxies close both ways at the first half-close).
async fn relays(proxy: &EgressProxy, target: &Address) {
    let stream = connect_via(proxy, target, &ConnectConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{}", ferry_error_chain(&e)));
    let data = payload(300_000, 19);
    let (mut r, mut w) = tokio::io::split(stream);
    let mut back = vec![0u8; data.len()];
    let (wrote, read) = tokio::join!(w.write_all(&data), r.read_exact(&mut back));
    wrote.unwrap();
    read.unwrap();
    assert!(back == data, "the payload came back changed");
}

fn ferry_error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn http_connect_through_tinyproxy_without_credentials() {
    let tp = tinyproxy(None, None);
    let target = Address::Ip(echo().await);
    relays(&proxy(&format!("http://{}", tp.addr)), &target).await;
    // A name is sent as a name: tinyproxy resolves it.
    let port = target.port();
    relays(
        &proxy(&format!("http://{}", tp.addr)),
        &Address::Domain("localhost".into(), port),
    )
    .await;
}

#[tokio::test]
async fn http_connect_through_tinyproxy_with_basic_credentials() {
    // tinyproxy's BasicAuth takes letters, digits and "-._" only.
    let tp = tinyproxy(Some(("agent-7", "s3cr.t_pw")), None);
    let target = Address::Ip(echo().await);
    // Percent-encoded in the URL, decoded before sending.
    relays(
        &proxy(&format!("http://agent-7:s3cr%2Et%5Fpw@{}", tp.addr)),
        &target,
    )
    .await;
}

#[tokio::test]
async fn tinyproxy_asking_for_credentials_that_are_missing_says_to_add_them() {
    let tp = tinyproxy(Some(("agent-7", "right")), None);
    let target = Address::Ip(echo().await);
    let err = connect_via(
        &proxy(&format!("http://{}", tp.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EgressError::AuthRequired { .. }), "{err:?}");
    assert_eq!(err.status(), Some(407));
    assert_eq!(
        err.to_string(),
        format!(
            "the egress proxy http://{} requires authentication (407, offers Basic) and no \
             credentials are configured: put user:password@ in the proxy URL",
            tp.addr
        )
    );
}

#[tokio::test]
async fn tinyproxy_refusing_the_password_names_the_user_and_never_the_password() {
    let tp = tinyproxy(Some(("agent-7", "right")), None);
    let target = Address::Ip(echo().await);
    let err = connect_via(
        &proxy(&format!("http://agent-7:wrong-one@{}", tp.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    // tinyproxy answers wrong credentials with 401, not 407.
    assert!(
        matches!(err, EgressError::AuthRejected { status: 401, .. }),
        "{err:?}"
    );
    assert!(
        text.contains("rejected the credentials of user \"agent-7\" (401"),
        "{text}"
    );
    assert!(!text.contains("wrong-one") && !format!("{err:?}").contains("wrong-one"));
}

#[tokio::test]
async fn tinyproxy_refusing_a_port_gives_its_status_and_reason() {
    // tinyproxy allows CONNECT to port 1 only.
    let tp = tinyproxy(None, Some(1));
    let target = Address::Ip(echo().await);
    let err = connect_via(
        &proxy(&format!("http://{}", tp.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    let EgressError::Refused { status, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 403);
    assert!(
        err.to_string().starts_with(&format!(
            "the egress proxy http://{} refused CONNECT to {target} with 403 ",
            tp.addr
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_destination_that_speaks_first_loses_no_byte_through_tinyproxy() {
    let tp = tinyproxy(None, None);
    let target = Address::Ip(banner_echo(b"220 ready\r\n").await);
    let mut stream = connect_via(
        &proxy(&format!("http://{}", tp.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap();
    let mut banner = [0u8; 11];
    stream.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"220 ready\r\n");
    stream.write_all(b"after").await.unwrap();
    let mut back = [0u8; 5];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"after");
}

#[tokio::test]
async fn socks5_through_dante_with_an_address_and_socks5h_with_a_name() {
    let d = danted(None);
    let target = echo().await;
    relays(
        &proxy(&format!("socks5://{}", d.addr)),
        &Address::Ip(target),
    )
    .await;
    relays(
        &proxy(&format!("socks5h://{}", d.addr)),
        &Address::Domain("localhost".into(), target.port()),
    )
    .await;
}

#[tokio::test]
async fn socks5_resolves_the_name_here_and_socks5h_leaves_it_to_the_proxy() {
    let d = danted(None);
    let target = echo().await;
    let name = Address::Domain("gateway.test".into(), target.port());
    // socks5://: the name is resolved here (it exists only in this resolver), and the proxy
    // gets the address.
    let here = Arc::new(Scripted::new([&["127.0.0.1"]]));
    let cfg = ConnectConfig::default().with_resolver(here.clone());
    let stream = connect_via(&proxy(&format!("socks5://{}", d.addr)), &name, &cfg)
        .await
        .unwrap();
    assert_eq!(round_trip(stream, b"x").await, b"x");
    assert_eq!(here.names(), ["gateway.test"]);
    // socks5h://: the name goes to the proxy, which cannot resolve it; nothing asked here.
    let unused = Arc::new(Scripted::new([&["127.0.0.1"]]));
    let cfg = ConnectConfig::default().with_resolver(unused.clone());
    let err = connect_via(&proxy(&format!("socks5h://{}", d.addr)), &name, &cfg)
        .await
        .unwrap_err();
    assert!(matches!(err, EgressError::Socks5Refused { .. }), "{err:?}");
    assert_eq!(unused.calls(), 0);
}

#[tokio::test]
async fn dante_refusing_by_rule_says_the_proxy_rules_do_not_allow_it() {
    let target = echo().await;
    let d = danted(Some(target));
    let err = connect_via(
        &proxy(&format!("socks5://{}", d.addr)),
        &Address::Ip(target),
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    let EgressError::Socks5Refused { code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, ReplyCode::NOT_ALLOWED);
    assert_eq!(
        err.to_string(),
        format!(
            "the egress proxy socks5://{} could not open a tunnel to {target}: the proxy's rules \
             do not allow it (SOCKS5 reply 0x02)",
            d.addr
        )
    );
}

#[tokio::test]
async fn dante_reaching_a_closed_port_reports_the_destination_side() {
    let d = danted(None);
    let dead = dead_port().await;
    let err = connect_via(
        &proxy(&format!("socks5://{}", d.addr)),
        &Address::Ip(dead),
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    let EgressError::Socks5Refused { code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, ReplyCode::CONNECTION_REFUSED, "{err}");
    assert!(
        err.to_string()
            .contains("connection refused by the destination")
    );
}

#[tokio::test]
async fn socks5_username_and_password_through_microsocks() {
    let m = microsocks(Some(("agent-7", "p@ss")));
    let target = Address::Ip(echo().await);
    relays(
        &proxy(&format!("socks5://agent-7:p%40ss@{}", m.addr)),
        &target,
    )
    .await;
}

#[tokio::test]
async fn microsocks_refusing_the_password_names_the_user() {
    let m = microsocks(Some(("agent-7", "right")));
    let target = Address::Ip(echo().await);
    let err = connect_via(
        &proxy(&format!("socks5://agent-7:wrong-one@{}", m.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, EgressError::Socks5AuthRejected { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("rejected the user name \"agent-7\""),
        "{text}"
    );
    assert!(!text.contains("wrong-one"));
}

#[tokio::test]
async fn microsocks_needing_credentials_refuses_the_method_and_the_error_says_so() {
    let m = microsocks(Some(("agent-7", "right")));
    let target = Address::Ip(echo().await);
    let err = connect_via(
        &proxy(&format!("socks5://{}", m.addr)),
        &target,
        &ConnectConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, EgressError::NoAcceptableMethod { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("needs user:password@ in the proxy URL"),
        "{err}"
    );
}

#[tokio::test]
async fn https_proxy_and_no_proxy_from_the_environment_route_through_tinyproxy_or_directly() {
    let tp = tinyproxy(None, None);
    let proxied = Address::Domain("localhost".into(), echo().await.port());
    let direct = Address::Ip(echo().await);
    let url = format!("http://{}", tp.addr);
    let no_proxy = format!("internal.example,{}", direct.socket_addr().unwrap().ip());
    let env = |name: &str| match name {
        "HTTPS_PROXY" => Some(url.clone()),
        "NO_PROXY" => Some(no_proxy.clone()),
        _ => None,
    };
    let policy = EgressPolicy::from_env(env).unwrap();
    assert_eq!(policy.proxy_source(), Source::Env("HTTPS_PROXY"));
    // 127.0.0.1 is listed: no proxy for it. localhost is not (names are not resolved).
    assert!(policy.proxy_for(&direct).is_none());
    let proxy = policy
        .proxy_for(&proxied)
        .expect("localhost goes through the proxy");
    relays(proxy, &proxied).await;
}
