//! Config files: defaults, validation, and errors that name their key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_app_core::ConfigError;

use super::*;

fn key_file() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "ferry-hop-config-{}-{}.keys",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(
        &path,
        format!("1 {}\n2 {}\n", "01".repeat(32), "02".repeat(32)),
    )
    .unwrap();
    path
}

fn invalid_key(e: ConfigError) -> String {
    match e {
        ConfigError::Invalid { key, .. } => key,
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

#[test]
fn serve_defaults_and_every_key() {
    let keys = key_file();
    let c = ServeConfig::from_toml(&format!(
        "listen = \"127.0.0.1:7000\"\n[keys]\nfile = {:?}\n",
        keys.display().to_string()
    ))
    .unwrap();
    assert_eq!(c.handshake_timeout, Duration::from_secs(10));
    assert_eq!(c.connect_timeout, Duration::from_secs(5));
    assert!(c.allow.is_empty(), "no allowlist denies everything");
    assert!(!c.udp);

    let c = ServeConfig::from_toml(&format!(
        "listen = \"[::1]:7000\"\nudp = true\nallow = [\"*.example.com:443\"]\n\
         handshake_timeout = \"2s\"\nconnect_timeout = \"1s\"\nidle_timeout = \"off\"\n\
         drain_timeout = \"0s\"\nmax_connections = 5\nmax_handshakes = 4\n\
         per_client_handshakes = 3\nper_client_connections = 2\nper_client_rate = 0\n\
         replay_window = \"30s\"\nreplay_capacity = 100\nudp_max_flows = 7\nudp_idle_timeout = \"9s\"\n\
         trusted_senders = [\"10.1.0.0/16\", \"192.0.2.7\", \"2001:db8::/32\"]\n\
         [keys]\nfile = {:?}\n",
        keys.display().to_string()
    ))
    .unwrap();
    assert!(c.udp);
    assert_eq!(c.allow.len(), 1);
    assert_eq!(c.idle_timeout, None);
    assert_eq!(c.per_client_rate, None);
    assert_eq!(c.max_handshakes.get(), 4);
    assert_eq!(c.replay.window, Duration::from_secs(30));
    assert_eq!(c.udp_idle_timeout, Duration::from_secs(9));
    assert_eq!(c.trusted_senders.len(), 3);
    assert!(c.trusts("10.1.2.3".parse().unwrap()));
    assert!(
        c.trusts("::ffff:192.0.2.7".parse().unwrap()),
        "IPv4-mapped taken as IPv4"
    );
    assert!(c.trusts("2001:db8::1".parse().unwrap()));
    assert!(!c.trusts("10.2.0.1".parse().unwrap()));
    let _ = std::fs::remove_file(keys);
}

#[test]
fn serve_errors_name_the_key() {
    let keys = key_file();
    let k = keys.display().to_string();
    let cases = [
        ("listen = \"nope\"", "listen"),
        (
            "listen = \"127.0.0.1:1\"\nhandshake_timeout = \"0s\"",
            "handshake_timeout",
        ),
        (
            "listen = \"127.0.0.1:1\"\nmax_connections = 0",
            "max_connections",
        ),
        (
            "listen = \"127.0.0.1:1\"\nallow = [\"ok.example\", \"bad pattern\"]",
            "allow[1]",
        ),
        (
            "listen = \"127.0.0.1:1\"\nper_client_handshakes = 0",
            "per_client_handshakes",
        ),
        (
            "listen = \"127.0.0.1:1\"\n[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"",
            "tls",
        ),
        (
            "listen = \"127.0.0.1:1\"\ntrusted_senders = [\"10.0.0.0/8\", \"10.0.0.1/8\"]",
            "trusted_senders[1]",
        ),
        (
            "listen = \"127.0.0.1:1\"\ntrusted_senders = [\"somewhere\"]",
            "trusted_senders[0]",
        ),
        (
            "listen = \"127.0.0.1:1\"\n[next_hop_tls]\nca = []",
            "next_hop_tls.ca",
        ),
        (
            "listen = \"127.0.0.1:1\"\n[next_hop_tls]\nca = [\"/nonexistent/ca.pem\"]",
            "next_hop_tls.ca",
        ),
    ];
    for (text, key) in cases {
        let e = ServeConfig::from_toml(&format!("{text}\n[keys]\nfile = {k:?}\n")).unwrap_err();
        assert_eq!(invalid_key(e), key, "{text}");
    }
    // Unknown keys are refused by name.
    let e = ServeConfig::from_toml(&format!(
        "listen = \"127.0.0.1:1\"\nlisten_udp = 1\n[keys]\nfile = {k:?}\n"
    ))
    .unwrap_err();
    assert!(e.to_string().contains("listen_udp"), "{e}");
    // Keys: exactly one source, readable, non-empty, never echoed.
    let e = ServeConfig::from_toml("listen = \"127.0.0.1:1\"\n[keys]\n").unwrap_err();
    assert_eq!(invalid_key(e), "keys");
    let e = ServeConfig::from_toml("listen = \"127.0.0.1:1\"\n[keys]\nfile = \"/nonexistent/k\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/k"), "{e}");
    let secret = "ab".repeat(31);
    let bad = std::env::temp_dir().join(format!("ferry-hop-bad-{}.keys", std::process::id()));
    std::fs::write(&bad, format!("1 {secret}\n")).unwrap();
    let e = KeySource::File(bad.clone()).load("keys").unwrap_err();
    assert!(!e.to_string().contains(&secret), "the key leaked: {e}");
    let _ = std::fs::remove_file(bad);
    let _ = std::fs::remove_file(keys);
}

fn access(body: &str) -> Result<AccessConfig, ConfigError> {
    let keys = key_file();
    let r = AccessConfig::from_toml(&format!(
        "{body}\n[keys]\nfile = {:?}\n",
        keys.display().to_string()
    ));
    let _ = std::fs::remove_file(keys);
    r
}

const CHAINS: &str = "[[chain]]\nname = \"a\"\nweight = 3\nhops = [{ address = \"127.0.0.1:7001\", key_id = 1 }]\n\
                      [[chain]]\nname = \"b\"\nhops = [{ address = \"hop.example:7002\", key_id = 2 }]\n";

#[test]
fn access_config_with_routes_and_listeners() {
    let c = access(&format!(
        "{CHAINS}[[route]]\ndestinations = [\"*.corp\"]\nvia = \"direct\"\n\
         [[route]]\ndestinations = [\"10.0.0.0/8\"]\nvia = [\"b\", \"a\"]\n\
         [[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:1080\"\nusername = \"u\"\npassword = \"p\"\n\
         [[listener]]\nname = \"db\"\nmode = \"tcp\"\nbind = \"127.0.0.1:5432\"\ndestination = \"db.internal:5432\"\n"
    ))
    .unwrap();
    assert_eq!(c.chains.len(), 2);
    assert_eq!(c.chains[0].weight.get(), 3);
    assert_eq!(c.default_route, RouteAction::Chains(vec![0, 1]));
    assert_eq!(c.routes[0].action, RouteAction::Direct);
    assert_eq!(c.routes[1].action, RouteAction::Chains(vec![1, 0]));
    assert_eq!(c.listeners[0].name, "listener[0]");
    assert!(c.listeners[0].auth.as_ref().unwrap().matches("u", "p"));
    assert!(!c.listeners[0].auth.as_ref().unwrap().matches("u", "q"));
    assert!(
        !format!("{:?}", c.listeners[0].auth).contains("\"p\""),
        "password in Debug"
    );
    assert!(matches!(c.listeners[1].mode, AccessMode::Tcp { .. }));
}

#[test]
fn access_errors_name_the_key() {
    let cases = [
        (format!("{CHAINS}[[route]]\ndestinations = [\"x.test\"]\nvia = \"c\""), "route[0].via"),
        (format!("{CHAINS}[[route]]\ndestinations = [\"x.test\", \"*bad\"]\nvia = \"a\""), "route[0].destinations[1]"),
        (format!("{CHAINS}[[route]]\ndestinations = []\nvia = \"a\""), "route[0].destinations"),
        (format!("default_via = []\n{CHAINS}"), "default_via"),
        ("[[chain]]\nname = \"a\"\nhops = [{ address = \"127.0.0.1:1\", key_id = 7 }]".to_owned(), "chain[0].hops[0].key_id"),
        ("[[chain]]\nname = \"a\"\nhops = [{ address = \"nope\", key_id = 1 }]".to_owned(), "chain[0].hops[0].address"),
        ("[[chain]]\nname = \"a\"\nhops = []".to_owned(), "chain[0].hops"),
        (format!("{CHAINS}[[chain]]\nname = \"a\"\nhops = [{{ address = \"127.0.0.1:1\", key_id = 1 }}]"), "chain[2].name"),
        ("[[chain]]\nname = \"direct\"\nhops = [{ address = \"127.0.0.1:1\", key_id = 1 }]".to_owned(), "chain[0].name"),
        ("[[chain]]\nname = \"a\"\nweight = 0\nhops = [{ address = \"127.0.0.1:1\", key_id = 1 }]".to_owned(), "chain[0].weight"),
        ("[[listener]]\nmode = \"tcp\"\nbind = \"127.0.0.1:1\"".to_owned(), "listener[0].destination"),
        ("[[listener]]\nmode = \"socks5\"\nbind = \"127.0.0.1:1\"\ndestination = \"a.b:1\"".to_owned(), "listener[0].destination"),
        ("[[listener]]\nmode = \"socks4\"\nbind = \"127.0.0.1:1\"".to_owned(), "listener[0].mode"),
        ("[[listener]]\nmode = \"http\"\nbind = \"localhost:1\"".to_owned(), "listener[0].bind"),
        ("[[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:1\"\nusername = \"u\"".to_owned(), "listener[0].password"),
        ("[[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:1\"\nusername = \"a:b\"\npassword = \"p\"".to_owned(), "listener[0].username"),
        ("[[listener]]\nmode = \"tcp\"\nbind = \"127.0.0.1:1\"\ndestination = \"a.b:1\"\nusername = \"u\"\npassword = \"p\"".to_owned(), "listener[0].username"),
        ("udp_max_flows = 0".to_owned(), "udp_max_flows"),
    ];
    for (body, key) in cases {
        let e = access(&body).unwrap_err();
        assert_eq!(invalid_key(e), key, "{body}");
    }
    let e = access("[[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:1\"\nport = 1").unwrap_err();
    assert!(e.to_string().contains("port"), "{e}");
    // Chains need keys.
    let e = AccessConfig::from_toml(
        "[[chain]]\nname = \"a\"\nhops = [{ address = \"127.0.0.1:1\", key_id = 1 }]",
    )
    .unwrap_err();
    assert_eq!(invalid_key(e), "keys");
    // Without chains, the default route blocks.
    let c = AccessConfig::from_toml("").unwrap();
    assert_eq!(c.default_route, RouteAction::Block);
}
