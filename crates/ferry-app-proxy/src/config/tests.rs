//! Unit tests of config parsing and validation.
use super::*;
use ferry_bridge::SplicePolicy;

const GOOD: &str = r#"
[server]
max_connections = 100
drain_timeout = "5s"

[defaults]
idle_timeout = "10m"

[[listener]]
name = "web"
bind = "127.0.0.1:0"
pool = "app"
max_lifetime = "1h"
splice = false

[pool.app]
upstreams = ["127.0.0.1:9000", "[::1]:9001", "backend.internal:80"]
connect_timeout = "2s"
"#;

#[test]
fn parses_a_full_file() {
    let c = ProxyConfig::from_toml(GOOD).unwrap();
    assert_eq!(c.max_connections.get(), 100);
    assert_eq!(c.drain_timeout, Duration::from_secs(5));
    let l = &c.listeners[0];
    assert_eq!(l.name, "web");
    assert_eq!(l.bridge.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(
        l.bridge.half_close_timeout,
        Some(DEFAULT_HALF_CLOSE_TIMEOUT)
    );
    assert_eq!(l.bridge.max_lifetime, Some(Duration::from_secs(3600)));
    assert!(matches!(l.bridge.splice, SplicePolicy::Off));
    let p = &c.pools["app"];
    assert_eq!(p.settings.connect_timeout, Duration::from_secs(2));
    assert_eq!(
        p.upstreams[2].target,
        ferry_pool::Target::Host {
            name: "backend.internal".into(),
            port: 80
        }
    );
    assert!(c.explain().contains("pool app: policy=round_robin"));
}

fn err(text: &str) -> String {
    ProxyConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_key() {
    assert!(
        err("bogus = 1").contains("unknown field `bogus`"),
        "{}",
        err("bogus = 1")
    );
    let base = "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n";
    assert!(err(base).contains("listener[0].pool"));
    let with_pool = format!("{base}[pool.p]\nupstreams = []\n");
    assert!(err(&with_pool).contains("pool.p.upstreams"));
    let bad_up = format!("{base}[pool.p]\nupstreams = [\"nope\"]\n");
    assert!(err(&bad_up).contains("pool.p.upstreams[0]"));
    let bad_dur = format!("{base}idle_timeout = \"5\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n");
    assert!(err(&bad_dur).contains("missing unit"), "{}", err(&bad_dur));
    let zero = format!("{base}idle_timeout = \"0s\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n");
    assert!(err(&zero).contains("listener[0].idle_timeout"));
    assert!(err("").contains("at least one [[listener]]"));
    let bad_bind = "[[listener]]\nbind = \"localhost\"\npool = \"p\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n";
    assert!(err(bad_bind).contains("listener[0].bind"));
    assert!(err("[server]\nmax_connections = 0\n").contains("server.max_connections"));
}

#[test]
fn flags_errors_name_the_flag() {
    let e = ProxyConfig::from_flags("nope", &["127.0.0.1:1".into()]).unwrap_err();
    assert!(e.to_string().contains("--listen"), "{e}");
    let e = ProxyConfig::from_flags("127.0.0.1:0", &[]).unwrap_err();
    assert!(e.to_string().contains("--upstream"), "{e}");
    let ok = ProxyConfig::from_flags("127.0.0.1:0", &["127.0.0.1:1".into()]).unwrap();
    assert!(matches!(ok.listeners[0].bridge.splice, SplicePolicy::Auto));
}

const TLS: &str = r#"
[[listener]]
name = "tls"
bind = "127.0.0.1:0"
pool = "web"
routes = { "api.example.com" = "api", "*.Example.com" = "web" }

[listener.tls]
cert = "/etc/ferry/default.pem"
key = "/etc/ferry/default.key"
alpn = ["h2", "http/1.1"]
min_version = "1.3"
session_cache = 500
ticket_key_file = "/etc/ferry/ticket.key"
ticket_rotation = "1h"
client_ca = "/etc/ferry/clients.pem"
client_auth = "optional"
handshake_timeout = "3s"
max_handshakes = 64
when_busy = "refuse"

[[listener.tls.sni]]
names = ["api.example.com", "*.api.example.com"]
cert = "/etc/ferry/api.pem"
key = "/etc/ferry/api.key"

[[listener.tls.sni]]
name = "combined.example.com"
cert = "/etc/ferry/combined.pem"

[pool.web]
upstreams = ["127.0.0.1:9000"]

[pool.api]
upstreams = ["api.internal:443"]

[pool.api.tls]
ca = "/etc/ferry/upstream-ca.pem"
server_name = "api.internal"
client_cert = "/etc/ferry/client.pem"
client_key = "/etc/ferry/client.key"
"#;

#[test]
fn parses_tls_routes_and_upstream_tls() {
    use ferry_tls::{BusyPolicy, Tickets, TlsVersion};
    let c = ProxyConfig::from_toml(TLS).unwrap();
    let l = &c.listeners[0];
    assert_eq!(l.pool.as_deref(), Some("web"));
    assert_eq!(l.routes.len(), 2);
    assert!(
        l.routes
            .iter()
            .any(|r| r.pattern == NamePattern::Suffix("example.com".into()) && r.pool == "web")
    );
    let t = l.tls.as_ref().unwrap();
    assert_eq!(
        t.cert,
        Some(CertFiles::Files {
            cert: "/etc/ferry/default.pem".into(),
            key: "/etc/ferry/default.key".into()
        })
    );
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    assert_eq!(t.min_version, TlsVersion::Tls13);
    assert_eq!(t.session_cache, 500);
    assert_eq!(
        t.tickets,
        Tickets::SharedKeyFile {
            path: "/etc/ferry/ticket.key".into(),
            rotation: Duration::from_secs(3600)
        }
    );
    assert_eq!(
        t.client_ca,
        ClientCa::Optional("/etc/ferry/clients.pem".into())
    );
    assert_eq!(t.handshake_timeout, Duration::from_secs(3));
    assert_eq!(t.max_handshakes.get(), 64);
    assert_eq!(t.when_busy, BusyPolicy::Refuse);
    assert_eq!(t.sni.len(), 2);
    assert_eq!(t.sni[1].names, ["combined.example.com"]);
    assert_eq!(t.sni[1].key, t.sni[1].cert, "key defaults to the cert file");
    let up = c.pools["api"].tls.as_ref().unwrap();
    assert_eq!(up.server_name.as_deref(), Some("api.internal"));
    assert!(!up.insecure_skip_verify);
    assert!(c.pools["web"].tls.is_none());
    let text = c.explain();
    for want in [
        "listener tls tls: cert=/etc/ferry/default.pem",
        "min_version=TLSv1.3",
        "tickets=shared key_file=/etc/ferry/ticket.key rotation=1h",
        "client_auth=optional",
        "when_busy=refuse",
        "api.example.com -> api",
        "*.example.com -> web",
        "otherwise -> web",
        "pool api tls: verify=on ca=/etc/ferry/upstream-ca.pem server_name=api.internal",
        "splice=false",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}

#[test]
fn tls_defaults() {
    use ferry_tls::{BusyPolicy, Tickets, TlsVersion};
    let c = ProxyConfig::from_toml(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\nself_signed = true\n\
         [pool.p]\nupstreams = [\"127.0.0.1:1\"]\n[pool.p.tls]\ninsecure_skip_verify = true\n",
    )
    .unwrap();
    let t = c.listeners[0].tls.as_ref().unwrap();
    assert!(t.is_self_signed());
    assert_eq!(t.min_version, TlsVersion::Tls12);
    assert_eq!(t.session_cache, 20_000);
    assert_eq!(t.tickets, Tickets::PerProcess);
    assert_eq!(t.client_ca, ClientCa::Off);
    assert_eq!(t.handshake_timeout, Duration::from_secs(10));
    assert_eq!(t.max_handshakes.get(), 1024);
    assert_eq!(t.when_busy, BusyPolicy::Wait);
    assert_eq!(t.key_exchange, ferry_tls::KeyExchange::PostQuantum);
    let up = c.pools["p"].tls.as_ref().unwrap();
    assert_eq!(up.key_exchange, ferry_tls::KeyExchange::PostQuantum);
    let text = c.explain();
    assert!(text.contains("self-signed"), "{text}");
    assert!(text.contains("verify=OFF"), "{text}");
    assert!(
        text.contains("key_exchange=[X25519MLKEM768, X25519, secp256r1, secp384r1]"),
        "{text}"
    );
}

#[test]
fn post_quantum_false_means_classical_groups_on_either_side() {
    let c = ProxyConfig::from_toml(
        "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n[listener.tls]\nself_signed = true\n\
         post_quantum = false\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n[pool.p.tls]\n\
         insecure_skip_verify = true\npost_quantum = false\n",
    )
    .unwrap();
    let t = c.listeners[0].tls.as_ref().unwrap();
    assert_eq!(t.key_exchange, ferry_tls::KeyExchange::Classical);
    let up = c.pools["p"].tls.as_ref().unwrap();
    assert_eq!(up.key_exchange, ferry_tls::KeyExchange::Classical);
    let text = c.explain();
    assert!(!text.contains("X25519MLKEM768"), "{text}");
    assert!(
        text.contains("key_exchange=[X25519, secp256r1, secp384r1]"),
        "{text}"
    );
}

#[test]
fn tls_errors_name_the_key() {
    let listener = "[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n";
    let pool = "[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n";
    let with_tls = |tls: &str| format!("{listener}[listener.tls]\n{tls}\n{pool}");
    let cases = [
        (with_tls("cert = \"c\"\nbogus = 1"), "bogus"),
        (with_tls(""), "listener[0].tls.cert"),
        (with_tls("key = \"k\""), "listener[0].tls.key"),
        (
            with_tls("cert = \"c\"\nself_signed = true"),
            "listener[0].tls.self_signed",
        ),
        (with_tls("cert = \"c\"\nmin_version = \"1.1\""), "1.1"),
        (
            with_tls("cert = \"c\"\ntickets = \"sometimes\""),
            "sometimes",
        ),
        (
            with_tls("cert = \"c\"\ntickets = \"shared\""),
            "listener[0].tls.ticket_key_file",
        ),
        (
            with_tls("cert = \"c\"\ntickets = \"off\"\nticket_key_file = \"k\""),
            "listener[0].tls.ticket_key_file",
        ),
        (
            with_tls("cert = \"c\"\nticket_rotation = \"1h\""),
            "listener[0].tls.ticket_rotation",
        ),
        (
            with_tls("cert = \"c\"\nclient_auth = \"required\""),
            "listener[0].tls.client_ca",
        ),
        (
            with_tls("cert = \"c\"\nmax_handshakes = 0"),
            "listener[0].tls.max_handshakes",
        ),
        (
            with_tls("cert = \"c\"\nhandshake_timeout = \"0s\""),
            "listener[0].tls.handshake_timeout",
        ),
        (
            with_tls("cert = \"c\"\nalpn = [\"\"]"),
            "listener[0].tls.alpn[0]",
        ),
        (
            with_tls("cert = \"c\"\n[[listener.tls.sni]]\ncert = \"x\""),
            "listener[0].tls.sni[0].names",
        ),
        (
            with_tls("cert = \"c\"\n[[listener.tls.sni]]\nname = \"a\"\ncert = \"x\"\nport = 1"),
            "port",
        ),
        (
            format!("{listener}routes = {{ \"a.example\" = \"p\" }}\n{pool}"),
            "listener[0].routes",
        ),
        (
            format!(
                "{listener}routes = {{ \"a.example\" = \"nope\" }}\n[listener.tls]\nself_signed = true\n{pool}"
            ),
            "listener[0].routes.\"a.example\"",
        ),
        (
            format!(
                "{listener}routes = {{ \"10.0.0.1\" = \"p\" }}\n[listener.tls]\nself_signed = true\n{pool}"
            ),
            "IP address",
        ),
        (
            format!(
                "{listener}routes = {{ \"A.example\" = \"p\", \"a.example.\" = \"p\" }}\n[listener.tls]\nself_signed = true\n{pool}"
            ),
            "routed twice",
        ),
        (
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n"
                .to_owned(),
            "listener[0].pool",
        ),
        (format!("{listener}{pool}[pool.p.tls]\n"), "pool.p.tls.ca"),
        (
            format!("{listener}{pool}[pool.p.tls]\nca = \"c\"\ninsecure_skip_verify = true\n"),
            "pool.p.tls.insecure_skip_verify",
        ),
        (
            format!("{listener}{pool}[pool.p.tls]\ninsecure = true\n"),
            "unknown field `insecure`",
        ),
        (
            format!("{listener}{pool}[pool.p.tls]\nca = \"c\"\nclient_key = \"k\"\n"),
            "pool.p.tls.client_key",
        ),
        (
            format!("{listener}{pool}[pool.p.tls]\nca = \"c\"\nserver_name = \"*.x\"\n"),
            "pool.p.tls.server_name",
        ),
        (
            format!("[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\nbogus_key = 1\n{pool}"),
            "bogus_key",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{want:?} not in {e:?} for:\n{text}");
    }
}

#[test]
fn routes_without_default_pool_are_allowed() {
    let c = ProxyConfig::from_toml(
        "[[listener]]\nbind = \"127.0.0.1:0\"\nroutes = { \"a.example\" = \"p\" }\n\
         [listener.tls]\nself_signed = true\n[pool.p]\nupstreams = [\"127.0.0.1:1\"]\n",
    )
    .unwrap();
    assert_eq!(c.listeners[0].pool, None);
    assert!(c.explain().contains("otherwise -> close the connection"));
}

#[test]
fn tls_flags_set_the_listener_and_error_key() {
    let c = ProxyConfig::from_flags_tls(
        "127.0.0.1:0",
        &["127.0.0.1:1".into()],
        Some(CertFiles::SelfSigned),
    )
    .unwrap();
    assert!(c.listeners[0].tls.as_ref().unwrap().is_self_signed());
    assert_eq!(c.listeners[0].tls_key, "--tls-self-signed");
    let c = ProxyConfig::from_flags_tls(
        "127.0.0.1:0",
        &["127.0.0.1:1".into()],
        Some(CertFiles::Files {
            cert: "c".into(),
            key: "k".into(),
        }),
    )
    .unwrap();
    assert_eq!(c.listeners[0].tls_key, "--tls-cert/--tls-key");
}

#[test]
fn server_workers_is_a_count_or_auto() {
    let with = |w: &str| {
        format!(
            "[server]\nworkers = {w}\n[[listener]]\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\
             [pool.p]\nupstreams = [\"127.0.0.1:1\"]\n"
        )
    };
    let c = ProxyConfig::from_toml(&with("3")).unwrap();
    assert_eq!(c.workers.map(NonZeroUsize::get), Some(3));
    let c = ProxyConfig::from_toml(&with("\"auto\"")).unwrap();
    assert_eq!(c.workers, Some(ferry_app_core::workers::default_count()));
    assert_eq!(ProxyConfig::from_toml(GOOD).unwrap().workers, None);
    for bad in ["0", "\"many\"", "-1"] {
        let e = err(&with(bad));
        assert!(e.contains("server.workers"), "{bad}: {e}");
    }
}
