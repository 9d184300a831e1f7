//! SNI: routing to pools by server name, and certificate selection.

use ferry_tls::SelfSigned;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::common::{TempDir, cert_lines, connector, start_toml, tagged_echo, tls_connect};

/// One certificate valid for every name the tests ask for.
fn multi_name_cert() -> SelfSigned {
    SelfSigned::generate([
        "a.test",
        "www.b.test",
        "deep.x.b.test",
        "other.test",
        "127.0.0.1",
    ])
    .unwrap()
}

#[tokio::test]
async fn server_names_choose_the_pool() {
    let (a, b, d) = (
        tagged_echo(b'a').await,
        tagged_echo(b'b').await,
        tagged_echo(b'd').await,
    );
    let dir = TempDir::new("routes");
    let cert = multi_name_cert();
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"dflt\"\n\
         routes = {{ \"A.test\" = \"pa\", \"*.b.test\" = \"pb\" }}\n[listener.tls]\n{}\n\
         [pool.pa]\nupstreams = [\"{a}\"]\n[pool.pb]\nupstreams = [\"{b}\"]\n\
         [pool.dflt]\nupstreams = [\"{d}\"]\n",
        cert_lines(&dir, "multi", &cert)
    ))
    .await;
    let client = connector(&[&cert], 0);
    for (name, want) in [
        ("a.test", b'a'),
        ("www.b.test", b'b'),
        ("deep.x.b.test", b'b'),
        ("other.test", b'd'),
        // An IP address: the client sends no SNI, the default pool serves.
        ("127.0.0.1", b'd'),
    ] {
        let (_tls, info, tag) = tls_connect(&client, p.addr(), name).await;
        assert_eq!(tag, want, "{name} went to the wrong pool");
        assert_eq!(info.sni.is_some(), name != "127.0.0.1");
    }
    let r = p.stop().await;
    assert_eq!((r.tls_handshakes, r.unrouted), (5, 0));
}

#[tokio::test]
async fn no_route_and_no_default_closes_the_connection() {
    let a = tagged_echo(b'a').await;
    let dir = TempDir::new("no-default");
    let cert = multi_name_cert();
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\nroutes = {{ \"a.test\" = \"pa\" }}\n\
         [listener.tls]\n{}\n[pool.pa]\nupstreams = [\"{a}\"]\n",
        cert_lines(&dir, "multi", &cert)
    ))
    .await;
    let client = connector(&[&cert], 0);
    let (_tls, _, tag) = tls_connect(&client, p.addr(), "a.test").await;
    assert_eq!(tag, b'a');
    for name in ["other.test", "127.0.0.1"] {
        let tcp = TcpStream::connect(p.addr()).await.unwrap();
        let (mut tls, _) = client.connect(name, tcp).await.unwrap();
        let mut rest = Vec::new();
        // Closed without a byte from any upstream (an error or EOF, depending on timing).
        let _ = tls.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{name}: got {rest:?}");
    }
    drop(_tls);
    let r = p.stop().await;
    assert_eq!(r.unrouted, 2);
    assert_eq!(r.completed, 1);
}

#[tokio::test]
async fn sni_certificates_are_served_by_name() {
    let up = tagged_echo(b'c').await;
    let dir = TempDir::new("sni-certs");
    let (default, api) = (
        SelfSigned::generate(["localhost"]).unwrap(),
        SelfSigned::generate(["api.test"]).unwrap(),
    );
    let (api_cert, api_key) = dir.write_cert("api", &api);
    let p = start_toml(&format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\n{}\
         [[listener.tls.sni]]\nname = \"api.test\"\ncert = {}\nkey = {}\n\
         [pool.p]\nupstreams = [\"{up}\"]\n",
        cert_lines(&dir, "default", &default),
        crate::common::toml_path(&api_cert),
        crate::common::toml_path(&api_key),
    ))
    .await;
    let client = connector(&[&default, &api], 0);
    let (_a, info, _) = tls_connect(&client, p.addr(), "api.test").await;
    assert_eq!(info.peer_certificate.as_ref(), Some(api.cert_der()));
    let (_d, info, _) = tls_connect(&client, p.addr(), "localhost").await;
    assert_eq!(info.peer_certificate.as_ref(), Some(default.cert_der()));
    drop((_a, _d));
    p.stop().await;
}
