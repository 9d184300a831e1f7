//! HTTP CONNECT: request vectors, early 405, limits, credentials, exact reply bytes.

use ferry_front::http_connect::{
    self, BasicCredentials, HttpError, HttpLimits, HttpVersion, HttpWriteError, Reply,
    write_connect_request, write_response,
};
use ferry_front::{Address, AddressError, Parsed, fuzzing};
use proptest::prelude::*;

use crate::strategies::{address, near};

fn parse(input: &[u8]) -> Result<Parsed<http_connect::ConnectRequest>, HttpError> {
    http_connect::parse_request(input, &HttpLimits::default())
}

#[test]
fn rfc9110_example_with_leftover_and_every_prefix() {
    // RFC 9110 section 9.3.6.
    let head = b"CONNECT server.example.com:80 HTTP/1.1\r\nHost: server.example.com\r\n\r\n";
    for k in 0..head.len() {
        assert_eq!(parse(&head[..k]), Ok(Parsed::Incomplete), "prefix {k}");
    }
    let mut wire = head.to_vec();
    wire.extend_from_slice(b"tunnel bytes");
    let (req, consumed) = parse(&wire).unwrap().complete().unwrap();
    assert_eq!(consumed, head.len());
    assert_eq!(&wire[consumed..], b"tunnel bytes");
    assert_eq!(req.target, Address::Domain("server.example.com".into(), 80));
    assert_eq!(req.version, HttpVersion::Http11);
    assert_eq!(req.header("HOST"), Some(&b"server.example.com"[..]));
    assert_eq!(req.proxy_authorization(&HttpLimits::default()), Ok(None));
}

#[test]
fn http10_and_ip_targets() {
    let (req, _) = parse(b"CONNECT 10.0.0.1:443 HTTP/1.0\r\n\r\n")
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(req.version, HttpVersion::Http10);
    assert_eq!(req.target, Address::Ip("10.0.0.1:443".parse().unwrap()));
    let (req, _) = parse(b"CONNECT [::1]:22 HTTP/1.1\r\n\r\n")
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(req.target.to_string(), "[::1]:22");
    assert!(matches!(
        parse(b"CONNECT a:1 HTTP/2.0\r\n\r\n"),
        Err(HttpError::Syntax { .. })
    ));
}

#[test]
fn other_methods_are_refused_with_the_method_known() {
    let err = parse(b"GET ").unwrap_err();
    assert_eq!(
        err,
        HttpError::MethodNotAllowed {
            method: "GET".into()
        }
    );
    assert_eq!(err.status(), 405);
    assert_eq!(parse(b"GET"), Ok(Parsed::Incomplete));
    let err = parse(b"connect example.com:443 HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(
        err,
        HttpError::MethodNotAllowed {
            method: "connect".into()
        }
    );
    assert_eq!(
        parse(b"POST / HTTP/1.1\r\n"),
        Err(HttpError::MethodNotAllowed {
            method: "POST".into()
        })
    );
    // A method that is not a token is a syntax error (400).
    assert_eq!(parse(b"G(T / HTTP/1.1\r\n").unwrap_err().status(), 400);
}

#[test]
fn bad_targets_are_400() {
    for (target, err) in [
        ("/index.html", AddressError::MissingPort),
        ("example.com", AddressError::MissingPort),
        ("example.com:0", AddressError::InvalidPort),
        ("example.com:99999", AddressError::InvalidPort),
        ("2001:db8::1:443", AddressError::InvalidIpv6),
        ("127.1:80", AddressError::NumericDomain),
    ] {
        let head = format!("CONNECT {target} HTTP/1.1\r\n\r\n");
        let got = parse(head.as_bytes()).unwrap_err();
        assert_eq!(got, HttpError::Target(err), "{target}");
        assert_eq!(got.status(), 400);
    }
    // `http://a:80` splits into host `http://a` (invalid characters).
    assert!(matches!(
        parse(b"CONNECT http://a:80 HTTP/1.1\r\n\r\n"),
        Err(HttpError::Target(_))
    ));
}

#[test]
fn head_limit_is_enforced_at_the_limit() {
    let limits = HttpLimits::default().with_max_head(64);
    let mut head = b"CONNECT a.com:1 HTTP/1.1\r\nX: ".to_vec();
    head.resize(63, b'x');
    assert_eq!(
        http_connect::parse_request(&head, &limits),
        Ok(Parsed::Incomplete)
    );
    head.push(b'x');
    assert_eq!(
        http_connect::parse_request(&head, &limits),
        Err(HttpError::HeadTooLarge { max: 64 })
    );
    // Default: 8 KiB.
    let mut big = b"CONNECT a.com:1 HTTP/1.1\r\nX: ".to_vec();
    big.resize(8192, b'x');
    assert_eq!(parse(&big), Err(HttpError::HeadTooLarge { max: 8192 }));
    assert_eq!(parse(&big[..8191]), Ok(Parsed::Incomplete));
    // A head of exactly the limit is accepted.
    let mut exact = b"CONNECT a.com:1 HTTP/1.1\r\nX: ".to_vec();
    exact.resize(60, b'x');
    exact.extend_from_slice(b"\r\n\r\n");
    assert!(
        http_connect::parse_request(&exact, &limits)
            .unwrap()
            .is_complete()
    );
}

#[test]
fn too_many_headers() {
    let mut head = b"CONNECT a.com:1 HTTP/1.1\r\n".to_vec();
    for i in 0..64 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut ok = head.clone();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(parse(&ok).unwrap().complete().unwrap().0.headers.len(), 64);
    head.extend_from_slice(b"X-64: v\r\n\r\n");
    assert_eq!(parse(&head), Err(HttpError::TooManyHeaders { max: 64 }));
}

#[test]
fn content_is_refused() {
    for field in [
        "Transfer-Encoding: chunked",
        "Content-Length: 5",
        "content-length: 00x",
    ] {
        let head = format!("CONNECT a.com:1 HTTP/1.1\r\n{field}\r\n\r\n");
        assert_eq!(
            parse(head.as_bytes()),
            Err(HttpError::RequestContent),
            "{field}"
        );
    }
    assert!(parse(b"CONNECT a.com:1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_ok());
}

#[test]
fn proxy_authorization() {
    let limits = HttpLimits::default();
    let req = |fields: &str| {
        let head = format!("CONNECT a.com:1 HTTP/1.1\r\n{fields}\r\n");
        parse(head.as_bytes()).unwrap().complete().unwrap().0
    };
    let creds = req("Proxy-Authorization: Basic YWdlbnQ6dG9rOmVu\r\n")
        .proxy_authorization(&limits)
        .unwrap()
        .unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.as_str()),
        ("agent", "tok:en")
    );
    let r = req("Proxy-Authorization: Bearer eyJ\r\n");
    assert_eq!(r.proxy_authorization(&limits), Err(HttpError::AuthScheme));
    assert_eq!(HttpError::AuthScheme.status(), 407);
    let r = req("Proxy-Authorization: Basic YQ==\r\nproxy-authorization: Basic YQ==\r\n");
    assert_eq!(
        r.proxy_authorization(&limits),
        Err(HttpError::AuthDuplicate)
    );
    let r = req("Proxy-Authorization: Basic %%%\r\n");
    assert_eq!(r.proxy_authorization(&limits), Err(HttpError::AuthBase64));
    let long = format!("Proxy-Authorization: Basic {}\r\n", "QUFB".repeat(300));
    assert_eq!(
        req(&long).proxy_authorization(&limits),
        Err(HttpError::AuthTooLong {
            len: 1200,
            max: 1024
        })
    );
}

#[test]
fn reply_bytes() {
    let cases: [(Reply<'_>, &str); 9] = [
        (
            Reply::Established,
            "HTTP/1.1 200 Connection established\r\n\r\n",
        ),
        (
            Reply::BadRequest,
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::Forbidden,
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::MethodNotAllowed,
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::ProxyAuthRequired {
                realm: "ferry \"gw\"",
            },
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"ferry \\\"gw\\\"\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::TooManyRequests {
                retry_after_secs: 30,
            },
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::BadGateway,
            "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::ServiceUnavailable,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        (
            Reply::GatewayTimeout,
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (reply, want) in cases {
        let mut out = Vec::new();
        reply.write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        // And a client parses it back, with nothing left over.
        let (resp, consumed) = http_connect::parse_response(&out, &HttpLimits::default())
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!((resp.status, consumed), (reply.status(), out.len()));
        assert_eq!(resp.reason, reply.reason());
    }
    assert_eq!(
        Reply::ProxyAuthRequired { realm: "a\r\nX: y" }.write(&mut Vec::new()),
        Err(HttpWriteError::Realm)
    );
}

#[test]
fn writers_refuse_injection() {
    let mut out = Vec::new();
    assert_eq!(
        write_response(&mut out, 99, "x", &[]),
        Err(HttpWriteError::Status(99))
    );
    assert_eq!(
        write_response(&mut out, 200, "OK\r\nX: y", &[]),
        Err(HttpWriteError::Reason)
    );
    assert_eq!(
        write_response(&mut out, 200, "OK", &[("X Y", "v")]),
        Err(HttpWriteError::HeaderName)
    );
    assert_eq!(
        write_response(&mut out, 200, "OK", &[("X", "v\r\n\r\nHTTP/1.1 200")]),
        Err(HttpWriteError::HeaderValue)
    );
    assert!(out.is_empty(), "nothing written on error");
    let target = Address::Domain("a b".into(), 80);
    assert_eq!(
        write_connect_request(&mut out, &target, None, &[]),
        Err(HttpWriteError::Target)
    );
    let zero = Address::Ip("1.2.3.4:0".parse().unwrap());
    assert_eq!(
        write_connect_request(&mut out, &zero, None, &[]),
        Err(HttpWriteError::Target)
    );
    assert_eq!(
        BasicCredentials::new("a:b", "c"),
        Err(HttpWriteError::Credentials)
    );
    assert!(out.is_empty());
    write_response(&mut out, 200, "OK", &[("Via", "1.1 ferry")]).unwrap();
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nVia: 1.1 ferry\r\n\r\n");
}

#[test]
fn connect_request_bytes() {
    let mut out = Vec::new();
    let creds = BasicCredentials::new("Aladdin", "open sesame").unwrap();
    let target: Address = "[2001:db8::1]:443".parse().unwrap();
    write_connect_request(&mut out, &target, Some(&creds), &[("User-Agent", "ferry")]).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\
         Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\nUser-Agent: ferry\r\n\r\n"
    );
}

#[test]
fn response_head_with_leftover() {
    let wire = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\nrest";
    let (resp, consumed) = http_connect::parse_response(wire, &HttpLimits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(resp.status, 407);
    assert_eq!(
        resp.header("proxy-authenticate"),
        Some(&b"Basic realm=\"x\""[..])
    );
    assert_eq!(&wire[consumed..], b"rest");
    assert!(http_connect::parse_response(b"SSH-2.0", &HttpLimits::default()).is_err());
    // Fuzz regression (crash-1254eea9): httparse accepts any three digits as a status.
    assert_eq!(
        http_connect::parse_response(b"HTTP/1.1 007 x\r\n\r\n", &HttpLimits::default()),
        Err(HttpError::Syntax {
            what: "invalid status code"
        })
    );
}

fn credentials() -> impl Strategy<Value = Option<BasicCredentials>> {
    prop::option::of(("[a-zA-Z0-9_.-]{0,20}", "[ -~]{0,30}"))
        .prop_map(|c| c.map(|(u, p)| BasicCredentials::new(&u, &p).unwrap()))
}

proptest! {
    #[test]
    fn request_roundtrip_every_prefix(target in address(), creds in credentials(),
                                      tail in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut wire = Vec::new();
        write_connect_request(&mut wire, &target, creds.as_ref(), &[]).unwrap();
        let n = wire.len();
        wire.extend_from_slice(&tail);
        let limits = HttpLimits::default();
        let full = fuzzing::check_prefixes(&wire, limits.max_head, |d| {
            http_connect::parse_request(d, &limits)
        });
        let (req, consumed) = full.unwrap().complete().unwrap();
        prop_assert_eq!(consumed, n);
        prop_assert_eq!(&req.target, &target);
        prop_assert_eq!(req.proxy_authorization(&limits).unwrap(), creds);
        fuzzing::http_connect_parse(&wire);
    }

    #[test]
    fn harness_on_near_valid_input(data in near(vec![
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
        b"CONNECT [::1]:22 HTTP/1.0\r\nProxy-Authorization: Basic YTpi\r\n\r\nxx".to_vec(),
        b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ])) {
        fuzzing::http_connect_parse(&data);
    }
}
