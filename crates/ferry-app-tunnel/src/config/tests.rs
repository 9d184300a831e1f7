#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

pub(super) const GW: &str = r#"
listen = "127.0.0.1:8080"
agent_listen = "127.0.0.1:4433"
allow = ["*.internal:443"]
[tls]
self_signed = true
[auth]
tokens = "tokens.txt"
"#;

fn gw_err(text: &str) -> String {
    GatewayConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn gateway_minimal_and_defaults() {
    let c = GatewayConfig::from_toml(GW).unwrap();
    assert_eq!(c.agent_tls, CertSpec::SelfSigned);
    assert_eq!(c.client_tls, None);
    assert_eq!(
        c.auth.tokens.as_deref(),
        Some(std::path::Path::new("tokens.txt"))
    );
    assert_eq!(c.front.open_timeout, crate::front::DEFAULT_OPEN_TIMEOUT);
    assert_eq!(c.front.limits.max_tunnels.get(), 16_384);
    assert!(c.front.allow.matches("a.internal", 443).is_allowed());
    assert!(!c.front.allow.matches("a.internal", 80).is_allowed());
}

#[test]
fn gateway_full() {
    let text = r#"
listen = "[::1]:8080"
agent_listen = "0.0.0.0:4433"
allow = ["10.0.0.0/8:22"]
allow_special_addresses = true
metrics = "127.0.0.1:9090"
[tls]
cert = "a.pem"
key = "a.key"
[client_tls]
self_signed = true
[auth]
jwt_keys = [{ path = "k.pub", kid = "2026" }, { path = "old.pub" }]
audience = "ferry"
issuer = "ops"
leeway = "30s"
[limits]
max_tunnels = 10
max_tunnels_per_client = 2
max_tunnels_per_agent = 3
client_rate = "5/s burst 7"
agent_rate = "off"
auth_failures = "3/min"
[timeouts]
header = "2s"
open = "3s"
idle = "off"
half_close = "1s"
drain = "4s"
"#;
    let c = GatewayConfig::from_toml(text).unwrap();
    assert_eq!(c.metrics, Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(c.client_tls, Some(CertSpec::SelfSigned));
    assert_eq!(c.auth.jwt_keys.len(), 2);
    assert_eq!(c.auth.jwt_keys[0].kid.as_deref(), Some("2026"));
    assert_eq!(c.auth.jwt.audience.as_deref(), Some("ferry"));
    assert_eq!(c.auth.jwt.leeway_secs, 30);
    assert_eq!(c.front.limits.max_tunnels_per_client.get(), 2);
    assert_eq!(c.front.limits.client_rate.unwrap().burst().get(), 7);
    assert!(c.front.limits.agent_rate.is_none());
    assert_eq!(c.front.header_timeout, Duration::from_secs(2));
    assert_eq!(c.front.bridge.idle_timeout, None);
    assert!(
        c.front
            .allow
            .check_ip("10.1.2.3".parse().unwrap(), 22)
            .is_allowed()
    );
}

#[test]
fn gateway_errors_name_the_key() {
    let cases: &[(&str, &str)] = &[
        ("", "missing field `listen`"),
        (&GW.replace("127.0.0.1:8080", "nope"), "`listen`"),
        (&GW.replace("tokens = \"tokens.txt\"", ""), "`auth`"),
        (&GW.replace("[auth]\ntokens = \"tokens.txt\"", ""), "`auth`"),
        (&GW.replace("self_signed = true", ""), "`tls.cert`"),
        (
            &GW.replace("self_signed = true", "cert = \"x\""),
            "`tls.key`",
        ),
        (
            &GW.replace("self_signed = true", "self_signed = true\ncert = \"x\""),
            "`tls.self_signed`",
        ),
        (&GW.replace("[\"*.internal:443\"]", "[]"), "`allow`"),
        (
            &GW.replace("[\"*.internal:443\"]", "[\"a:1\", \"bad pattern!\"]"),
            "`allow[1]`",
        ),
        (&format!("{GW}bogus = 1\n"), "unknown field `bogus`"),
        (
            &format!("{GW}[limits]\nmax_tunnels = 0\n"),
            "`limits.max_tunnels`",
        ),
        (
            &format!("{GW}[limits]\nclient_rate = \"fast\"\n"),
            "`limits.client_rate`",
        ),
        (
            &format!("{GW}[limits]\nwhatever = 1\n"),
            "unknown field `whatever`",
        ),
        (
            &format!("{GW}[timeouts]\nheader = \"0s\"\n"),
            "`timeouts.header`",
        ),
        (&format!("{GW}[timeouts]\nopen = \"soon\"\n"), "open"),
        (
            &GW.replace(
                "tokens = \"tokens.txt\"",
                "jwt_keys = [{ path = \"k\", kid = \"\" }]",
            ),
            "`auth.jwt_keys[0].kid`",
        ),
        (
            &GW.replace(
                "tokens = \"tokens.txt\"",
                "tokens = \"t\"\naudience = \"x\"",
            ),
            "`auth.audience`",
        ),
    ];
    for (text, needle) in cases {
        let e = gw_err(text);
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
}

#[test]
fn gateway_auth_load_reads_files_and_names_the_key() {
    let dir = std::env::temp_dir().join(format!("ferry-app-tunnel-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(
        &tokens,
        ferry_auth::token_line(ferry_auth::Role::Client, "a1", "secret-1").unwrap(),
    )
    .unwrap();
    let text = GW.replace("tokens.txt", tokens.to_str().unwrap());
    let auth = GatewayConfig::from_toml(&text)
        .unwrap()
        .auth
        .load()
        .unwrap();
    auth.verify(ferry_auth::Role::Client, "a1", "secret-1", 0)
        .unwrap();
    std::fs::write(&tokens, "client a1 sha256:nothex\n").unwrap();
    let e = GatewayConfig::from_toml(&text)
        .unwrap()
        .auth
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("`auth.tokens`") && e.contains("line 1"), "{e}");
    let missing = GW.replace("tokens.txt", dir.join("absent").to_str().unwrap());
    let e = GatewayConfig::from_toml(&missing)
        .unwrap()
        .auth
        .load()
        .unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

const AGENT: &str = r#"
gateway = "gw.example.com:4433"
ca = "ca.pem"
agent_id = "edge-1"
token_file = "agent.token"
allow = ["0.0.0.0/0:80"]
"#;

#[test]
fn agent_minimal_and_full() {
    let c = AgentConfig::from_toml(AGENT).unwrap();
    assert_eq!(c.gateway, ("gw.example.com".to_owned(), 4433));
    assert_eq!(c.server_name, "gw.example.com");
    assert_eq!(c.credential, AgentCredential::File("agent.token".into()));
    assert_eq!(c.connect_timeout, DEFAULT_AGENT_CONNECT_TIMEOUT);
    // The special-address set applies by default: loopback needs the explicit opt-in...
    assert!(
        !c.allow
            .check_ip("127.0.0.1".parse().unwrap(), 80)
            .is_allowed()
    );
    let c = AgentConfig::from_toml(&AGENT.replace(
        "token_file = \"agent.token\"",
        "token_env = \"FERRY_T\"\nserver_name = \"gw\"\nallow_special_addresses = true\nreconnect_max = \"5m\"",
    ))
    .unwrap();
    assert_eq!(c.credential, AgentCredential::Env("FERRY_T".into()));
    assert_eq!(c.server_name, "gw");
    assert!(
        c.allow
            .check_ip("127.0.0.1".parse().unwrap(), 80)
            .is_allowed()
    );
    let c = AgentConfig::from_toml(&AGENT.replace("gw.example.com:4433", "[::1]:4433")).unwrap();
    assert_eq!(c.gateway, ("::1".to_owned(), 4433));
}

#[test]
fn quic_keep_alive_and_idle_defaults_settings_and_errors() {
    let defaults = ferry_tunnel::QuicSettings::default();
    assert_eq!(AgentConfig::from_toml(AGENT).unwrap().quic, defaults);
    assert_eq!(GatewayConfig::from_toml(GW).unwrap().agent_quic, defaults);

    let c = AgentConfig::from_toml(&format!(
        "{AGENT}keep_alive = \"500ms\"\nidle_timeout = \"2s\"\n"
    ))
    .unwrap();
    assert_eq!(c.quic.keep_alive_interval, Duration::from_millis(500));
    assert_eq!(c.quic.idle_timeout, Duration::from_secs(2));
    let c = GatewayConfig::from_toml(&format!(
        "{GW}[timeouts]\nagent_keep_alive = \"1s\"\nagent_idle = \"3s\"\n"
    ))
    .unwrap();
    assert_eq!(c.agent_quic.keep_alive_interval, Duration::from_secs(1));
    assert_eq!(c.agent_quic.idle_timeout, Duration::from_secs(3));

    let agent_cases: &[(&str, &str)] = &[
        ("keep_alive = \"0s\"", "`keep_alive`"),
        // Below the default keep-alive (10 s): the connection would idle out between them.
        ("idle_timeout = \"5s\"", "`idle_timeout`"),
        (
            "keep_alive = \"2s\"\nidle_timeout = \"2s\"",
            "`idle_timeout`",
        ),
        ("idle_timeout = \"2d\"", "`idle_timeout`"),
    ];
    for (extra, needle) in agent_cases {
        let e = AgentConfig::from_toml(&format!("{AGENT}{extra}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
    let e = gw_err(&format!("{GW}[timeouts]\nagent_idle = \"10s\"\n"));
    assert!(e.contains("`timeouts.agent_idle`"), "{e}");
    let e = gw_err(&format!("{GW}[timeouts]\nagent_keep_alive = \"0s\"\n"));
    assert!(e.contains("`timeouts.agent_keep_alive`"), "{e}");
}

#[test]
fn quic_receive_windows_defaults_settings_and_errors() {
    let c = AgentConfig::from_toml(&format!(
        "{AGENT}stream_receive_window = 32768\nreceive_window = 65536\n"
    ))
    .unwrap();
    assert_eq!(
        (c.quic.stream_receive_window, c.quic.receive_window),
        (32 * 1024, 64 * 1024)
    );
    let c = GatewayConfig::from_toml(&format!(
        "{GW}[limits]\nagent_stream_receive_window = 32768\nagent_receive_window = 65536\n"
    ))
    .unwrap();
    assert_eq!(
        (
            c.agent_quic.stream_receive_window,
            c.agent_quic.receive_window
        ),
        (32 * 1024, 64 * 1024)
    );
    // Only the stream window given: the connection window keeps its default (16 MiB).
    let c = AgentConfig::from_toml(&format!("{AGENT}stream_receive_window = 1048576\n")).unwrap();
    assert_eq!(c.quic.receive_window, 16 * 1024 * 1024);
    // Only a connection window below the default stream window (2 MiB): the stream window
    // follows it down.
    let c = AgentConfig::from_toml(&format!("{AGENT}receive_window = 65536\n")).unwrap();
    assert_eq!(
        (c.quic.stream_receive_window, c.quic.receive_window),
        (64 * 1024, 64 * 1024)
    );

    let agent_cases: &[(&str, &str)] = &[
        ("receive_window = 1024", "`receive_window`"),
        ("receive_window = 2147483648", "`receive_window`"),
        ("stream_receive_window = 0", "`stream_receive_window`"),
        // Above the connection window (default 16 MiB).
        (
            "stream_receive_window = 33554432",
            "`stream_receive_window`",
        ),
        ("receive_window = -1", "receive_window"),
    ];
    for (extra, needle) in agent_cases {
        let e = AgentConfig::from_toml(&format!("{AGENT}{extra}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
    let e = gw_err(&format!("{GW}[limits]\nagent_receive_window = 100\n"));
    assert!(e.contains("`limits.agent_receive_window`"), "{e}");
    let e = gw_err(&format!(
        "{GW}[limits]\nagent_stream_receive_window = 131072\nagent_receive_window = 65536\n"
    ));
    assert!(e.contains("`limits.agent_stream_receive_window`"), "{e}");
}

#[test]
fn agent_fails_closed_without_credentials() {
    let none = AGENT.replace("token_file = \"agent.token\"", "");
    let e = AgentConfig::from_toml(&none).unwrap_err().to_string();
    assert!(
        e.contains("`token_file`") && e.contains("no credentials"),
        "{e}"
    );
    let c = AgentConfig::from_toml(&format!("{none}insecure_no_auth = true\n")).unwrap();
    assert_eq!(c.credential, AgentCredential::None);
    assert_eq!(c.credential.load(|_| None).unwrap(), None);
    let both = format!("{AGENT}token_env = \"X\"\n");
    assert!(
        AgentConfig::from_toml(&both)
            .unwrap_err()
            .to_string()
            .contains("`token_env`")
    );
    let contradiction = format!("{AGENT}insecure_no_auth = true\n");
    assert!(
        AgentConfig::from_toml(&contradiction)
            .unwrap_err()
            .to_string()
            .contains("`insecure_no_auth`")
    );
}

#[test]
fn agent_errors_name_the_key() {
    let cases: &[(&str, &str)] = &[
        (&AGENT.replace("gw.example.com:4433", "gw"), "`gateway`"),
        (&AGENT.replace("gw.example.com:4433", "gw:0"), "`gateway`"),
        (&AGENT.replace("edge-1", "edge 1"), "`agent_id`"),
        (&AGENT.replace("[\"0.0.0.0/0:80\"]", "[]"), "`allow`"),
        (&AGENT.replace("ca = \"ca.pem\"", ""), "missing field `ca`"),
        (
            &format!("{AGENT}reconnect_min = \"10s\"\nreconnect_max = \"1s\"\n"),
            "`reconnect_max`",
        ),
        (
            &format!("{AGENT}connect_timeout = \"0s\"\n"),
            "`connect_timeout`",
        ),
        (
            &format!("{AGENT}tokens = \"x\"\n"),
            "unknown field `tokens`",
        ),
    ];
    for (text, needle) in cases {
        let e = AgentConfig::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
}

#[test]
fn agent_credential_load() {
    let env = |name: &str| (name == "SET").then(|| " tok\n".to_owned());
    assert_eq!(
        AgentCredential::Env("SET".into())
            .load(env)
            .unwrap()
            .as_deref(),
        Some("tok")
    );
    assert!(
        AgentCredential::Env("UNSET".into())
            .load(env)
            .unwrap_err()
            .to_string()
            .contains("`token_env`")
    );
    let path = std::env::temp_dir().join(format!("ferry-agent-token-{}", std::process::id()));
    std::fs::write(&path, "\n").unwrap();
    assert!(
        AgentCredential::File(path.clone())
            .load(env)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    std::fs::write(&path, "fy1_abc\n").unwrap();
    assert_eq!(
        AgentCredential::File(path.clone())
            .load(env)
            .unwrap()
            .as_deref(),
        Some("fy1_abc")
    );
    std::fs::remove_file(&path).unwrap();
}

/// The TOML block in a type's docs, from the source file.
pub(super) fn doc_example(source: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in source.lines() {
        let Some(doc) = line.strip_prefix("///") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if doc == "```toml" {
            inside = true;
        } else if doc == "```" && inside {
            break;
        } else if inside {
            out.push_str(doc);
            out.push('\n');
        }
    }
    out
}

#[test]
fn documented_examples_parse() {
    let gw = doc_example(include_str!("gateway.rs"));
    assert!(gw.contains("agent_listen"));
    let c = GatewayConfig::from_toml(&gw).unwrap();
    assert_eq!(c.auth.jwt_keys[0].kid.as_deref(), Some("2026"));
    assert!(c.front.accept_proxy.is_some());
    let agent = doc_example(include_str!("agent.rs"));
    assert!(agent.contains("agent_id"));
    let c = AgentConfig::from_toml(&agent).unwrap();
    assert_eq!(c.agent_id, "edge-1");
}

#[test]
fn gateway_revoked_client_tunnels_keep_by_default_cut_when_asked_else_refused() {
    use crate::front::RevokedClientTunnels;
    let c = GatewayConfig::from_toml(GW).unwrap();
    assert_eq!(c.front.revoked_client_tunnels, RevokedClientTunnels::Keep);
    let cut = format!("{GW}revoked_client_tunnels = \"cut\"\n");
    let c = GatewayConfig::from_toml(&cut).unwrap();
    assert_eq!(c.front.revoked_client_tunnels, RevokedClientTunnels::Cut);
    assert!(c.explain().contains("revoked_client_tunnels=cut"));
    let err = gw_err(&format!("{GW}revoked_client_tunnels = \"drop\"\n"));
    assert!(
        err.contains("auth.revoked_client_tunnels") && err.contains("\"drop\""),
        "{err}"
    );
}

#[test]
fn gateway_explain_names_files_and_fills_defaults() {
    let c = GatewayConfig::from_toml(GW).unwrap();
    let text = c.explain();
    for expected in [
        "listen: 127.0.0.1:8080",
        "agent_listen: 127.0.0.1:4433",
        "metrics: off",
        "allow: *.internal:443",
        "tls (agents): self-signed",
        "auth: tokens=tokens.txt jwt_keys=[] audience=not checked",
        "client_rate=burst 100, then 1 every 20ms",
        "agent_idle=30s",
        "cluster: off",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn gateway_accept_proxy_off_by_default_defaults_settings_errors_and_check() {
    let c = GatewayConfig::from_toml(GW).unwrap();
    assert_eq!(c.front.accept_proxy, None);
    assert!(
        c.explain()
            .contains("accept_proxy: off (the TCP peer is the client)")
    );
    let plain_reservation = c.front.memory_reservation(false);

    // Top level, before the tables (inline), or as its own table.
    let inline = format!("accept_proxy = {{ trusted = [\"10.0.0.0/8\", \"192.0.2.7\"] }}\n{GW}");
    let c = GatewayConfig::from_toml(&inline).unwrap();
    let a = c.front.accept_proxy.as_ref().unwrap();
    assert_eq!(a.trusted.len(), 2);
    assert!(a.v1 && a.v2, "both versions by default");
    assert_eq!(
        a.timeout,
        ferry_app_core::proxy_protocol::DEFAULT_PROXY_HEADER_TIMEOUT
    );
    assert!(a.trusts("10.1.2.3".parse().unwrap()));
    assert!(!a.trusts("192.0.2.8".parse().unwrap()));
    // The header read is in each connection's reservation.
    assert!(c.front.memory_reservation(false) > plain_reservation);
    let text = c.explain();
    assert!(
        text.contains(
            "accept_proxy: PROXY header required from trusted=[10.0.0.0/8, 192.0.2.7/32] \
             versions=v1,v2 timeout=5s"
        ),
        "{text}"
    );

    let table =
        format!("{GW}[accept_proxy]\ntrusted = [\"::1\"]\nversions = [\"v2\"]\ntimeout = \"2s\"\n");
    let c = GatewayConfig::from_toml(&table).unwrap();
    let a = c.front.accept_proxy.unwrap();
    assert!(!a.v1 && a.v2);
    assert_eq!(a.timeout, Duration::from_secs(2));

    for (ap, key) in [
        ("trusted = []", "accept_proxy.trusted"),
        ("trusted = [\"10.1.2.3/8\"]", "accept_proxy.trusted[0]"),
        ("trusted = [\"nope\"]", "accept_proxy.trusted[0]"),
        (
            "trusted = [\"::1\"]\nversions = []",
            "accept_proxy.versions",
        ),
        (
            "trusted = [\"::1\"]\ntimeout = \"0s\"",
            "accept_proxy.timeout",
        ),
        (
            "trusted = [\"::1\"]\nversions = [\"v3\"]",
            "unknown variant `v3`",
        ),
        ("trusted = [\"::1\"]\nheader = \"5s\"", "header"),
    ] {
        let e = gw_err(&format!("{GW}[accept_proxy]\n{ap}\n"));
        assert!(e.contains(key), "{ap}: {e}");
    }
}

#[test]
fn gateway_agent_listen_tcp_defaults_to_agent_listen_and_can_be_moved_or_turned_off() {
    let c = GatewayConfig::from_toml(GW).unwrap();
    assert_eq!(c.agent_listen_tcp, AgentTcpListen::SameAsQuic);
    assert!(c.explain().contains(
        "agent_listen_tcp: 127.0.0.1:4433 (TCP transport: TLS + HTTP/2, same address and port as agent_listen)"
    ));
    let moved = GW.replace(
        "agent_listen = \"127.0.0.1:4433\"",
        "agent_listen = \"127.0.0.1:4433\"\nagent_listen_tcp = \"127.0.0.1:443\"",
    );
    let c = GatewayConfig::from_toml(&moved).unwrap();
    assert_eq!(
        c.agent_listen_tcp,
        AgentTcpListen::Addr("127.0.0.1:443".parse().unwrap())
    );
    let off = GW.replace(
        "agent_listen = \"127.0.0.1:4433\"",
        "agent_listen = \"127.0.0.1:4433\"\nagent_listen_tcp = \"off\"",
    );
    let c = GatewayConfig::from_toml(&off).unwrap();
    assert_eq!(c.agent_listen_tcp, AgentTcpListen::Off);
    assert!(c.explain().contains("agent_listen_tcp: off"));
    let bad = GW.replace(
        "agent_listen = \"127.0.0.1:4433\"",
        "agent_listen = \"127.0.0.1:4433\"\nagent_listen_tcp = \"nope\"",
    );
    assert!(
        gw_err(&bad).contains("agent_listen_tcp"),
        "{}",
        gw_err(&bad)
    );
}

#[test]
fn agent_transport_defaults_settings_and_errors() {
    let c = AgentConfig::from_toml(AGENT).unwrap();
    assert_eq!(c.transport, ferry_tunnel::Transport::Auto);
    assert_eq!(c.tcp_port, None);
    assert_eq!(c.fallback_after, DEFAULT_FALLBACK_AFTER);
    assert_eq!(c.quic_retry, DEFAULT_QUIC_RETRY);
    let c = AgentConfig::from_toml(&format!(
        "{AGENT}transport = \"tcp\"\ntcp_port = 443\nfallback_after = \"1s\"\nquic_retry = \"1m\"\n"
    ))
    .unwrap();
    assert_eq!(c.transport, ferry_tunnel::Transport::Tcp);
    assert_eq!(c.tcp_port, Some(443));
    assert_eq!(c.fallback_after, Duration::from_secs(1));
    assert_eq!(c.quic_retry, Duration::from_secs(60));
    assert!(
        c.explain()
            .contains("transport: tcp (TLS + HTTP/2 to TCP port 443, no UDP)")
    );
    for (extra, key) in [
        ("transport = \"udp\"", "transport"),
        ("tcp_port = 0", "tcp_port"),
        ("fallback_after = \"0s\"", "fallback_after"),
        ("quic_retry = \"100ms\"", "quic_retry"),
    ] {
        let e = AgentConfig::from_toml(&format!("{AGENT}{extra}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{extra}: {e}");
    }
}

#[test]
fn post_quantum_defaults_on_and_turns_off_on_both_ends() {
    use ferry_tls::KeyExchange;
    assert_eq!(
        GatewayConfig::from_toml(GW).unwrap().key_exchange,
        KeyExchange::PostQuantum
    );
    assert_eq!(
        AgentConfig::from_toml(AGENT).unwrap().key_exchange,
        KeyExchange::PostQuantum
    );
    let c = GatewayConfig::from_toml(&format!("post_quantum = false\n{GW}")).unwrap();
    assert_eq!(c.key_exchange, KeyExchange::Classical);
    let c = AgentConfig::from_toml(&format!("{AGENT}post_quantum = false\n")).unwrap();
    assert_eq!(c.key_exchange, KeyExchange::Classical);
    let e = AgentConfig::from_toml(&format!("{AGENT}post_quantum = \"yes\"\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("post_quantum"), "{e}");
}

#[test]
fn agent_proxy_keys_parse_and_errors_never_show_the_password() {
    let c = AgentConfig::from_toml(AGENT).unwrap();
    assert_eq!((c.proxy.as_ref(), c.no_proxy.as_ref()), (None, None));
    let c = AgentConfig::from_toml(&format!(
        "{AGENT}proxy = \"http://agent-7:s3cr%40t@proxy.corp.example:3128\"\nno_proxy = \"localhost, .internal,10.0.0.0/8:443\"\n"
    ))
    .unwrap();
    let proxy = c.proxy.as_ref().unwrap();
    assert_eq!(proxy.kind(), ferry_egress::ProxyKind::Http);
    assert_eq!(proxy.credentials().unwrap().password(), "s3cr@t");
    assert_eq!(
        proxy.to_string(),
        "http://agent-7:***@proxy.corp.example:3128"
    );
    assert_eq!(c.no_proxy.as_ref().unwrap().entries().len(), 3);
    assert!(!format!("{c:?}").contains("s3cr"));
    // The flags give the same keys.
    let flags = AgentFlags {
        gateway: "gw.example.com:4433".into(),
        ca: "ca.pem".into(),
        id: "edge-1".into(),
        token_env: Some("T".into()),
        allow: vec!["127.0.0.1".into()],
        proxy: Some("socks5h://proxy.corp.example".into()),
        no_proxy: Some("*".into()),
        ..AgentFlags::default()
    };
    let c = AgentConfig::from_flags(&flags).unwrap();
    assert_eq!(
        c.proxy.unwrap().to_string(),
        "socks5h://proxy.corp.example:1080"
    );
    assert!(c.no_proxy.unwrap().matches_all());
    for (extra, key, secret) in [
        ("proxy = \"https://u:hunter2@p:3128\"", "`proxy`", "hunter2"),
        ("proxy = \"ftp://u:hunter2@p:21\"", "`proxy`", "hunter2"),
        ("proxy = \"http://u:hunter2@p:99999\"", "`proxy`", "hunter2"),
        ("proxy = \"\"", "`proxy`", "hunter2"),
        ("no_proxy = \"192.168.\"", "`no_proxy`", "hunter2"),
        ("no_proxy = \"a,*b\"", "`no_proxy`", "hunter2"),
        ("proxy = 3128", "proxy", "hunter2"),
    ] {
        let e = AgentConfig::from_toml(&format!("{AGENT}{extra}\n")).unwrap_err();
        let text = format!("{e} {}", ferry_app_core::error::error_line(&e));
        assert!(text.contains(key), "{extra}: {text}");
        assert!(!text.contains(secret), "{extra}: {text}");
    }
}

#[test]
fn agent_connections_default_by_transport_and_must_be_1_to_16() {
    let base = r#"
gateway = "gw.example.com:4433"
ca = "ca.pem"
agent_id = "edge-1"
token_env = "T"
allow = ["127.0.0.1:80"]
"#;
    let c = AgentConfig::from_toml(base).unwrap();
    assert_eq!(c.connections, None);
    let c = AgentConfig::from_toml(&format!("{base}connections = 16\n")).unwrap();
    assert_eq!(c.connections.unwrap().get(), 16);
    for bad in ["0", "17", "255"] {
        let e = AgentConfig::from_toml(&format!("{base}connections = {bad}\n")).unwrap_err();
        assert!(e.to_string().contains("connections"), "{e}");
        assert!(e.to_string().contains("1-16"), "{e}");
    }
    let flags = AgentFlags {
        gateway: "gw.example.com:4433".into(),
        ca: "ca.pem".into(),
        id: "edge-1".into(),
        token_env: Some("T".into()),
        allow: vec!["127.0.0.1".into()],
        connections: Some(2),
        ..AgentFlags::default()
    };
    assert_eq!(
        AgentConfig::from_flags(&flags)
            .unwrap()
            .connections
            .unwrap()
            .get(),
        2
    );
}
