#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::GatewayConfig;

const GW: &str = r#"
listen = "127.0.0.1:8080"
agent_listen = "127.0.0.1:4433"
allow = ["*.internal:443"]
[tls]
self_signed = true
[auth]
tokens = "tokens.txt"
"#;

const CLUSTER: &str = r#"
[cluster]
registry = "memcached://10.0.0.9:11211"
peer_listen = "0.0.0.0:7443"
advertise = "10.0.0.5:7443"
peer_ca = "ca.pem"
peer_credential_file = "peer.secret"
"#;

fn with(extra: &str) -> Result<GatewayConfig, String> {
    GatewayConfig::from_toml(&format!("{GW}{CLUSTER}{extra}")).map_err(|e| e.to_string())
}

fn replaced(from: &str, to: &str) -> String {
    GatewayConfig::from_toml(&format!("{GW}{}", CLUSTER.replace(from, to)))
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_and_absence() {
    assert!(GatewayConfig::from_toml(GW).unwrap().cluster.is_none());
    let c = with("").unwrap().cluster.unwrap();
    assert_eq!(
        c.registry,
        RegistrySpec::Memcached(vec![Server::Addr("10.0.0.9:11211".parse().unwrap())])
    );
    assert_eq!(c.advertise, "10.0.0.5:7443".parse().unwrap());
    assert_eq!(c.lease, Lease::default());
    assert_eq!(c.registry_timeout, DEFAULT_REGISTRY_TIMEOUT);
    assert_eq!(c.lookup_timeout, DEFAULT_LOOKUP_TIMEOUT);
    assert_eq!(c.forward.connect_timeout, DEFAULT_FORWARD_CONNECT_TIMEOUT);
    assert_eq!(c.forward.server_name, None);
    assert_eq!(c.peer_tls, None);
}

#[test]
fn every_key() {
    let c = with(
        r#"ttl = "20s"
heartbeat = "5s"
registry_timeout = "250ms"
lookup_timeout = "700ms"
forward_connect_timeout = "1s"
peer_server_name = "gw.internal"
[cluster.peer_tls]
cert = "p.pem"
key = "p.key"
"#,
    )
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!(c.lease.ttl(), Duration::from_secs(20));
    assert_eq!(c.lease.heartbeat(), Duration::from_secs(5));
    assert_eq!(c.registry_timeout, Duration::from_millis(250));
    assert_eq!(c.lookup_timeout, Duration::from_millis(700));
    assert_eq!(c.forward.server_name.as_deref(), Some("gw.internal"));
    assert!(matches!(c.peer_tls, Some(CertSpec::Files { .. })));
}

#[test]
fn memory_registry() {
    let text = format!(
        "{GW}{}",
        CLUSTER.replace("memcached://10.0.0.9:11211", "memory")
    );
    let c = GatewayConfig::from_toml(&text).unwrap().cluster.unwrap();
    assert_eq!(c.registry, RegistrySpec::Memory);
}

#[test]
fn advertise_port_0_is_kept_for_the_bound_port() {
    // Resolved to the peer listener's bound port by `gateway::bind` (tested end to end in
    // `ferry-cli/tests/cluster_cli.rs`).
    let c = GatewayConfig::from_toml(&format!(
        "{GW}{}",
        CLUSTER.replace("10.0.0.5:7443", "10.0.0.5:0")
    ))
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!(c.advertise, "10.0.0.5:0".parse().unwrap());
}

#[test]
fn errors_name_their_key() {
    let e = with("bogus = 1\n").unwrap_err();
    assert!(e.contains("bogus"), "{e}");
    let e = replaced("memcached://10.0.0.9:11211", "redis://x");
    assert!(e.contains("cluster.registry"), "{e}");
    let e = replaced("memcached://10.0.0.9:11211", "memcached://host name:11211");
    assert!(e.contains("cluster.registry"), "{e}");
    let e = replaced("memcached://10.0.0.9:11211", "memcached://cache.internal");
    assert!(e.contains("cluster.registry"), "{e}");
    let e = replaced("10.0.0.5:7443", "0.0.0.0:7443");
    assert!(e.contains("cluster.advertise"), "{e}");
    let e = replaced("10.0.0.5:7443", "0.0.0.0:0");
    assert!(e.contains("cluster.advertise"), "{e}");
    let e = with("ttl = \"30s\"\nheartbeat = \"15s\"\n").unwrap_err();
    assert!(e.contains("cluster.heartbeat"), "{e}");
    let e = with("ttl = \"1s\"\n").unwrap_err();
    assert!(e.contains("cluster.ttl"), "{e}");
    let e = with("lookup_timeout = \"0s\"\n").unwrap_err();
    assert!(e.contains("cluster.lookup_timeout"), "{e}");
    let e = with("peer_server_name = \"bad name\"\n").unwrap_err();
    assert!(e.contains("cluster.peer_server_name"), "{e}");
    let e = with("[cluster.peer_tls]\ncert = \"a.pem\"\n").unwrap_err();
    assert!(e.contains("cluster.peer_tls.key"), "{e}");
    let missing = GatewayConfig::from_toml(&format!(
        "{GW}{}",
        CLUSTER.replace("peer_ca = \"ca.pem\"\n", "")
    ))
    .unwrap_err()
    .to_string();
    assert!(missing.contains("peer_ca"), "{missing}");
}

#[test]
fn credential_file_is_checked() {
    let dir = std::env::temp_dir().join(format!("ferry-cred-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good");
    std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
    let bad = dir.join("bad");
    std::fs::write(&bad, "short\n").unwrap();
    let mut c = with("").unwrap().cluster.unwrap();
    c.peer_credential_file = good;
    assert!(c.load_credential().unwrap().verify("0123456789abcdef0123"));
    c.peer_credential_file = bad;
    let e = c.load_credential().unwrap_err().to_string();
    assert!(e.contains("cluster.peer_credential_file"), "{e}");
    c.peer_credential_file = dir.join("missing");
    assert!(matches!(
        c.load_credential().unwrap_err(),
        ConfigError::Read { .. }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn registry(value: &str) -> Result<RegistrySpec, String> {
    let text = format!(
        "{GW}{}",
        CLUSTER.replace("\"memcached://10.0.0.9:11211\"", value)
    );
    GatewayConfig::from_toml(&text)
        .map(|c| c.cluster.unwrap().registry)
        .map_err(|e| e.to_string())
}

#[test]
fn registry_by_host_name() {
    assert_eq!(
        registry("\"memcached://Cache.Internal:11211\"").unwrap(),
        RegistrySpec::Memcached(vec![Server::host("cache.internal", 11211)])
    );
    assert_eq!(
        registry("\"memcached://[::1]:11211\"").unwrap(),
        RegistrySpec::Memcached(vec![Server::Addr("[::1]:11211".parse().unwrap())])
    );
}

#[test]
fn several_registry_servers_as_a_list_or_a_comma_separated_string() {
    let want = RegistrySpec::Memcached(vec![
        Server::Addr("10.0.0.9:11211".parse().unwrap()),
        Server::host("mc-b.internal", 11211),
    ]);
    // Sorted by name: the order written does not matter (placement is by name).
    let list = registry("[\"memcached://mc-b.internal:11211\", \"memcached://10.0.0.9:11211\"]");
    assert_eq!(list.unwrap(), want);
    let commas = registry("\"memcached://mc-b.internal:11211, memcached://10.0.0.9:11211\"");
    assert_eq!(commas.unwrap(), want);
    assert_eq!(
        want.to_string(),
        "memcached://10.0.0.9:11211, memcached://mc-b.internal:11211"
    );
}

#[test]
fn bad_registry_entries_name_the_key_and_index() {
    let cases = [
        ("[]", "cluster.registry"),
        (
            "[\"memcached://10.0.0.9:11211\", \"redis://x:1\"]",
            "cluster.registry[1]",
        ),
        (
            "[\"memcached://a:1\", \"memcached://b\"]",
            "cluster.registry[1]",
        ),
        ("[\"memcached://a:1\", \"memory\"]", "cluster.registry[1]"),
        ("[\"memcached://a:0\"]", "cluster.registry[0]"),
        (
            "[\"memcached://a:1\", \"memcached://b:1\", \"memcached://A:1\"]",
            "cluster.registry[2]",
        ),
        (
            "\"memcached://a:1,memcached://bad host:1\"",
            "cluster.registry[1]",
        ),
        ("\"memcached://a:1,\"", "cluster.registry[1]"),
    ];
    for (value, key) in cases {
        let e = registry(value).unwrap_err();
        assert!(e.contains(&format!("`{key}`")), "{value}: {e}");
    }
    let twice = registry("[\"memcached://a:1\", \"memcached://A:1\"]").unwrap_err();
    assert!(twice.contains("listed twice"), "{twice}");
    let wrong_type = registry("7").unwrap_err();
    assert!(wrong_type.contains("registry"), "{wrong_type}");
}

#[test]
fn check_explains_the_registry_servers() {
    let text = format!(
        "{GW}{}",
        CLUSTER.replace(
            "\"memcached://10.0.0.9:11211\"",
            "[\"memcached://mc-b.internal:11211\", \"memcached://10.0.0.9:11211\"]"
        )
    );
    let out = GatewayConfig::from_toml(&text).unwrap().explain();
    assert!(
        out.contains(
            "cluster: registry=memcached://10.0.0.9:11211, memcached://mc-b.internal:11211, \
             2 servers, each agent's record on one by rendezvous hashing of its key over the \
             server names, host names resolved when connecting and again when connecting fails"
        ),
        "{out}"
    );
    let one = with("").unwrap().explain();
    assert!(
        one.contains("cluster: registry=memcached://10.0.0.9:11211 peer_listen="),
        "{one}"
    );
}
